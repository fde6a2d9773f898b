"""What the claims of noise-batchsize must reject, and accept: step logs shaped as ctx.step_logs stacks
them, per run 4 epochs of 20 steps, a per-batch row every 5 steps (batch_noisy_acc, grad_cosine) and an
evaluation (val_acc1) at each epoch end. Each function gives a claim's must_fail and must_hold."""

from __future__ import annotations

import math

import pandas as pd

from robustrepro.papers.cases import SEEDS
from robustrepro.papers.noise_batchsize.settings import (BATCH, EVAL_STEPS, EVERY, LR, NOISE_RATES, RATE, RATIO_CONFIGS,
                                                          SMOKE_RATIO_CONFIGS)

NB_BATCHES = (32, 64, 128, 256, 512, 1024)


def _nb_value(spec, step: int, last: int) -> float:
    """A per-batch value at `step`: a number, reached linearly; or (early, late), late in the second half."""
    if isinstance(spec, tuple):
        return spec[0] if step <= last / 2 else spec[1]
    return spec * step / last


def nb_logs(group: str, cells: dict, ratio: bool = False):
    """(results, None, step logs) of one group. cells: (rate, batch[, lr]) -> {"val": [% per epoch],
    "noisy": noisy-example accuracy (fraction), "cosine": gradient cosine}; seeds differ by 0.5 points."""
    rows, runs = [], []
    for i, (cell, values) in enumerate(cells.items()):
        coords = {RATE: cell[0], BATCH: cell[1], **({LR: cell[2]} if ratio else {}), EVERY: 5, EVAL_STEPS: 20}
        val = values["val"]
        last = 20 * len(val)
        for seed in SEEDS:
            jitter = 0.5 if seed else -0.5
            runs.append({"group": group, **coords, "seed": seed, "run_id": f"{group}-{i}-{seed}",
                         "val_acc1": (val[-1] + jitter) / 100})
            for step in range(5, last + 1, 5):
                row = {**coords, "seed": seed, "step": step, "epoch": (step - 1) // 20 + 1, "time_s": step * 0.1,
                       "batch_noisy_acc": _nb_value(values.get("noisy", float("nan")), step, last),
                       "grad_cosine": _nb_value(values.get("cosine", float("nan")), step, last),
                       "val_acc1": (val[step // 20 - 1] + jitter) / 100 if step % 20 == 0 else float("nan")}
                if cell[0] == 0:
                    row["batch_noisy_acc"] = float("nan")  # no noisy example in the batch
                rows.append(row)
    return {group: pd.DataFrame(runs)}, None, {group: pd.DataFrame(rows)}


# ---- the best batch size per noise level ----

def _rising(top: float, batches=NB_BATCHES, step: float = 1.0) -> dict:
    """Best validation accuracy per batch size, rising by `step` to top at the largest batch."""
    return {b: top - step * (len(batches) - 1 - i) for i, b in enumerate(batches)}


def _peaked(top: float, at: int, batches=NB_BATCHES) -> dict:
    """Highest at batch `at`, one point less per step away from it."""
    return {b: top - abs(i - batches.index(at)) for i, b in enumerate(batches)}


def best_cells(per_rate: dict, collapse: dict | None = None) -> dict:
    """Cells whose curves rise to the given best accuracy (rate -> batch -> %) in the third epoch and stay;
    `collapse` ((rate, batch) -> %) makes that run's last epoch fall to the value instead."""
    cells = {}
    for rate, accs in per_rate.items():
        for batch, acc in accs.items():
            last = (collapse or {}).get((rate, batch), acc - 0.2)
            cells[(rate, batch)] = {"val": [acc - 20, acc - 5, acc, last], "noisy": 0.3, "cosine": 0.9}
    return cells


# Like the seed's Figures 4 and 5: at 0 % the largest batch is best; at 20 % it is not; at 50 % not even
# the second largest.
SCHEDULED_LIKE = {0.0: _rising(90), 0.2: _peaked(80, 256), 0.5: _peaked(60, 128)}
LARGEST_BEST = {0.0: _rising(90), 0.2: _rising(80), 0.5: _rising(60)}


def best_batch_smaller(g: str) -> dict:
    return dict(
        must_fail=(
            lambda: nb_logs(g, best_cells(LARGEST_BEST)),  # the largest batch is best at every level
            # smaller at 20 %, but at 50 % the largest again: every noisy level must have a smaller best batch
            lambda: nb_logs(g, best_cells({**SCHEDULED_LIKE, 0.5: _rising(60)})),
            lambda: nb_logs(g, best_cells({0.0: _rising(90)})),  # no noisy level run
            lambda: nb_logs(g, best_cells({r: {128: 80.0} for r in NOISE_RATES})),  # one batch size
            # The best over the run, not the final accuracy: at 50 % batch 1024 peaks highest and then falls
            # below the others in its last epoch; on final accuracies the claim would hold.
            lambda: nb_logs(g, best_cells({0.0: _rising(90), 0.5: _rising(60)}, {(0.5, 1024): 30.0})),
        ),
        must_hold=(lambda: nb_logs(g, best_cells(SCHEDULED_LIKE)),
                   lambda: nb_logs(g, best_cells({0.0: _rising(90, (32, 128)),
                                                  0.5: _peaked(60, 32, (32, 128))}))))  # smoke's grid


def larger_batch_better_clean(g: str) -> dict:
    """The seed: "For the two schedulers with 0% label noise, the higher the batch size is, the higher the
    validation accuracy" (each step up in batch size higher)."""
    return dict(
        must_fail=(
            lambda: nb_logs(g, best_cells({0.0: _peaked(90, 32)})),  # the smallest batch best
            lambda: nb_logs(g, best_cells({0.0: _peaked(90, 256)})),  # peaked below the largest
            # the largest best, but batch 64 below batch 32: not "the higher the batch size, the higher"
            lambda: nb_logs(g, best_cells({0.0: {**_rising(90), 64: 84.5}})),
            lambda: nb_logs(g, best_cells({0.0: {b: 88.0 for b in NB_BATCHES}})),  # flat: the batch size does nothing
            lambda: nb_logs(g, best_cells({0.2: _rising(80), 0.5: _rising(60)})),  # no 0 % level run
            lambda: nb_logs(g, best_cells({0.0: {128: 90.0}})),  # one batch size
            # rising on final accuracies but not on the best over the run: batch 32 peaks highest, then falls
            lambda: nb_logs(g, best_cells({0.0: {**_rising(90), 32: 95.0}}, {(0.0, 32): 80.0})),
        ),
        must_hold=(lambda: nb_logs(g, best_cells(SCHEDULED_LIKE)),
                   lambda: nb_logs(g, best_cells({0.0: _rising(90, (32, 128)),
                                                  0.5: _peaked(60, 32, (32, 128))}))))  # smoke's grid


# The seed's constant lr, after Rolnick et al.: larger batches best under noise, and the noise costs them less.
MITIGATED = {0.0: _rising(90), 0.2: _rising(82, step=1.5), 0.5: _rising(65, step=3.0)}


def larger_batch_mitigates(g: str) -> dict:
    """The seed: Rolnick et al. "claim that increasing batch size mitigates the effect of label noise. [...]
    for the case of constant learning rates, the claim holds" (with schedulers "the best batch size is no
    longer the largest one")."""
    # each noisy level keeps the 0 % level's shape, less `cost` points, and gains `less` a step up in batch
    # size, so that the noise costs larger batches less and only the best batch size decides
    def noisy(clean: dict, cost: float, less: float = 0.5) -> dict:
        return {b: v - cost + less * i for i, (b, v) in enumerate(clean.items())}

    batch32, at128 = _peaked(90, 32), _peaked(90, 128)
    return dict(
        must_fail=(
            lambda: nb_logs(g, best_cells(SCHEDULED_LIKE)),  # what the seed sees with schedulers
            # batch 32 best at every level (the noise costs larger batches a little less even): the old
            # "best batch not smaller under noise" accepted it
            lambda: nb_logs(g, best_cells({0.0: batch32, 0.2: noisy(batch32, 10), 0.5: noisy(batch32, 30)})),
            # the same best batch (128) at every level, a tie the old claim accepted
            lambda: nb_logs(g, best_cells({0.0: at128, 0.2: noisy(at128, 10, 0.1), 0.5: noisy(at128, 30, 0.1)})),
            # the largest best everywhere, but the noise costs every batch size the same: nothing mitigated
            lambda: nb_logs(g, best_cells(LARGEST_BEST)),
            lambda: nb_logs(g, best_cells({**MITIGATED, 0.2: _peaked(80, 512)})),  # not the largest at one level
            # the largest best, but the noise costs it more than the smallest at 50 %
            lambda: nb_logs(g, best_cells({**MITIGATED, 0.5: _rising(60, step=0.5)})),
            lambda: nb_logs(g, best_cells({0.0: _rising(90)})),  # no noisy level
        ),
        must_hold=(lambda: nb_logs(g, best_cells(MITIGATED)),
                   lambda: nb_logs(g, best_cells({0.0: {32: 89.0, 128: 90.0},
                                                  0.5: {32: 55.0, 128: 60.0}}))))  # smoke's grid


# ---- trends with the batch size ----

def trend_cells(column: str, per_rate: dict) -> dict:
    """Cells with `column` ('noisy' or 'cosine') per (rate, batch) from per_rate (rate -> batch -> value)."""
    return {(rate, b): {"val": [50, 60, 70, 70], "noisy": 0.3, "cosine": 0.9, column: v}
            for rate, values in per_rate.items() for b, v in values.items()}


def _by_batch(values, batches=NB_BATCHES) -> dict:
    return dict(zip(batches, values))


NOISY_RISING = {0.0: _by_batch([0.0] * 6), 0.2: _by_batch([0.05, 0.1, 0.2, 0.3, 0.5, 0.7]),
                0.5: _by_batch([0.02, 0.05, 0.1, 0.2, 0.4, 0.6])}
COSINE_FALLING = {0.0: _by_batch([1.0] * 6), 0.2: _by_batch([0.9, 0.85, 0.8, 0.7, 0.6, 0.5]),
                  0.5: _by_batch([0.7, 0.6, 0.5, 0.4, 0.3, 0.2])}


def _flip(values: dict) -> dict:
    return {rate: dict(zip(v, reversed(list(v.values())))) for rate, v in values.items()}


def noisy_fit_grows(g: str) -> dict:
    return dict(
        must_fail=(
            lambda: nb_logs(g, trend_cells("noisy", _flip(NOISY_RISING))),  # smaller batches fit more
            lambda: nb_logs(g, trend_cells("noisy", {r: _by_batch([0.3] * 6) for r in NOISE_RATES})),
            # rising on the whole (Spearman 0.14) but the largest batch below the smallest
            lambda: nb_logs(g, trend_cells("noisy", {0.5: _by_batch([0.2, 0.3, 0.4, 0.5, 0.6, 0.1])})),
            # rising at 20 %, falling at 50 %
            lambda: nb_logs(g, trend_cells("noisy", {**NOISY_RISING, 0.5: _flip(NOISY_RISING)[0.5]})),
            # large batches ahead only in the first half: the last tenth of the steps is what counts
            lambda: nb_logs(g, trend_cells("noisy", {0.5: {b: (0.1 * i, 0.6 - 0.1 * i)
                                                           for i, b in enumerate(NB_BATCHES)}})),
            lambda: nb_logs(g, trend_cells("noisy", {0.0: NOISY_RISING[0.0]})),  # no noisy level
        ),
        must_hold=(lambda: nb_logs(g, trend_cells("noisy", NOISY_RISING)),
                   lambda: nb_logs(g, trend_cells("noisy", {0.0: {32: 0.0, 128: 0.0}, 0.5: {32: 0.1, 128: 0.3}}))))


def grad_cosine_falls(g: str) -> dict:
    return dict(
        must_fail=(
            lambda: nb_logs(g, trend_cells("cosine", _flip(COSINE_FALLING))),  # larger batches agree more
            lambda: nb_logs(g, trend_cells("cosine", {r: _by_batch([0.8] * 6) for r in NOISE_RATES})),
            lambda: nb_logs(g, trend_cells("cosine", {**COSINE_FALLING, 0.2: _flip(COSINE_FALLING)[0.2]})),
            lambda: nb_logs(g, trend_cells("cosine", {0.0: COSINE_FALLING[0.0],
                                                      0.5: {128: 0.5}})),  # one batch size: no trend
        ),
        must_hold=(lambda: nb_logs(g, trend_cells("cosine", COSINE_FALLING)),))


# ---- the batch size / lr configurations ----

def ratio_cells(acc, configs=RATIO_CONFIGS) -> dict:
    """Cells of a ratio group: acc(rate, batch, lr) -> best validation accuracy (%), for each (batch, lr)."""
    return {(rate, b, lr): {"val": [acc(rate, b, lr) - 10, acc(rate, b, lr), acc(rate, b, lr) - 0.3,
                                    acc(rate, b, lr) - 0.2]}
            for rate in NOISE_RATES for b, lr in configs}


def by_lr_over_batch(rate, b, lr):  # Jastrzebski et al.: a higher lr / B is better, the same ratio alike
    return 60 + 10 * math.log2(lr / b * 1280) + (0.3 if b == 128 else 0) - 10 * rate


def by_batch_only(rate, b, lr):  # the seed's one-cycle under noise: the batch size decides, a higher lr helps a bit
    return 80 - 4 * math.log2(b / 64) + 2 * lr - 10 * rate


def scattered(rate, b, lr):  # neither: configurations of one batch size far apart, ratios overlapping
    return 60 + {(64, 0.05): 3, (128, 0.1): 9, (256, 0.2): 1, (64, 0.1): 8, (128, 0.2): 2,
                 (128, 0.05): 5, (256, 0.1): 6}[(b, lr)]


def _only(cells: dict, rates) -> dict:
    return {k: v for k, v in cells.items() if k[0] in rates}


def by_ratio(rate, b, lr):  # the seed's wording: a higher B/lr is better, the same ratio alike
    return 130 - by_lr_over_batch(rate, b, lr)


def higher_ratio_better(g: str) -> dict:
    """The seed: "the ratio of the batch and learning rate should dictate the model's performance, with
    higher ratios leading to better generalization. We confirm this [...] with [...] a constant learning rate"."""
    return dict(
        must_fail=(
            # ordered the other way (Jastrzebski et al.'s direction): the old either-direction claim accepted it
            lambda: nb_logs(g, ratio_cells(by_lr_over_batch), ratio=True),
            lambda: nb_logs(g, ratio_cells(by_batch_only), ratio=True),  # the batch size decides
            lambda: nb_logs(g, ratio_cells(scattered), ratio=True),
            # ordered the seed's way at 0 % and 20 %, not at 50 %
            lambda: nb_logs(g, ratio_cells(lambda r, b, lr: scattered(r, b, lr) if r == 0.5
                                           else by_ratio(r, b, lr)), ratio=True),
            # the seed's way at 0 %, the other way under noise
            lambda: nb_logs(g, ratio_cells(lambda r, b, lr: by_ratio(r, b, lr) if r == 0
                                           else by_lr_over_batch(r, b, lr)), ratio=True),
            # one ratio only: nothing to order
            lambda: nb_logs(g, {k: v for k, v in ratio_cells(by_ratio).items() if k[1] / k[2] == 1280}, ratio=True),
        ),
        must_hold=(lambda: nb_logs(g, ratio_cells(by_ratio), ratio=True),
                   lambda: nb_logs(g, ratio_cells(by_ratio, SMOKE_RATIO_CONFIGS), ratio=True)))


def _clean_ordered(r, b, lr):  # the seed's Figure 13: the ratio rule at 0 %, the batch size decides under noise
    return by_ratio(r, b, lr) if r == 0 else by_batch_only(r, b, lr)


def higher_ratio_better_clean(g: str) -> dict:
    """The seed, of the one-cycle: the ratio rule (higher B/lr better) confirmed "with [...] zero label noise"."""
    return dict(
        must_fail=(
            # the other direction at 0 %
            lambda: nb_logs(g, ratio_cells(lambda r, b, lr: by_lr_over_batch(r, b, lr) if r == 0
                                           else by_batch_only(r, b, lr)), ratio=True),
            lambda: nb_logs(g, ratio_cells(by_batch_only), ratio=True),  # the batch size decides at 0 % too
            lambda: nb_logs(g, ratio_cells(scattered), ratio=True),
            lambda: nb_logs(g, _only(ratio_cells(_clean_ordered), (0.2, 0.5)), ratio=True),  # no 0 % level run
            lambda: nb_logs(g, {k: v for k, v in ratio_cells(_clean_ordered).items() if k[1] / k[2] == 1280},
                            ratio=True),  # one ratio only
        ),
        must_hold=(lambda: nb_logs(g, ratio_cells(_clean_ordered), ratio=True),
                   lambda: nb_logs(g, ratio_cells(_clean_ordered, SMOKE_RATIO_CONFIGS), ratio=True)))


def ratio_fails_under_noise(g: str) -> dict:
    return dict(
        must_fail=(
            lambda: nb_logs(g, ratio_cells(by_ratio), ratio=True),  # the ratio orders under noise too (the seed's way)
            lambda: nb_logs(g, ratio_cells(by_lr_over_batch), ratio=True),  # or the other way
            # no order, but configurations of one batch size are no closer than those of one ratio
            lambda: nb_logs(g, ratio_cells(scattered), ratio=True),
            lambda: nb_logs(g, _only(ratio_cells(_clean_ordered), (0.0,)), ratio=True),  # no noisy level run
            # as the seed at 20 %, ordered by the ratio at 50 %
            lambda: nb_logs(g, ratio_cells(lambda r, b, lr: by_lr_over_batch(r, b, lr) if r == 0.5
                                           else by_batch_only(r, b, lr)), ratio=True),
        ),
        must_hold=(lambda: nb_logs(g, ratio_cells(_clean_ordered), ratio=True),
                   lambda: nb_logs(g, ratio_cells(by_batch_only), ratio=True)))

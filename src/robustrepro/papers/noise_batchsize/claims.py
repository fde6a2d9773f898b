"""The claims of noise-batchsize: the seed's findings as checks on the runs' step logs (the statistics
named in each statement; the package docstring says why these), each with its cases (cases.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from robustrepro.analysis.stats import seed_mean
from robustrepro.papers.noise_batchsize import cases
from robustrepro.papers.noise_batchsize.logs import evaluations, logged, noise_label, ratio
from robustrepro.papers.noise_batchsize.settings import APPENDIX, BATCH, LR, MAIN, RATE, RATIO, SCHEDULER_NAMES
from robustrepro.papers.spec import Claim


def best_val(log: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Per run the best validation accuracy (%) over its evaluations, then the mean over seeds."""
    rows = evaluations(log)
    per_run = rows.groupby([*keys, "seed"])["val_acc1"].max().rename("value").reset_index()
    return seed_mean(per_run, keys, "value", scale=100)


def late_mean(log: pd.DataFrame, keys: list[str], column: str, share: float = 0.9) -> pd.Series:
    """Per run the mean of `column` over its logged rows after `share` of its steps, mean over seeds."""
    rows = logged(log, column)
    last = rows.groupby([*keys, "seed"])["step"].transform("max")
    per_run = rows[rows["step"] > share * last].groupby([*keys, "seed"])[column].mean().rename("value").reset_index()
    return seed_mean(per_run, keys, "value")


def run_mean(log: pd.DataFrame, keys: list[str], column: str) -> pd.Series:
    """Per run the mean of `column` over all its logged rows, mean over seeds."""
    per_run = logged(log, column).groupby([*keys, "seed"])[column].mean().rename("value").reset_index()
    return seed_mean(per_run, keys, "value")


def spearman(x, y) -> float:
    """Spearman's rank correlation (Pearson's on the ranks; NaN when either side is constant)."""
    rx, ry = pd.Series(list(x), dtype=float).rank(), pd.Series(list(y), dtype=float).rank()
    if len(rx) < 2 or rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def _rates(stats: pd.Series) -> list[float]:
    return sorted(float(r) for r in stats.index.get_level_values(0).unique())


def _is_clean(rate: float) -> bool:
    return abs(rate) < 1e-12


def _row(stats: pd.Series, rate: float) -> pd.Series:
    return stats[np.isclose(stats.index.get_level_values(0).astype(float), rate)].droplevel(0).sort_index()


def _listing(values: pd.Series, digits: int = 2) -> str:
    return ", ".join(f"{int(b)}: {v:.{digits}f}" for b, v in values.items())


def _needs_clean(stats: pd.Series, noisy_too: bool) -> str | None:
    """Why the noise levels run cannot be checked (no 0 %, or no noisy level where needed), or None."""
    rates = _rates(stats)
    if not any(_is_clean(r) for r in rates) or (noisy_too and len(rates) < 2):
        needs = "0 % and at least one noisy level" if noisy_too else "0 %"
        return f"noise levels run: {rates}; the claim needs {needs}"
    return None


def _best_batch(group: str):
    """Under noise, the batch size with the highest best validation accuracy (mean over seeds) is smaller
    than at 0 % noise, at every noise level run."""
    def check(results, step_logs):
        stats = best_val(step_logs[group], [RATE, BATCH])
        if missing := _needs_clean(stats, noisy_too=True):
            return False, missing
        rates = _rates(stats)
        best, parts = {}, []
        for rate in rates:
            row = _row(stats, rate)
            best[rate] = int(row.idxmax())
            parts.append(f"{noise_label(rate)}: best batch {best[rate]} ({_listing(row)})")
        if min(len(_row(stats, r)) for r in rates) < 2:
            return False, "; ".join(parts) + " (one batch size: nothing to choose)"
        clean = next(best[r] for r in rates if _is_clean(r))
        holds = all(best[r] < clean for r in rates if not _is_clean(r))
        return bool(holds), "; ".join(parts) + " (best validation accuracy over the run, %, mean over seeds)"
    return check


def _rises_with_batch_clean(group: str):
    """At 0 % noise each larger batch size has a higher best validation accuracy (mean over seeds) than
    the next smaller one run."""
    def check(results, step_logs):
        stats = best_val(step_logs[group], [RATE, BATCH])
        if missing := _needs_clean(stats, noisy_too=False):
            return False, missing
        row = _row(stats, 0.0).dropna()
        if len(row) < 2:
            return False, f"0 % noise: {_listing(row)} (one batch size: nothing to order)"
        values, batches = row.to_numpy(), [int(b) for b in row.index]
        broken = [f"{a} -> {b}: {y - x:+.2f}" for a, b, x, y in zip(batches, batches[1:], values, values[1:]) if y <= x]
        verdict = ("rises at every step up in batch size" if not broken
                   else "does not rise at " + ", ".join(broken))
        return (not broken, f"0 % noise: {_listing(row)}: {verdict} "
                "(best validation accuracy over the run, %, mean over seeds)")
    return check


def _larger_batch_mitigates(group: str):
    """At every noise level above 0 %: the largest batch size run has the highest best validation accuracy,
    and the accuracy the noise costs (0 % minus that level, same batch size) falls with the batch size
    (a negative Spearman correlation, and smaller at the largest batch than at the smallest)."""
    def check(results, step_logs):
        stats = best_val(step_logs[group], [RATE, BATCH])
        if missing := _needs_clean(stats, noisy_too=True):
            return False, missing
        clean = _row(stats, 0.0)
        parts, holds = [f"{noise_label(0.0)}: {_listing(clean)}"], True
        for rate in (r for r in _rates(stats) if not _is_clean(r)):
            row = _row(stats, rate).dropna()
            cost = (clean - row).dropna()
            if len(row) < 2 or len(cost) < 2:
                holds = False
                parts.append(f"{noise_label(rate)}: {_listing(row)} (fewer than two batch sizes to compare)")
                continue
            best, largest = int(row.idxmax()), int(row.index.max())
            rho, ends = spearman(cost.index, cost.to_numpy()), float(cost.iloc[-1] - cost.iloc[0])
            ok = best == largest and not np.isnan(rho) and rho < 0 and ends < 0
            holds &= ok
            parts.append(f"{noise_label(rate)}: {_listing(row)}, best batch {best} (largest run {largest}); "
                         f"accuracy the noise costs {_listing(cost)}, Spearman with the batch size {rho:.2f}, "
                         f"largest - smallest {ends:+.2f}")
        return bool(holds), "; ".join(parts) + " (best validation accuracy over the run, %, mean over seeds)"
    return check


def _trend(group: str, column: str, rising: bool, statistic, what: str, clean_too: bool = False):
    """At every noise level above 0 %: larger batches have a higher (rising) or lower statistic:
    Spearman's correlation with the batch size of that sign, and the largest batch beyond the smallest."""
    def check(results, step_logs):
        stats = statistic(step_logs[group], [RATE, BATCH], column)
        rates = [r for r in _rates(stats) if clean_too or not _is_clean(r)]
        if not rates:
            return False, "no noisy level was run"
        holds, parts = True, []
        sign = 1 if rising else -1
        for rate in rates:
            row = _row(stats, rate).dropna()
            if len(row) < 2:
                holds = False
                parts.append(f"{noise_label(rate)}: {len(row)} batch size(s) measured, no trend")
                continue
            rho = spearman(row.index, row.to_numpy())
            ends = float(row.iloc[-1] - row.iloc[0])
            ok = not np.isnan(rho) and sign * rho > 0 and sign * ends > 0
            holds &= ok
            parts.append(f"{noise_label(rate)}: Spearman {rho:.2f}, largest - smallest {ends:+.3f} ({_listing(row, 3)})")
        return bool(holds), "; ".join(parts) + f" ({what}, mean over seeds)"
    return check


def _ratio_stats(log: pd.DataFrame) -> pd.DataFrame:
    stats = best_val(log, [RATE, BATCH, LR]).rename("acc").reset_index()
    stats["ratio"] = ratio(stats[BATCH], stats[LR])
    return stats


def ratio_order(configs: pd.DataFrame) -> str | None:
    """'rising' when every configuration of a higher B/lr has a higher accuracy than every one of a lower
    ratio, 'falling' when lower, None when the ratio levels' accuracies overlap (or only one ratio)."""
    levels = configs.groupby("ratio")["acc"].agg(["min", "max"]).sort_index()
    if len(levels) < 2:
        return None
    lo, hi = levels["min"].to_numpy(), levels["max"].to_numpy()
    if (hi[:-1] < lo[1:]).all():
        return "rising"
    if (lo[:-1] > hi[1:]).all():
        return "falling"
    return None


def spread(configs: pd.DataFrame, by: str) -> float:
    """Mean over the values of `by` with two or more configurations of their accuracy range (max - min)."""
    ranges = [g["acc"].max() - g["acc"].min() for _, g in configs.groupby(by) if len(g) > 1]
    return float(np.mean(ranges)) if ranges else float("nan")


DIRECTIONS = {"rising": "higher B/lr better (the seed's direction)",
              "falling": "lower B/lr, i.e. higher lr/B, better (Jastrzebski et al.'s direction)", None: "no order"}


def _describe_ratio(rate: float, configs: pd.DataFrame) -> str:
    listing = ", ".join(f"({int(r[BATCH])}, {r[LR]:g}) B/lr {r['ratio']:g}: {r['acc']:.2f}"
                        for _, r in configs.sort_values(["ratio", BATCH]).iterrows())
    order = DIRECTIONS[ratio_order(configs)] if configs["ratio"].nunique() > 1 else "a single ratio, nothing to order"
    return (f"{noise_label(rate)}: {order}; spread within a ratio "
            f"{spread(configs, 'ratio'):.2f}, within a batch size {spread(configs, BATCH):.2f} ({listing})")


def _higher_ratio_better(group: str, clean_only: bool):
    """At every noise level run (only 0 % where clean_only): every configuration of a higher B/lr has a
    higher best validation accuracy (mean over seeds) than every configuration of a lower ratio (the
    seed's direction); the evidence names the direction found at each level."""
    def check(results, step_logs):
        stats = _ratio_stats(step_logs[group])
        parts, holds = [], True
        for rate, configs in stats.groupby(RATE):
            if clean_only and not _is_clean(rate):
                continue
            holds &= ratio_order(configs) == "rising"
            parts.append(_describe_ratio(rate, configs))
        if not parts:
            return False, f"noise levels run: {sorted(float(r) for r in stats[RATE].unique())}; the claim needs 0 %"
        return bool(holds), "; ".join(parts) + " (best validation accuracy over the run, %, mean over seeds)"
    return check


def _ratio_fails_under_noise(group: str):
    def check(results, step_logs):
        stats = _ratio_stats(step_logs[group])
        parts, holds, noisy = [], True, 0
        for rate, configs in stats.groupby(RATE):
            parts.append(_describe_ratio(rate, configs))
            if _is_clean(rate):
                continue
            noisy += 1
            by_ratio, by_batch = spread(configs, "ratio"), spread(configs, BATCH)
            holds &= ratio_order(configs) is None and bool(by_batch < by_ratio)
        return bool(holds and noisy), "; ".join(parts) + " (best validation accuracy over the run, %, mean over seeds)"
    return check


BEST_STAT = "the batch size whose best validation accuracy over the run (mean over seeds) is highest"
NOISY_STAT = ("the per-batch training accuracy on the noisy examples averaged over the logged rows of the last tenth "
              "of each run's steps")
COSINE_STAT = "the clean/all gradient cosine similarity averaged over all logged rows of each run"
TREND = ("a {sign} Spearman correlation with the batch size across the batch sizes run, and the largest batch "
         "{above} the smallest")


RATIO_RULE = ("\"According to Jastrzebski et al. [9], the ratio of the batch and learning rate should dictate the "
              "model’s performance, with higher ratios leading to better generalization. We confirm this through "
              "the plots for the configurations with either a constant learning rate or zero label noise.\" (§4.4)")
HIGHER_RATIO = ("every configuration of a higher batch size / lr ratio has a higher best validation accuracy over the "
                "run (mean over seeds) than every configuration of a lower ratio (the seed's direction; the evidence "
                "names the direction found, Jastrzebski et al.'s own being the opposite: a higher lr / batch size "
                "better")


def _claims() -> list[Claim]:
    out = []
    for scheduler, figure in (("onecycle", 4), ("cosine", 5)):
        out.append(Claim(f"larger-batch-better-clean-{scheduler}",
                         "\"For the two schedulers with 0% label noise, the higher the batch size is, the higher the "
                         f"validation accuracy.\" (§4.1): {SCHEDULER_NAMES[scheduler]}: at 0 % noise, each batch "
                         "size run has a higher best validation accuracy over the run (mean over seeds) than the next "
                         f"smaller one, so the largest is best (Figure {figure})",
                         _rises_with_batch_clean(MAIN[scheduler]), step_logs=(MAIN[scheduler],),
                         **cases.larger_batch_better_clean(MAIN[scheduler])))
    for scheduler, figure in (("onecycle", 4), ("cosine", 5)):
        out.append(Claim(f"best-batch-smaller-under-noise-{scheduler}",
                         f"{SCHEDULER_NAMES[scheduler]}: at every noise level above 0 % (20 %, 50 %), {BEST_STAT} is "
                         f"smaller than at 0 % noise (Figure {figure})",
                         _best_batch(MAIN[scheduler]), step_logs=(MAIN[scheduler],),
                         **cases.best_batch_smaller(MAIN[scheduler])))
    out.append(Claim("larger-batch-mitigates-noise-constant",
                     "\"Thus, they [Rolnick et al.] claim that increasing batch size mitigates the effect of label "
                     "noise. However, our experiments show otherwise when a learning rate scheduler is used. Although, "
                     "for the case of constant learning rates, the claim holds.\" (§4.1): constant lr: at every "
                     "noise level above 0 %, the largest batch size run has the highest best validation accuracy over "
                     "the run (mean over seeds; with the schedulers the seed finds \"the best batch size is no longer "
                     "the largest one\"), and the accuracy the noise costs (that at 0 % minus that at the level, same "
                     "batch size) has a negative Spearman correlation with the batch size and is smaller at the "
                     "largest batch than at the smallest (Figure 6)",
                     _larger_batch_mitigates(MAIN["constant"]), step_logs=(MAIN["constant"],),
                     **cases.larger_batch_mitigates(MAIN["constant"])))
    for scheduler, figure in (("onecycle", 10), ("cosine", 11), ("constant", 12)):
        out.append(Claim(f"noisy-fit-grows-with-batch-{scheduler}",
                         f"{SCHEDULER_NAMES[scheduler]}: at every noise level above 0 %, larger batches fit more of "
                         f"the noisy labels: {NOISY_STAT} has " + TREND.format(sign="positive", above="above")
                         + f" (Figure {figure})",
                         _trend(MAIN[scheduler], "batch_noisy_acc", True, late_mean, NOISY_STAT),
                         step_logs=(MAIN[scheduler],), **cases.noisy_fit_grows(MAIN[scheduler])))
    for scheduler, figure in (("onecycle", 7), ("cosine", 8)):
        out.append(Claim(f"grad-cosine-falls-with-batch-{scheduler}",
                         f"{SCHEDULER_NAMES[scheduler]}: at every noise level above 0 %, the clean examples' gradient "
                         f"agrees less with the whole batch's for larger batches: {COSINE_STAT} has "
                         + TREND.format(sign="negative", above="below") + f" (Figure {figure})",
                         _trend(MAIN[scheduler], "grad_cosine", False, run_mean, COSINE_STAT),
                         step_logs=(MAIN[scheduler],), **cases.grad_cosine_falls(MAIN[scheduler])))
    out.append(Claim("higher-ratio-better-constant",
                     f"{RATIO_RULE}: constant lr: at every noise level, {HIGHER_RATIO}; Figure 14)",
                     _higher_ratio_better(RATIO["constant"], clean_only=False), step_logs=(RATIO["constant"],),
                     **cases.higher_ratio_better(RATIO["constant"])))
    out.append(Claim("higher-ratio-better-onecycle-clean",
                     f"{RATIO_RULE}: one-cycle at 0 % noise, {HIGHER_RATIO}; Figure 13)",
                     _higher_ratio_better(RATIO["onecycle"], clean_only=True), step_logs=(RATIO["onecycle"],),
                     **cases.higher_ratio_better_clean(RATIO["onecycle"])))
    out.append(Claim("ratio-fails-onecycle-noisy",
                     "one-cycle: at every noise level above 0 %, the batch size / lr ratio does not order the best "
                     "validation accuracies (mean over seeds) in either direction (neither every configuration of a "
                     "higher ratio above every one of a lower, nor every one below), and configurations of the same "
                     "batch size are closer to each other than configurations of the same ratio (mean accuracy range "
                     "within a batch size below that within a ratio; Figure 13)",
                     _ratio_fails_under_noise(RATIO["onecycle"]), step_logs=(RATIO["onecycle"],),
                     **cases.ratio_fails_under_noise(RATIO["onecycle"])))
    appendix = "FashionMNIST, VGG-16-BN, one-cycle (the appendix; the seed draws no conclusion from it: the main " \
               "text's finding, checked on its runs)"
    out += [
        Claim("best-batch-smaller-under-noise-fashionmnist",
              f"{appendix}: at every noise level above 0 %, {BEST_STAT} is smaller than at 0 % (Figure 15)",
              _best_batch(APPENDIX), step_logs=(APPENDIX,), **cases.best_batch_smaller(APPENDIX)),
        Claim("grad-cosine-falls-with-batch-fashionmnist",
              f"{appendix}: at every noise level above 0 %, {COSINE_STAT} has "
              + TREND.format(sign="negative", above="below") + " (Figure 16)",
              _trend(APPENDIX, "grad_cosine", False, run_mean, COSINE_STAT), step_logs=(APPENDIX,),
              **cases.grad_cosine_falls(APPENDIX)),
        Claim("noisy-fit-grows-with-batch-fashionmnist",
              f"{appendix}: at every noise level above 0 %, {NOISY_STAT} has "
              + TREND.format(sign="positive", above="above") + " (Figure 17)",
              _trend(APPENDIX, "batch_noisy_acc", True, late_mean, NOISY_STAT), step_logs=(APPENDIX,),
              **cases.noisy_fit_grows(APPENDIX)),
    ]
    return out


CLAIMS = tuple(_claims())

"""Label noise, batch size and learning-rate schedulers (seed 002: Rajagopal et al., ETH research report).

A CIFAR-10 classifier (the CIFAR ResNet-18 of the seed's Figure 2) is trained with SGD with momentum
on cross-entropy plus L2 weight decay, under uniform label noise that may keep the original class
(noise kind uniform_incl, 0, 20 and 50 % of the training images relabelled), at several batch sizes,
with three schedulers: one-cycle (lr and momentum), cosine annealing (lr only) and a constant lr.
The settings are the seed's Table 1: maximum lr 0.1, 64 epochs, momentum 0.9 (overridden by the
one-cycle), 5,000 maximum scheduling steps, 20 % of the training set held out for validation,
weight decay 5e-4; everything else PyTorch 1.9.1's defaults.

- table1: the hyperparameters, the seed's beside those of this harness's runs, generated from the
  resolved run configs of every group at the scale built (the configs the run ids hash, so the runs
  trained with exactly these; the smoke test checks them against the runs' metrics.json).
- figure3: lr and momentum of the three schedulers over the optimizer steps, drawn from the schedule
  code itself (training.schedules.lr_curve) for the smallest, a middle and the largest batch size of
  the CIFAR grid (steps per epoch, and so where the 5,000 steps fall, depend on the batch size).
- figure4-6 (validation accuracy), figure7-9 (cosine similarity between the clean examples' and the
  whole batch's gradient), figure10-12 (per-batch training accuracy on the noisy examples): one
  figure per scheduler (one-cycle, cosine, constant), one panel per noise level, one curve per batch
  size, against wall time.
- figure13/figure14: configurations of batch size and lr, one-cycle and constant, validation
  accuracy against wall time, one panel per noise level.
- figure15-17: the appendix, VGG-16-BN on FashionMNIST with the one-cycle: validation accuracy,
  gradient cosine similarity, noisy-example accuracy.

Where the seed is silent or ambiguous, what this harness chose and why:
- Batch sizes. The seed's figures are lost from its text, and it names no batch size. The paper
  scale runs 32, 64, 128, 256, 512 and 1024 (powers of two around the usual 128, up to where an
  epoch of 40,000 images is only 40 steps), the same for the appendix.
- The lr of each batch size. Table 1 lists one maximum lr, 0.1, among the hyperparameters common to
  every run, so every batch size trains at 0.1 (no scaling rule); only figures 13 and 14 vary it.
- 5,000 maximum scheduling steps, taken literally: one-cycle and cosine plan over 5,000 optimizer
  steps and keep their last values after ("kept constant after the pre-defined maximum steps").
  With 40,000 training images that is 4 epochs of the 64 at batch 32 and 63 at batch 512,
  and batch 1024 never gets there (2,560 steps: its one-cycle ends at lr 0.08, mid-anneal). So the
  schedule's length in epochs grows with the batch size, and the small batches finish annealing
  early and then hardly move (one-cycle ends at 0.1 / 25 / 1e4 = 4e-7, cosine at 0): a form of
  early stopping that may carry part of the seed's finding. Reproduced as written, not corrected.
- One-cycle: torch 1.9.1's OneCycleLR defaults (pct_start 0.3, div_factor 25, final_div_factor
  1e4, cosine annealing, momentum cycled between 0.85 and 0.95) with max_lr the run's lr. Cosine:
  CosineAnnealingLR(T_max=5,000), eta_min 0, no restarts, lr only; cosine and constant keep the
  optimizer's momentum 0.9. SGD without Nesterov, dampening 0.
- Noise: X % of the training images get a label drawn uniformly from all 10 classes, so about a
  tenth keep theirs (the realised rate is about 0.9 X). "Noisy" examples are those whose label was
  changed, "clean" those whose label was not (the seed's own definitions, sections 4.2 and 4.3);
  the gradient cosine and the noisy-example accuracy use this mask.
- Validation: 20 % of the training set, stratified by class, held out before the noise is added,
  so its labels are clean (the seed does not say; noisy validation labels would measure how well
  the noise is fitted rather than generalisation). The test set is evaluated too, not plotted.
- No data augmentation: the seed names none, and takes PyTorch's defaults for the rest.
- "By time": the x axis is the wall-clock training time of steps.csv (time_s), mean over seeds at
  each logged step. Wall time depends on the machine (on a CPU every batch size processes about as
  many images per second; on a GPU large batches are much faster), so the claims compare runs over
  their whole course, never at equal wall time.
- Evaluation cadence: validation (and test) at the end of every epoch, 64 points a curve at paper
  scale (the step log's eval_steps is the epoch's length, so its evaluation is the epoch end's).
  The per-batch metrics are logged about as often per epoch at every batch size (`every` = steps
  per epoch / Budget.rows, rounded up: 4 rows an epoch at paper scale), so every batch size is
  sampled at about the same fractions of each epoch; the gradient cosine is measured on those rows
  (one extra backward pass each). Figures draw the per-batch metrics as a trailing mean over one
  epoch's rows; their CSVs also hold the raw means over seeds.
- Batch size to lr ratio. The seed says, after Jastrzebski et al., that "the ratio of the batch and
  learning rate should dictate the model's performance, with higher ratios leading to better
  generalization". Jastrzebski et al. find the opposite direction: a higher lr / batch size (a
  lower batch / lr) gives wider minima and better generalisation. Read as the part both agree on:
  the ratio dictates the performance, i.e. it orders the results. The claims test that ordering
  without fixing its direction, and the evidence says which direction was found.
- figure13/14's configurations, (batch size, lr) with B/lr: (64, 0.05), (128, 0.1) and (256, 0.2)
  at 1,280, the same ratio over a 4x range of batch sizes (the rule's core: equal ratio, equal
  result), and (64, 0.1), (128, 0.2) at 640 and (128, 0.05), (256, 0.1) at 2,560 on either side.
  Every ratio has two or more configurations and batch sizes 64, 128 and 256 each appear at two or
  three ratios, so "the same batch size performs alike" (what the seed sees with one-cycle under
  noise) and "the same ratio performs alike" (the rule) can be told apart. Under the one-cycle the
  lr is its max_lr. The configurations at lr 0.1 are the main grid's runs, shared (trained once).
- The appendix (figure15-17) is VGG-16 with batch norm, CIFAR-style (13 convolutions, one linear
  head on the 512 pooled features, no dropout: torchvision's 4096-wide classifier has no CIFAR
  counterpart in the seed), on FashionMNIST at the same Table 1 settings, batch sizes and noise
  levels, one-cycle only. The seed says its appendix runs were neither all finished nor tuned.
- Seeds: the scale's default (paper 3, quick 2, smoke 1; config key seeds); the views (holdout,
  noise) are drawn once (data_seed 0) and shared by every seed and batch size.
- The seed prints no numbers, so the comparison carries none; its findings are the claims below.

The claims (statistics named in each statement): per run, the best validation accuracy over its
evaluations (the seed reads its curves for the best batch size and states no stopping rule; the
best over the run is the curve's peak, which the late flat part of a small batch's run does not
blur), mean over seeds; the noisy-example training accuracy averaged over the logged rows of the
last tenth of the run's steps (how far the run has fitted the noise by the end; single batches are
noisy, so rows are averaged); the gradient cosine averaged over all logged rows of the run (the
seed: "at a certain time step, the cosine similarity is generally lower with higher batch sizes";
rows sit at about the same fractions of every epoch, so the mean weighs the whole course of training
alike for every batch size, rather than one arbitrary time). "Larger batches higher (lower)" means
a positive (negative) Spearman correlation between batch size and the statistic across the batch
sizes run, and the largest batch above (below) the smallest.

Smaller scales keep every group, and keep the 5,000 steps at the same share of each run: total_steps
is scaled by (training images x epochs) against the paper's, so at every batch size the schedule
ends at the same fraction of the run as at paper scale. quick keeps the 64 epochs and shrinks the
training set, so the schedule ends in the same epoch as at paper scale at every batch size (a
quick scale with fewer epochs would leave batch 32 a fraction of an epoch of schedule); it plans
the CIFAR-10 groups for one GPU (12,800 training images of which 10,240 train, 5,000 test images,
ResNet-18 at half width, batch sizes 32, 128, 512, total_steps 1,280) and runs the FashionMNIST
appendix on a 2-core CPU (1,280 images of which 1,024 train, 500 test images, VGG-16-BN at width
1/16, batch sizes 32, 128, 512, total_steps 107). smoke trains 2 epochs of 400 synthetic images at
width 1/16, batch sizes 32 and 128, noise 0 and 50 %, and three batch size / lr configurations (two
of them the main grid's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from robustrepro.analysis.figures import new_figure
from robustrepro.papers.spec import Claim, Paper, RunGroup, Target
from robustrepro.scales import SCALES

BATCH, LR, RATE = "batch_size", "optimizer.lr", "noise.rate"
EVERY, EVAL_STEPS = "step_log.every", "step_log.eval_steps"

# The seed's Table 1.
MAX_LR, EPOCHS, MOMENTUM, TOTAL_STEPS, VAL_FRACTION, WEIGHT_DECAY = 0.1, 64, 0.9, 5000, 0.2, 5e-4
BATCH_SIZES = (32, 64, 128, 256, 512, 1024)
NOISE_RATES = (0.0, 0.2, 0.5)
# torch 1.9.1's OneCycleLR defaults (the seed: "for other hyperparameters, we use PyTorch 1.9.1 defaults").
ONECYCLE = {"name": "onecycle", "total_steps": TOTAL_STEPS, "pct_start": 0.3, "div_factor": 25.0,
            "final_div_factor": 1e4, "anneal_strategy": "cos", "base_momentum": 0.85, "max_momentum": 0.95}
COSINE = {"name": "cosine", "total_steps": TOTAL_STEPS, "eta_min": 0.0}
CONSTANT = {"name": "constant"}
SCHEDULERS = {"onecycle": ONECYCLE, "cosine": COSINE, "constant": CONSTANT}
SCHEDULER_NAMES = {"onecycle": "one-cycle lr and momentum", "cosine": "cosine annealing", "constant": "constant lr"}
STEP_METRICS = ["batch_noise", "grad_cosine"]

# figure13/14 (module docstring): (batch size, lr); B/lr 1,280 for the first three.
RATIO_CONFIGS = ((64, 0.05), (128, 0.1), (256, 0.2), (64, 0.1), (128, 0.2), (128, 0.05), (256, 0.1))
# Smoke: two configurations of the main grid (lr 0.1) and one more, so that a ratio (320) and a batch
# size (128) each have two configurations and the ratio claims have something to compare.
SMOKE_RATIO_CONFIGS = ((32, 0.1), (128, 0.1), (128, 0.4))


@dataclass(frozen=True)
class Budget:
    """What one experiment trains at one scale."""

    subset: int | None  # training images kept (class-balanced), before the 20 % validation holdout
    test_subset: int | None
    epochs: int
    width: float
    batches: tuple[int, ...]
    rates: tuple[float, ...]
    rows: int  # per-batch rows of steps.csv per epoch
    ratio_configs: tuple[tuple[int, float], ...] = RATIO_CONFIGS


CIFAR, FMNIST = "cifar", "fmnist"
EXPERIMENTS = {CIFAR: {"dataset": "cifar10", "model": "resnet18"},
               FMNIST: {"dataset": "fashion-mnist", "model": "vgg16_bn"}}
TRAIN_SIZE = {"cifar10": 50000, "fashion-mnist": 60000}
# Smoke: 500 synthetic images (400 train, 100 validate), 100 test, 2 epochs; noise 0 and 50 %, two
# batch sizes and three ratio configurations, so that every claim has numbers to check: 20 runs.
SMOKE = Budget(500, 100, 2, 0.0625, (32, 128), (0.0, 0.5), 4, SMOKE_RATIO_CONFIGS)
BUDGETS = {
    CIFAR: {"paper": Budget(None, None, EPOCHS, 1.0, BATCH_SIZES, NOISE_RATES, 4),
            # Planned for one GPU (README: run counts and the estimate): 10,240 training images (a multiple of
            # every batch size).
            "quick": Budget(12800, 5000, EPOCHS, 0.5, (32, 128, 512), NOISE_RATES, 4),
            "smoke": SMOKE},
    FMNIST: {"paper": Budget(None, None, EPOCHS, 1.0, BATCH_SIZES, NOISE_RATES, 4),
             # Runs on a 2-core CPU, 1,024 training images (a multiple of every batch size, so that the epochs
             # keep the paper's share of the schedule at batch 512 too). Measured at 2,000 training and 1,500
             # evaluated images an epoch: VGG-16-BN at width 1/16 took 2.4-3.4 s an epoch on one thread when
             # the machine was least loaded and 10-11 s on average while another test suite loaded it 2.5-3x
             # (runs of 620 and 710 s at batch 512 and 32). 1,024 training and 756 evaluated images make it
             # about 1.7 s an epoch, 2 minutes a run, and 18 runs (2 seeds) under 20 minutes on two idle cores.
             "quick": Budget(1280, 500, EPOCHS, 0.0625, (32, 128, 512), NOISE_RATES, 2),
             "smoke": SMOKE},
}


def n_train(experiment: str, scale: str) -> int:
    """Training images after the subset and the 20 % validation holdout (noise.stratified_counts)."""
    budget = BUDGETS[experiment][scale]
    total = budget.subset if budget.subset is not None else TRAIN_SIZE[EXPERIMENTS[experiment]["dataset"]]
    return total - round(VAL_FRACTION * total)


def steps_per_epoch(experiment: str, scale: str, batch: int) -> int:
    return math.ceil(n_train(experiment, scale) / batch)


def total_steps(experiment: str, scale: str) -> int:
    """The 5,000 scheduling steps at the same share of every run as at paper scale: scaled by the
    training images x epochs (at quick scale, which keeps the 64 epochs, by the images alone, so the
    schedule ends in the same epoch as at paper scale at every batch size)."""
    here, paper = BUDGETS[experiment][scale], BUDGETS[experiment]["paper"]
    share = n_train(experiment, scale) * here.epochs / (n_train(experiment, "paper") * paper.epochs)
    return max(2, round(TOTAL_STEPS * share))


def _log_axis(experiment: str, scale: str, batch: int) -> tuple[int, int]:
    """(every, eval_steps) of a batch size: at most `rows` per-batch rows and one evaluation (at its end)
    per epoch."""
    steps = steps_per_epoch(experiment, scale, batch)
    return math.ceil(steps / BUDGETS[experiment][scale].rows), steps


def _batch_axis(experiment: str, scale: str) -> dict:
    return {(BATCH, EVERY, EVAL_STEPS): [(b, *_log_axis(experiment, scale, b))
                                        for b in BUDGETS[experiment][scale].batches]}


def _ratio_axis(experiment: str, scale: str) -> dict:
    return {(BATCH, LR, EVERY, EVAL_STEPS): [(b, lr, *_log_axis(experiment, scale, b))
                                            for b, lr in BUDGETS[experiment][scale].ratio_configs]}


def _base(experiment: str, scheduler: str) -> dict:
    return {"dataset": EXPERIMENTS[experiment]["dataset"], "holdout": {"size": VAL_FRACTION}, "validation": "holdout",
            "noise": {"kind": "uniform_incl", "rate": 0.0}, "model": {"name": EXPERIMENTS[experiment]["model"]},
            "optimizer": {"name": "sgd", "lr": MAX_LR, "momentum": MOMENTUM, "weight_decay": WEIGHT_DECAY},
            "schedule": SCHEDULERS[scheduler], "epochs": EPOCHS, "batch_size": 128,
            "step_log": {"every": 1, "metrics": STEP_METRICS, "eval_steps": 1}}


def _overrides(experiment: str, scheduler: str) -> dict[str, dict]:
    """Per scale below paper: the subsets, epochs, the model's width and the scaled total_steps."""
    out = {}
    for scale in SCALES:
        if scale == "paper":
            continue
        budget = BUDGETS[experiment][scale]
        scaled = {"train_subset": budget.subset, "test_subset": budget.test_subset, "epochs": budget.epochs,
                  "model": {"name": EXPERIMENTS[experiment]["model"], "width": budget.width}}
        if scheduler != "constant":
            scaled["schedule"] = {"total_steps": total_steps(experiment, scale)}
        out[scale] = scaled
    return out


def _group(name: str, experiment: str, scheduler: str, axis) -> RunGroup:
    grids = {scale: {RATE: list(BUDGETS[experiment][scale].rates), **axis(experiment, scale)} for scale in SCALES}
    return RunGroup(name=name, base=_base(experiment, scheduler), grid=grids["paper"],
                    overrides=_overrides(experiment, scheduler), grids=grids)


MAIN = {s: f"c10-{s}" for s in SCHEDULERS}  # scheduler -> the CIFAR batch-size x noise group
RATIO = {s: f"c10-ratio-{s}" for s in ("onecycle", "constant")}
APPENDIX = "fm-onecycle"
GROUPS = (
    *(_group(MAIN[s], CIFAR, s, _batch_axis) for s in SCHEDULERS),
    *(_group(RATIO[s], CIFAR, s, _ratio_axis) for s in RATIO),
    _group(APPENDIX, FMNIST, "onecycle", _batch_axis),
)
GROUP_EXPERIMENT = {**{g: CIFAR for g in (*MAIN.values(), *RATIO.values())}, APPENDIX: FMNIST}


# ---- reading the step logs ----

def _noise_label(rate: float) -> str:
    return f"{rate:.0%} noise"


def _logged(log: pd.DataFrame, column: str) -> pd.DataFrame:
    """The per-batch rows of a step log (step a multiple of `every`) that have `column`."""
    rows = log[log[column].notna()]
    if EVERY in rows.columns:
        rows = rows[rows["step"] % rows[EVERY] == 0]
    return rows


def _evaluations(log: pd.DataFrame) -> pd.DataFrame:
    return log[log["val_acc1"].notna()]


def _curves(log: pd.DataFrame, keys: list[str], column: str, scale: float, per_batch: bool) -> pd.DataFrame:
    """Mean, std and count over seeds of `column` at each logged step, per curve (keys), with the
    mean wall time; a per-batch metric also gets a trailing mean over one epoch's rows ("smoothed")."""
    rows = _logged(log, column) if per_batch else _evaluations(log)
    stats = (rows.groupby([*keys, "step"], sort=True)
             .agg(epoch=("epoch", "first"), time_s=("time_s", "mean"), mean=(column, "mean"), std=(column, "std"),
                  n=(column, "count"))
             .reset_index())
    stats[["mean", "std"]] *= scale
    if per_batch:
        first = rows.groupby(keys, sort=True)[[EVAL_STEPS, EVERY]].first()
        window = np.ceil(first[EVAL_STEPS] / first[EVERY]).astype(int)  # rows per epoch
        smoothed = [curve["mean"].rolling(int(window.loc[key]), min_periods=1).mean()
                    for key, curve in stats.groupby(keys, sort=False)]
        stats["smoothed"] = pd.concat(smoothed) if smoothed else np.nan
    return stats


def _time_axis(seconds: pd.Series) -> tuple[pd.Series, str]:
    top = float(seconds.max()) if len(seconds) else 0.0
    if top > 3 * 3600:
        return seconds / 3600, "wall time (h)"
    if top > 300:
        return seconds / 60, "wall time (min)"
    return seconds, "wall time (s)"


METRIC_LABELS = {"val_acc1": "validation accuracy (%)", "grad_cosine": "cosine(clean, all) gradient",
                 "batch_noisy_acc": "train accuracy on noisy examples (%)"}
METRIC_SCALE = {"val_acc1": 100.0, "grad_cosine": 1.0, "batch_noisy_acc": 100.0}


def _draw(ctx, group: str, column: str, curve_keys: list[str], label, style=None) -> None:
    """One panel per noise level, one curve per value of curve_keys, `column` against wall time."""
    log = ctx.step_logs(group)
    window = column != "val_acc1"
    data = _curves(log, [RATE, *curve_keys], column, METRIC_SCALE[column], window)
    rates = [r for r in sorted(data[RATE].unique()) if data.loc[data[RATE] == r, "mean"].notna().any()]
    fig, axes = new_figure(ncols=max(len(rates), 1), sharey=True, width=3.0, height=2.6)
    time, time_label = _time_axis(data["time_s"])
    data = data.assign(time=time)
    y = "smoothed" if window else "mean"
    for ax, rate in zip(axes[0], rates):
        panel = data[data[RATE] == rate]
        for i, (key, rows) in enumerate(panel.groupby(curve_keys, sort=True)):
            key = key if isinstance(key, tuple) else (key,)
            ax.plot(rows["time"], rows[y], label=label(*key), **(style(i, *key) if style else {}))
        ax.set_title(_noise_label(rate), fontsize=8)
        ax.set_xlabel(time_label)
    axes[0, 0].set_ylabel(METRIC_LABELS[column] + (" (mean over an epoch's rows)" if window else ""), fontsize=7)
    axes[0, -1].legend(fontsize=6)
    names = {RATE: "noise_rate", BATCH: "batch_size", LR: "lr", "mean": column, "std": f"{column}_std",
             "smoothed": f"{column}_smoothed"}
    out = data.drop(columns="time").rename(columns=names)
    if LR in curve_keys:
        out.insert(out.columns.get_loc("lr") + 1, "batch_lr_ratio", _ratio(out["batch_size"], out["lr"]))
    ctx.figure(fig, out)


def _ratio(batch, lr):
    return np.round(np.asarray(batch, dtype=float) / np.asarray(lr, dtype=float), 6)


def _by_batch(ctx, group: str, column: str) -> None:
    _draw(ctx, group, column, [BATCH], lambda b: f"batch {int(b)}")


def _by_config(ctx, group: str) -> None:
    ratios = sorted({float(_ratio(b, lr)) for b, lr in BUDGETS[CIFAR][ctx.scale].ratio_configs})
    batches = sorted({b for b, _ in BUDGETS[CIFAR][ctx.scale].ratio_configs})

    def style(i, b, lr):
        return {"color": f"C{ratios.index(float(_ratio(b, lr)))}",
                "linestyle": ("-", "--", ":", "-.")[batches.index(int(b)) % 4]}

    _draw(ctx, group, "val_acc1", [BATCH, LR], lambda b, lr: f"B {int(b)}, lr {lr:g} (B/lr {float(_ratio(b, lr)):g})",
          style)


def _scheduler_figures() -> dict:
    out = {}
    for number, (column, groups) in enumerate(
            [("val_acc1", MAIN), ("grad_cosine", MAIN), ("batch_noisy_acc", MAIN)]):
        for offset, scheduler in enumerate(SCHEDULERS):
            out[f"figure{4 + 3 * number + offset}"] = (groups[scheduler], column)
    return out


SCHEDULER_FIGURES = _scheduler_figures()  # figure4..figure12 -> (group, column)
APPENDIX_FIGURES = {"figure15": "val_acc1", "figure16": "grad_cosine", "figure17": "batch_noisy_acc"}


def _figure(name: str):
    def build(ctx) -> None:
        if name in SCHEDULER_FIGURES:
            _by_batch(ctx, *SCHEDULER_FIGURES[name])
        elif name in APPENDIX_FIGURES:
            _by_batch(ctx, APPENDIX, APPENDIX_FIGURES[name])
        else:
            _by_config(ctx, {"figure13": RATIO["onecycle"], "figure14": RATIO["constant"]}[name])
    build.__name__ = name
    return build


# ---- figure 3: the schedulers, from the schedule code ----

def figure3(ctx) -> None:
    """lr and momentum of each scheduler over the run, for the smallest, a middle and the largest batch
    size of the CIFAR grid at this scale, as the runs are configured (no training); drawn against the
    epoch, the CSV has the optimizer step too."""
    from robustrepro.training.schedules import lr_curve  # torch: only when the figure is drawn

    runs = [r for r in PAPER.runs(ctx.scale, [0]) if r["group"] in MAIN.values()]
    batches = sorted({r["run"]["batch_size"] for r in runs})
    shown = sorted({batches[0], batches[len(batches) // 2], batches[-1]})
    frames = []
    for scheduler, group in MAIN.items():
        for batch in shown:
            run = next(r["run"] for r in runs if r["group"] == group and r["run"]["batch_size"] == batch)
            steps = run["step_log"]["eval_steps"]  # the epoch's length: one evaluation per epoch
            curve = lr_curve(run["schedule"], run["optimizer"]["lr"], steps, run["epochs"])
            n = len(curve["step"])
            keep = np.unique(np.concatenate([np.geomspace(1, n, 400).astype(int) - 1, [n - 1]]))
            momentum = np.where(np.isnan(curve["momentum"]), run["optimizer"]["momentum"], curve["momentum"])
            frames.append(pd.DataFrame({"scheduler": scheduler, "batch_size": batch, "step": curve["step"][keep] + 1,
                                        "epoch": curve["epoch"][keep], "lr": curve["lr"][keep],
                                        "momentum": momentum[keep],
                                        "total_steps": run["schedule"].get("total_steps", np.nan),
                                        "schedule_end_epoch": run["schedule"].get("total_steps", np.nan) / steps}))
    data = pd.concat(frames, ignore_index=True)
    fig, axes = new_figure(ncols=len(MAIN), nrows=2, sharex=True, sharey="row", width=2.8, height=2.2)
    # Against epochs: every batch size runs the same curve in steps, and ends it in another epoch.
    for col, scheduler in enumerate(MAIN):
        for batch, rows in data[data["scheduler"] == scheduler].groupby("batch_size"):
            end = rows["schedule_end_epoch"].iloc[0]
            after = " (after the run)" if end > runs[0]["run"]["epochs"] else ""
            label = f"batch {batch}" + (f": ends at epoch {end:.3g}{after}" if not np.isnan(end) else "")
            axes[0, col].plot(rows["epoch"], rows["lr"], label=label)
            axes[1, col].plot(rows["epoch"], rows["momentum"], label=label)
        axes[0, col].set_title(SCHEDULER_NAMES[scheduler], fontsize=8)
        axes[1, col].set_xlabel("epoch")
        axes[0, col].legend(fontsize=6)
    axes[0, 0].set_ylabel("learning rate")
    axes[1, 0].set_ylabel("momentum")
    ctx.figure(fig, data)


# ---- table 1: the hyperparameters ----

NOT_STATED = "(not stated)"
SEED_TABLE1 = {
    "Maximum learning rate": "0.1", "Maximum epochs": "64", "Momentum": "0.9 (overridden by one-cycle)",
    "Maximum scheduling steps": "5000", "Fraction of training dataset for validation": "0.2",
    "Weight decay": "0.0005",
    "Model": "ResNet-18 (CIFAR variant, its Figure 2); appendix: VGG-16 with batch norm",
    "Dataset": "CIFAR-10; appendix: FashionMNIST",
    "Optimizer and loss": "SGD with momentum, cross-entropy + L2 weight decay",
    "Schedulers": "constant; cosine annealing (lr), no restarts; one-cycle (lr and momentum); PyTorch 1.9.1 "
                  "defaults",
    "Label noise": "X % relabelled uniformly over all classes (may keep the original): 0, 20, 50 %",
    "Batch sizes": "(not given: the figures are lost)",
    "Learning rate per batch size": "0.1 for every run (common); figures 13-14 vary it (values not given)",
}
TABLE1_COLUMNS = {"CIFAR-10, figures 4-12": tuple(MAIN.values()), "CIFAR-10, figures 13-14": tuple(RATIO.values()),
                  "FashionMNIST, figures 15-17": (APPENDIX,)}
MODEL_NAMES = {"resnet18": "ResNet-18 (CIFAR)", "vgg16_bn": "VGG-16-BN (CIFAR-style)"}
DATASET_NAMES = {"cifar10": "CIFAR-10", "fashion-mnist": "FashionMNIST", "synthetic-cifar10": "synthetic CIFAR-10",
                 "synthetic-fashion-mnist": "synthetic FashionMNIST"}


def _text(value) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def _values(values, fmt=_text) -> str:
    """The distinct values, sorted, as text."""
    return ", ".join(fmt(v) for v in sorted(set(values)))


def hyperparameters(configs: list[dict], experiment: str, scale: str) -> dict[str, str]:
    """Table 1's rows, from the resolved run configs of one column's groups."""
    scheduled = [c for c in configs if c["schedule"]["name"] != "constant"]
    cycled = [c for c in configs if c["schedule"]["name"] == "onecycle"]
    opt = [c["optimizer"] for c in configs]
    momentum = _values(o["momentum"] for o in opt)
    if cycled:
        s = cycled[0]["schedule"]
        momentum += f" (one-cycle: {s['max_momentum']:g} to {s['base_momentum']:g} and back)"
    train, holdout = n_train(experiment, scale), {c["holdout"]["size"] for c in configs}
    schedules = []
    for name in dict.fromkeys(c["schedule"]["name"] for c in configs):
        s = next(c["schedule"] for c in configs if c["schedule"]["name"] == name)
        options = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in s.items()
                            if k not in ("name", "total_steps"))
        schedules.append(f"{name}" + (f" ({options})" if options else ""))
    return {
        "Maximum learning rate": _values(c["schedule"].get("max_lr") or c["optimizer"]["lr"] for c in configs),
        "Maximum epochs": _values(c["epochs"] for c in configs),
        "Momentum": momentum,
        "Maximum scheduling steps": (_values((c["schedule"]["total_steps"] for c in scheduled), lambda v: f"{v:,}")
                                     + " (then constant)") if scheduled else "(constant lr)",
        "Fraction of training dataset for validation":
            f"{_values(holdout)} ({train:,} train, {round(train * VAL_FRACTION / (1 - VAL_FRACTION)):,} validate; "
            "clean labels)",
        "Weight decay": _values(o["weight_decay"] for o in opt),
        "Model": _values((c["model"]["name"] for c in configs), MODEL_NAMES.get)
                 + f", width {_values(c['model']['width'] for c in configs)}",
        "Dataset": _values((c["dataset"] for c in configs), DATASET_NAMES.get)
                   + (f" ({_values((c['test_subset'] for c in configs), lambda v: f'{v:,}')} test images)"
                      if configs[0]["test_subset"] else ""),
        "Optimizer and loss": f"{_values(o['name'].upper() for o in opt)} (Nesterov "
                              f"{_values(o['nesterov'] for o in opt).lower()}), cross-entropy + weight decay",
        "Schedulers": "; ".join(schedules),
        "Label noise": f"{_values(c['noise']['kind'] for c in configs)}: "
                       + _values((c["noise"]["rate"] for c in configs), lambda v: f"{v:.0%}"),
        "Batch sizes": _values(c["batch_size"] for c in configs),
        "Learning rate per batch size": "; ".join(f"{b}: {_values(lr)}" for b, lr in pd.DataFrame(
            {"b": [c["batch_size"] for c in configs], "lr": [c["optimizer"]["lr"] for c in configs]}).groupby("b")["lr"]),
        "Augmentation": "none" if not any(c["augment"]["crop"] or c["augment"]["flip"] for c in configs)
                        else "crop/flip",
        "Evaluated": "validation and test at the end of every epoch",
    }


def table1(ctx) -> None:
    runs = PAPER.runs(ctx.scale, [0])
    columns = {"the seed (its Table 1 and text)": SEED_TABLE1}
    for label, groups in TABLE1_COLUMNS.items():
        configs = [r["run"] for r in runs if r["group"] in groups]
        columns[f"this harness, {label}, {ctx.scale} scale"] = hyperparameters(configs, GROUP_EXPERIMENT[groups[0]],
                                                                               ctx.scale)
    items = list(dict.fromkeys(item for values in columns.values() for item in values))
    ctx.table(pd.DataFrame({"hyperparameter": items, **{label: [values.get(item, NOT_STATED) for item in items]
                                                        for label, values in columns.items()}}))


# ---- the claims ----

def _mean_over_seeds(per_run: pd.DataFrame, keys: list[str]) -> pd.Series:
    return per_run.groupby(keys, sort=True)["value"].mean()


def best_val(log: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Per run the best validation accuracy (%) over its evaluations, then the mean over seeds."""
    rows = _evaluations(log)
    per_run = rows.groupby([*keys, "seed"])["val_acc1"].max().rename("value").reset_index()
    return _mean_over_seeds(per_run, keys) * 100


def late_mean(log: pd.DataFrame, keys: list[str], column: str, share: float = 0.9) -> pd.Series:
    """Per run the mean of `column` over its logged rows after `share` of its steps, mean over seeds."""
    rows = _logged(log, column)
    last = rows.groupby([*keys, "seed"])["step"].transform("max")
    per_run = rows[rows["step"] > share * last].groupby([*keys, "seed"])[column].mean().rename("value").reset_index()
    return _mean_over_seeds(per_run, keys)


def run_mean(log: pd.DataFrame, keys: list[str], column: str) -> pd.Series:
    """Per run the mean of `column` over all its logged rows, mean over seeds."""
    per_run = _logged(log, column).groupby([*keys, "seed"])[column].mean().rename("value").reset_index()
    return _mean_over_seeds(per_run, keys)


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


def _best_batch(group: str, smaller: bool):
    """Under noise, the batch size with the highest best validation accuracy (mean over seeds) is smaller
    than at 0 % noise (smaller=True), or not smaller (smaller=False), at every noise level run."""
    def check(results, step_logs):
        stats = best_val(step_logs[group], [RATE, BATCH])
        rates = _rates(stats)
        if not any(_is_clean(r) for r in rates) or len(rates) < 2:
            return False, f"noise levels run: {rates}; the claim needs 0 % and at least one noisy level"
        best, parts = {}, []
        for rate in rates:
            row = _row(stats, rate)
            best[rate] = int(row.idxmax())
            parts.append(f"{_noise_label(rate)}: best batch {best[rate]} ({_listing(row)})")
        if min(len(_row(stats, r)) for r in rates) < 2:
            return False, "; ".join(parts) + " (one batch size: nothing to choose)"
        clean = next(best[r] for r in rates if _is_clean(r))
        noisy = [best[r] for r in rates if not _is_clean(r)]
        holds = all(b < clean for b in noisy) if smaller else all(b >= clean for b in noisy)
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
                parts.append(f"{_noise_label(rate)}: {len(row)} batch size(s) measured, no trend")
                continue
            rho = spearman(row.index, row.to_numpy())
            ends = float(row.iloc[-1] - row.iloc[0])
            ok = not np.isnan(rho) and sign * rho > 0 and sign * ends > 0
            holds &= ok
            parts.append(f"{_noise_label(rate)}: Spearman {rho:.2f}, largest - smallest {ends:+.3f} ({_listing(row, 3)})")
        return bool(holds), "; ".join(parts) + f" ({what}, mean over seeds)"
    return check


def _ratio_stats(log: pd.DataFrame) -> pd.DataFrame:
    stats = best_val(log, [RATE, BATCH, LR]).rename("acc").reset_index()
    stats["ratio"] = _ratio(stats[BATCH], stats[LR])
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


DIRECTIONS = {"rising": "higher B/lr better (the seed's wording)",
              "falling": "lower B/lr, i.e. higher lr/B, better (Jastrzebski et al.'s direction)", None: "no order"}


def _describe_ratio(rate: float, configs: pd.DataFrame) -> str:
    listing = ", ".join(f"({int(r[BATCH])}, {r[LR]:g}) B/lr {r['ratio']:g}: {r['acc']:.2f}"
                        for _, r in configs.sort_values(["ratio", BATCH]).iterrows())
    order = DIRECTIONS[ratio_order(configs)] if configs["ratio"].nunique() > 1 else "a single ratio, nothing to order"
    return (f"{_noise_label(rate)}: {order}; spread within a ratio "
            f"{spread(configs, 'ratio'):.2f}, within a batch size {spread(configs, BATCH):.2f} ({listing})")


def _ratio_orders(group: str):
    def check(results, step_logs):
        stats = _ratio_stats(step_logs[group])
        parts, holds = [], True
        for rate, configs in stats.groupby(RATE):
            holds &= ratio_order(configs) is not None
            parts.append(_describe_ratio(rate, configs))
        return bool(holds and parts), "; ".join(parts) + " (best validation accuracy over the run, %, mean over seeds)"
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


def _claims() -> list[Claim]:
    out = []
    for scheduler, figure in (("onecycle", 4), ("cosine", 5)):
        out.append(Claim(f"best-batch-smaller-under-noise-{scheduler}",
                         f"{SCHEDULER_NAMES[scheduler]}: at every noise level above 0 % (20 %, 50 %), {BEST_STAT} is "
                         f"smaller than at 0 % noise (Figure {figure})",
                         _best_batch(MAIN[scheduler], smaller=True), step_logs=(MAIN[scheduler],)))
    out.append(Claim("best-batch-not-smaller-constant",
                     f"constant lr: at every noise level above 0 %, {BEST_STAT} is not smaller than at 0 % noise "
                     "(Rolnick et al.'s larger-batches-mitigate-noise holds; Figure 6)",
                     _best_batch(MAIN["constant"], smaller=False), step_logs=(MAIN["constant"],)))
    for scheduler, figure in (("onecycle", 10), ("cosine", 11), ("constant", 12)):
        out.append(Claim(f"noisy-fit-grows-with-batch-{scheduler}",
                         f"{SCHEDULER_NAMES[scheduler]}: at every noise level above 0 %, larger batches fit more of "
                         f"the noisy labels: {NOISY_STAT} has " + TREND.format(sign="positive", above="above")
                         + f" (Figure {figure})",
                         _trend(MAIN[scheduler], "batch_noisy_acc", True, late_mean, NOISY_STAT),
                         step_logs=(MAIN[scheduler],)))
    for scheduler, figure in (("onecycle", 7), ("cosine", 8)):
        out.append(Claim(f"grad-cosine-falls-with-batch-{scheduler}",
                         f"{SCHEDULER_NAMES[scheduler]}: at every noise level above 0 %, the clean examples' gradient "
                         f"agrees less with the whole batch's for larger batches: {COSINE_STAT} has "
                         + TREND.format(sign="negative", above="below") + f" (Figure {figure})",
                         _trend(MAIN[scheduler], "grad_cosine", False, run_mean, COSINE_STAT),
                         step_logs=(MAIN[scheduler],)))
    out.append(Claim("ratio-orders-constant",
                     "constant lr: at every noise level, the batch size / lr ratio orders the results: every "
                     "configuration of one ratio has a higher best validation accuracy (mean over seeds) than every "
                     "configuration of the next lower ratio, or every one a lower (either direction; Figure 14)",
                     _ratio_orders(RATIO["constant"]), step_logs=(RATIO["constant"],)))
    out.append(Claim("ratio-fails-onecycle-noisy",
                     "one-cycle: at every noise level above 0 %, the batch size / lr ratio does not order the best "
                     "validation accuracies (mean over seeds) as above, and configurations of the same batch size are "
                     "closer to each other than configurations of the same ratio (mean accuracy range within a batch "
                     "size below that within a ratio; Figure 13)",
                     _ratio_fails_under_noise(RATIO["onecycle"]), step_logs=(RATIO["onecycle"],)))
    appendix = "FashionMNIST, VGG-16-BN, one-cycle (the appendix; the seed draws no conclusion from it: the main " \
               "text's finding, checked on its runs)"
    out += [
        Claim("best-batch-smaller-under-noise-fashionmnist",
              f"{appendix}: at every noise level above 0 %, {BEST_STAT} is smaller than at 0 % (Figure 15)",
              _best_batch(APPENDIX, smaller=True), step_logs=(APPENDIX,)),
        Claim("grad-cosine-falls-with-batch-fashionmnist",
              f"{appendix}: at every noise level above 0 %, {COSINE_STAT} has "
              + TREND.format(sign="negative", above="below") + " (Figure 16)",
              _trend(APPENDIX, "grad_cosine", False, run_mean, COSINE_STAT), step_logs=(APPENDIX,)),
        Claim("noisy-fit-grows-with-batch-fashionmnist",
              f"{appendix}: at every noise level above 0 %, {NOISY_STAT} has "
              + TREND.format(sign="positive", above="above") + " (Figure 17)",
              _trend(APPENDIX, "batch_noisy_acc", True, late_mean, NOISY_STAT), step_logs=(APPENDIX,)),
    ]
    return out


CAPTIONS = {
    "figure4": "Validation accuracy vs wall time, one-cycle lr and momentum, per batch size and noise level",
    "figure5": "Validation accuracy vs wall time, cosine annealing, per batch size and noise level",
    "figure6": "Validation accuracy vs wall time, constant lr, per batch size and noise level",
    "figure7": "Cosine similarity of the clean examples' and the whole batch's gradient, one-cycle",
    "figure8": "Cosine similarity of the clean examples' and the whole batch's gradient, cosine annealing",
    "figure9": "Cosine similarity of the clean examples' and the whole batch's gradient, constant lr",
    "figure10": "Per-batch training accuracy on the noisy examples, one-cycle",
    "figure11": "Per-batch training accuracy on the noisy examples, cosine annealing",
    "figure12": "Per-batch training accuracy on the noisy examples, constant lr",
    "figure13": "Batch size / lr configurations with equal and different ratios, one-cycle: validation accuracy",
    "figure14": "Batch size / lr configurations with equal and different ratios, constant lr: validation accuracy",
    "figure15": "FashionMNIST, VGG-16-BN, one-cycle: validation accuracy vs wall time",
    "figure16": "FashionMNIST, VGG-16-BN, one-cycle: gradient cosine similarity (clean vs all)",
    "figure17": "FashionMNIST, VGG-16-BN, one-cycle: per-batch training accuracy on the noisy examples",
}


def _groups_of(name: str) -> tuple[str, ...]:
    if name in SCHEDULER_FIGURES:
        return (SCHEDULER_FIGURES[name][0],)
    if name in APPENDIX_FIGURES:
        return (APPENDIX,)
    return ({"figure13": RATIO["onecycle"], "figure14": RATIO["constant"]}[name],)


PAPER = Paper(
    slug="noise-batchsize",
    seed_file="002_44180c17f4ae5c17.txt",
    title="Label noise, batch size and learning-rate schedulers",
    groups=GROUPS,
    targets=(
        Target("table1", "table", (), table1, "Hyperparameters: the seed's Table 1 and the runs' resolved configs"),
        Target("figure3", "figure", (), figure3,
               "The three schedulers' lr and momentum over the run, from the schedule code, at three batch sizes "
               "(the 5,000 steps end in another epoch at each)"),
        *(Target(name, "figure", _groups_of(name), _figure(name), caption) for name, caption in CAPTIONS.items()),
    ),
    reported=(),  # the seed prints no numbers (its figures are lost from the text): its findings are the claims
    claims=tuple(_claims()),
)

"""Perfect Ordering Approximation and Cascading Sum Augmentation (seed 004, a thesis in two chapters).

This module is chapter 2 and the paper's spec; chapter 3 (cascading sum augmentation: tables 3.0-3.6,
figures 3.3-3.7, its numbers and claims) is robustrepro.papers.cascading_sum, joined to it here.

Chapter 2, perfect ordering: does the order of the batches matter, and can a model pick a good one?

- table2_1, figure2_1, figure2_2: the brute-force experiment (§2.2). 24 zeros and 24 ones of MNIST
  for training, 2,048 test images of 0 and 1, batch 8 (6 batches, one split for every epoch), one
  small convolutional network from one initialisation; epoch 1 trains all 6! = 720 batch orders,
  after each epoch KMeans on the runs' test losses keeps 12 runs (the run nearest each centre),
  each of which continues with all 720 orders of the next epoch; 13 epochs. Every ordering is a
  model of its own, trained side by side with the others (robustrepro.training.perfect_ordering).
  table2_1: min, mean and max test accuracy and min and max test loss over the runs of each epoch,
  beside the seed's; figure2_1: the distributions of test loss after epochs 1, 2, 5 and 6;
  figure2_2: of test accuracy after epochs 12 and 13.
- table2_2/figure2_3: the loss orderer (§2.4.1): every step, K candidate batches are scored by
  their loss under the current model and the lowest-loss one is trained on, K in {8, 16, 32, 64},
  against the baseline (random batches). table2_3/figure2_4: the maximum-loss-delta orderer
  (§2.4.2), each candidate tried for one update and scored by the drop of the loss on the same
  batch, the model and momentum rolled back after each trial, K in {8, 16, 32}; table2_4/
  figure2_5: the same scored on a static external batch of 512 test images drawn each epoch.
  PreAct ResNet-56 on CIFAR-10, SGD lr 0.05, Nesterov momentum 0.9, weight decay 1e-4, batch 128,
  pad-4 crops and flips, lr halved every 30 epochs, one seed for every run (same initialisation,
  same initial shuffle). Tables: test accuracy after epochs 1-10, beside the seed's; figures:
  train and test accuracy per epoch. The samplers are robustrepro.training.methods.ordering.

Where this harness reads the seed differently or fills a gap, and why:
- The brute-force experiment's network and optimizer are not given ("a small convolutional
  network"; Cosmin Pascaru's thesis, which has them, is not available). The experiment evaluates
  104,400 trained models on 2,048 images, so the network is chosen small (PERFECT_MODEL) and the
  optimizer (PERFECT_OPTIMIZER) so that epoch 1's spread of accuracy is in the seed's regime on the
  real MNIST (table 2.1: 67-90 %); see robustrepro.training.perfect_ordering for the calibration.
- Table 2.1's losses (2.39-2.45 at 78 % accuracy on a two-class problem, 0.13 at 99 %) cannot be
  mean cross-entropies; they read as the sum over the four 512-image test batches of each batch's
  mean, i.e. 4x the mean. The runs report the loss in that unit (test_loss; test_loss_mean is the
  mean), so the comparison sets like against like.
- The brute-force experiment is run once (max_seeds 1), as in the seed; it is 25 minutes or so on
  a 2-core CPU (README), and quick scale is the paper's setting.
- Candidates (§2.4): "the data loader randomly selects learning items to consider" from the batches
  not yet trained on in the epoch, so every example is still seen once an epoch and an epoch has the
  baseline's number of steps. Scores are taken in eval mode (no augmentation, batch norm with its
  running statistics).
- The external batch of the MLD orderer is drawn from the test set, as the seed says; the test
  accuracy of those runs is then measured partly on images that steered training (512 of 10,000).
- Epochs: the tables print epochs 1-10 and the seed's shortest MLD run (K=32) had 12; every run of
  the CIFAR groups trains 12 epochs at paper scale (the lr halving at 30 never happens). The seed's
  longer runs (24 and 48 epochs for MLD K=16 and 8) and its one-epoch K=391 runs (0.4715, 0.4831,
  eleven hours each) are not repeated.
- Transcription: table 2.2's last column is headed "NA K=64" (read as MA K=64); the baseline's
  epochs 7 and 9 both print 0.6926 in all three tables. Carried as printed.
- The loss sampler (§2.4.1: "indistinguishably similar" to the orderer, not shown) and the
  descending loss order (§2.4.1: "incapable of learning anything") are run beside table 2.2's at
  K=8, drawn in figure2_3 and tabled without reported numbers.

The claims: the spread of accuracy (max - min over the runs of an epoch) is smaller after the last
epoch than after the first; the best ordering's accuracy after epoch 1 exceeds the mean by at least
CLEAR_MARGIN points (the seed: 90.3 vs 77.6); the best ordering beats the worst after every epoch;
each orderer family beats the baseline after epoch 1 at every K; the baseline fluctuates more than
every orderer run, by the sum of its drops in test accuracy from one epoch to the next over epochs
1-10 (the seed's numbers: 16.4 points for the baseline, at most 10.9 for an orderer); and the
descending loss order does not learn: its final test accuracy stays within 10 points of chance.

Scales: quick runs the brute force as the paper (real MNIST, CPU) and the CIFAR comparisons on
10,000 training and 2,000 test images, PreAct ResNet-56 at half width, 10 epochs (README: runs and
GPU-hours); smoke runs every group on synthetic data: 16 training images in 4 batches (24 orderings,
3 kept, 13 epochs) and a one-block-per-stage preact ResNet on 256 images for 3 epochs.
"""

from __future__ import annotations

import pandas as pd

from robustrepro.analysis.figures import new_figure
from robustrepro.errors import UserError
from robustrepro.papers import cascading_sum
from robustrepro.papers.spec import Claim, Paper, Reported, RunGroup, Target

CANDIDATES = "sampler.candidates"

# --- the brute-force perfect ordering (§2.2) ---------------------------------------------------
PERFECT = "perfect-ordering"
PERFECT_MODEL = {"name": "tinyconv"}
PERFECT_OPTIMIZER = {"name": "sgd", "lr": 0.07, "momentum": 0.0, "nesterov": False, "weight_decay": 0.0}
PERFECT_EPOCHS = 13
PERFECT_RUN = {
    "dataset": "mnist",
    "shaping": {"kind": "imbalance", "classes": [0, 1], "proportion": 0.5, "size": 48},
    "model": PERFECT_MODEL,
    "optimizer": PERFECT_OPTIMIZER,
    "batch_size": 8,
    "epochs": PERFECT_EPOCHS,
    "orderings": {"keep": 12, "test_size": 2048, "loss_batch": 512},
}
PERFECT_SMOKE = {"shaping": {"size": 16}, "batch_size": 4, "epochs": PERFECT_EPOCHS, "model": {"width": 1.0},
                 "orderings": {"keep": 3, "test_size": 64, "loss_batch": 16}}

# Table 2.1: per epoch, min / mean / max test accuracy and min / max test loss (4x mean cross-entropy).
TABLE2_1 = ((0.671, 0.776, 0.903, 2.393, 2.449),
            (0.894, 0.937, 0.961, 1.643, 1.714),
            (0.959, 0.966, 0.971, 0.983, 1.023),
            (0.965, 0.973, 0.976, 0.626, 0.767),
            (0.972, 0.976, 0.980, 0.431, 0.582),
            (0.975, 0.980, 0.982, 0.322, 0.429),
            (0.979, 0.982, 0.985, 0.254, 0.294),
            (0.976, 0.983, 0.987, 0.217, 0.324),
            (0.979, 0.987, 0.990, 0.190, 0.294),
            (0.976, 0.989, 0.992, 0.178, 0.345),
            (0.979, 0.990, 0.993, 0.162, 0.320),
            (0.986, 0.991, 0.994, 0.144, 0.237),
            (0.984, 0.994, 0.995, 0.126, 0.269))
TABLE2_1_COLUMNS = ("test_acc1_min", "test_acc1_mean", "test_acc1_max", "test_loss_min", "test_loss_max")
TABLE2_1_LABELS = ("min accuracy", "mean accuracy", "max accuracy", "min loss", "max loss")

# --- the orderers on CIFAR-10 (§2.4) --------------------------------------------------------------
BASELINE, LOSS_ORDER, DESCENDING, LOSS_SAMPLE = "baseline", "loss-order", "loss-order-descending", "loss-sample"
DELTA_SAME, DELTA_EXTERNAL = "loss-delta-same", "loss-delta-external"
CIFAR_EPOCHS, REPORTED_EPOCHS = 12, 10
CIFAR_RUN = {
    "dataset": "cifar10",
    "model": {"name": "preact_resnet56"},
    "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-4},
    "schedule": {"name": "step", "step_size": 30, "gamma": 0.5},
    "epochs": CIFAR_EPOCHS,
    "batch_size": 128,
    "augment": {"crop": 4, "flip": True},
}
CIFAR_QUICK = {"train_subset": 10000, "test_subset": 2000, "epochs": 10, "model": {"width": 0.5}}
CIFAR_SMOKE = {"train_subset": 256, "test_subset": 128, "epochs": 3, "batch_size": 32,
               "model": {"name": "wrn", "depth": 10, "widen": 1, "width": 0.25, "dropout": 0.0}}
EXTERNAL_SMOKE = 32  # external batch at smoke scale (128 test images)

LOSS_ORDER_K, DELTA_K = (8, 16, 32, 64), (8, 16, 32)
SMOKE_K = (2,)  # one K per family at smoke scale: each run is a job of its own, and CI's time is short

# Tables 2.2-2.4: test accuracy after epochs 1-10; the baseline's column first, then each K.
TABLE2_2 = ((0.3926, 0.4422, 0.4392, 0.4363, 0.4503),
            (0.6005, 0.5564, 0.5622, 0.5613, 0.5109),
            (0.5616, 0.5984, 0.644, 0.624, 0.6318),
            (0.6415, 0.6598, 0.5353, 0.6168, 0.6375),
            (0.698, 0.6693, 0.6631, 0.6391, 0.6522),
            (0.7395, 0.6737, 0.6938, 0.713, 0.6775),
            (0.6926, 0.7283, 0.7376, 0.6677, 0.7238),
            (0.7709, 0.7485, 0.7426, 0.7512, 0.7417),
            (0.6926, 0.7355, 0.7618, 0.7694, 0.7611),
            (0.7875, 0.7648, 0.7792, 0.7757, 0.7302))
TABLE2_3 = ((0.3926, 0.4663, 0.4211, 0.4603),
            (0.6005, 0.6129, 0.5521, 0.5388),
            (0.5616, 0.6518, 0.6443, 0.6515),
            (0.6415, 0.6633, 0.6785, 0.6776),
            (0.698, 0.7114, 0.6981, 0.7101),
            (0.7395, 0.7011, 0.7144, 0.6866),
            (0.6926, 0.7552, 0.7162, 0.7379),
            (0.7709, 0.7461, 0.7202, 0.7747),
            (0.6926, 0.7643, 0.7797, 0.7802),
            (0.7875, 0.7983, 0.8025, 0.8037))
TABLE2_4 = ((0.3926, 0.4705, 0.479, 0.4673),
            (0.6005, 0.6022, 0.5809, 0.5897),
            (0.5616, 0.6531, 0.612, 0.6493),
            (0.6415, 0.6893, 0.6026, 0.6711),
            (0.698, 0.6684, 0.7156, 0.6847),
            (0.7395, 0.7246, 0.6919, 0.7477),
            (0.6926, 0.7626, 0.7264, 0.7496),
            (0.7709, 0.7537, 0.7596, 0.7118),
            (0.6926, 0.7582, 0.7633, 0.7907),
            (0.7875, 0.809, 0.7848, 0.8017))

# The orderer family of each table: (target, figure, group, K values, the seed's numbers, label).
ORDERER_TABLES = (("table2_2", "figure2_3", LOSS_ORDER, LOSS_ORDER_K, TABLE2_2, "MA"),
                  ("table2_3", "figure2_4", DELTA_SAME, DELTA_K, TABLE2_3, "MLD"),
                  ("table2_4", "figure2_5", DELTA_EXTERNAL, DELTA_K, TABLE2_4, "MLD"))
ORDERERS = (LOSS_ORDER, DELTA_SAME, DELTA_EXTERNAL)

CLEAR_MARGIN = 5.0  # points of accuracy between the best ordering and the mean after epoch 1
CHANCE_MARGIN = 10.0  # points above chance that still count as "does not learn"
NUM_CLASSES = 10  # CIFAR-10 (and its synthetic stand-in)


def _cifar_group(name: str, sampler: dict, ks: tuple[int, ...] | None = None,
                 smoke_sampler: dict | None = None) -> RunGroup:
    grid = {CANDIDATES: list(ks)} if ks else {}
    grids = {"smoke": {CANDIDATES: list(SMOKE_K)}} if ks else {}
    smoke = {**CIFAR_SMOKE, **({"sampler": smoke_sampler} if smoke_sampler else {})}
    return RunGroup(name=name, base={**CIFAR_RUN, "sampler": sampler}, grid=grid, grids=grids,
                    overrides={"quick": CIFAR_QUICK, "smoke": smoke})


GROUPS = (
    RunGroup(name=PERFECT, base=PERFECT_RUN, overrides={"smoke": PERFECT_SMOKE}, max_seeds=1),
    _cifar_group(BASELINE, {"name": "shuffle"}),
    _cifar_group(LOSS_ORDER, {"name": "loss_order", "order": "ascending"}, LOSS_ORDER_K),
    _cifar_group(DESCENDING, {"name": "loss_order", "order": "descending", "candidates": 8},
                 smoke_sampler={"candidates": SMOKE_K[0]}),
    RunGroup(name=LOSS_SAMPLE, base={**CIFAR_RUN, "sampler": {"name": "loss_sample", "candidates": 8}},
             grid={"sampler.weighting": ["direct", "inverse"]}, grids={"smoke": {"sampler.weighting": ["direct"]}},
             overrides={"quick": CIFAR_QUICK, "smoke": {**CIFAR_SMOKE, "sampler": {"candidates": SMOKE_K[0]}}}),
    _cifar_group(DELTA_SAME, {"name": "loss_delta", "score_on": "same"}, DELTA_K),
    _cifar_group(DELTA_EXTERNAL, {"name": "loss_delta", "score_on": "external", "external_size": 512}, DELTA_K,
                 smoke_sampler={"external_size": EXTERNAL_SMOKE}),
)


# --- the brute force: tables and figures ------------------------------------------------------------

def _perfect_history(ctx) -> pd.DataFrame:
    """history.csv of the brute-force run(s): one row per epoch, mean over seeds where there are several."""
    history = ctx.histories(PERFECT)
    return history.groupby("epoch", as_index=False)[list(TABLE2_1_COLUMNS)].mean()


def table2_1(ctx) -> None:
    history = _perfect_history(ctx)
    rows = []
    for _, row in history.iterrows():
        epoch = int(row["epoch"])
        paper = TABLE2_1[epoch - 1] if epoch <= len(TABLE2_1) else (float("nan"),) * len(TABLE2_1_COLUMNS)
        out = {"epoch": epoch}
        for column, label, reported in zip(TABLE2_1_COLUMNS, TABLE2_1_LABELS, paper):
            out[label] = row[column]
            out[f"{label} (paper)"] = reported
        rows.append(out)
    ctx.table(pd.DataFrame(rows), digits=3)


def orderings(ctx) -> pd.DataFrame:
    """Every trained ordering of the brute-force run(s): orderings.csv, with the run's seed."""
    frames = []
    for _, run in ctx.results[PERFECT].iterrows():
        path = ctx.runs_root / run["run_id"] / "orderings.csv"
        if not path.is_file():
            raise UserError(f"{path} is missing: run {run['run_id']} wrote no orderings.csv; delete its "
                            "metrics.json and rebuild it")
        frames.append(pd.read_csv(path).assign(seed=run["seed"]))
    return pd.concat(frames, ignore_index=True)


def _distributions(ctx, column: str, epochs: tuple[int, ...], label: str, scale: float) -> None:
    runs = orderings(ctx)
    fig, axes = new_figure(ncols=len(epochs), width=2.4, height=2.2)
    data = []
    for ax, epoch in zip(axes[0], epochs):
        values = runs.loc[runs["epoch"] == epoch, column] * scale
        if len(values):
            ax.hist(values, bins=30, color="C0")
        else:
            ax.text(0.5, 0.5, "not run at this scale", ha="center", va="center", transform=ax.transAxes, fontsize=7)
        ax.set_title(f"after epoch {epoch} ({len(values)} runs)", fontsize=8)
        ax.set_xlabel(label, fontsize=7)
        data.append(runs.loc[runs["epoch"] == epoch, ["seed", "epoch", "order", column]])
    axes[0, 0].set_ylabel("orderings", fontsize=7)
    fig.tight_layout()
    ctx.figure(fig, pd.concat(data, ignore_index=True))


def figure2_1(ctx) -> None:
    _distributions(ctx, "test_loss", (1, 2, 5, 6), "test loss (sum of 4 batch means)", 1.0)


def figure2_2(ctx) -> None:
    _distributions(ctx, "test_acc1", (12, 13), "test accuracy (%)", 100.0)


# --- the orderers: tables and figures ---------------------------------------------------------------

def _per_epoch(ctx, group: str) -> pd.DataFrame:
    """Mean over seeds of each run's train and test accuracy (%) per epoch, by the group's coordinates."""
    coords = ctx.coords(group)
    history = ctx.histories(group)
    means = history.groupby([*coords, "epoch"], as_index=False)[["train_acc", "test_acc1"]].mean()
    means[["train_acc", "test_acc1"]] *= 100
    return means.assign(group=group)


def _curves(ctx, group: str) -> list[tuple[str, pd.DataFrame]]:
    """(label, per-epoch rows) for each run of the group (one per K or sampler variant)."""
    data = _per_epoch(ctx, group)
    coords = ctx.coords(group)
    if not coords:
        return [(group, data)]
    name = "K" if coords[0] == CANDIDATES else coords[0].split(".")[-1]
    return [(f"{group} {name}={key}", rows) for key, rows in data.groupby(coords[0])]


def _extras(target: str) -> tuple[str, ...]:
    return (DESCENDING, LOSS_SAMPLE) if target == "table2_2" else ()


def _orderer_table(target: str):
    _, _, group, paper_ks, paper, label = next(t for t in ORDERER_TABLES if t[0] == target)

    def build(ctx) -> None:
        columns = [("Baseline", _per_epoch(ctx, BASELINE), [row[0] for row in paper])]
        runs = _per_epoch(ctx, group)
        ks = sorted(runs[CANDIDATES].unique())
        for k in ks:
            reported = [row[1 + paper_ks.index(k)] for row in paper] if k in paper_ks else []
            columns.append((f"{label} K={k}", runs[runs[CANDIDATES] == k], reported))
        for extra in _extras(target):
            for name, rows in _curves(ctx, extra):
                columns.append((name, rows, []))
        epochs = sorted({int(e) for _, rows, _ in columns for e in rows["epoch"]})
        table = pd.DataFrame({"epoch": epochs})
        for name, rows, reported in columns:
            by_epoch = rows.set_index("epoch")["test_acc1"]
            table[name] = [by_epoch.get(e, float("nan")) for e in epochs]
            if reported:
                table[f"{name} (paper)"] = [reported[e - 1] * 100 if e <= len(reported) else float("nan")
                                            for e in epochs]
        ctx.table(table, digits=2)

    return build


def _orderer_figure(target: str):
    table = next(t for t in ORDERER_TABLES if t[1] == target)

    def build(ctx) -> None:
        curves = _curves(ctx, BASELINE) + _curves(ctx, table[2]) + [c for g in _extras(table[0])
                                                                    for c in _curves(ctx, g)]
        fig, axes = new_figure(ncols=2, width=3.2, height=2.6, sharey=True)
        for i, (name, rows) in enumerate(curves):
            style = {"color": "k", "linewidth": 1.6} if name == BASELINE else {"color": f"C{i}"}
            for ax, column in zip(axes[0], ("train_acc", "test_acc1")):
                ax.plot(rows["epoch"], rows[column], marker=".", label=name, **style)
        for ax, title in zip(axes[0], ("train", "test")):
            ax.set_title(f"{title} accuracy", fontsize=8)
            ax.set_xlabel("epoch")
            ax.xaxis.get_major_locator().set_params(integer=True)
        axes[0, 0].set_ylabel("accuracy (%)")
        axes[0, 1].legend(fontsize=6)
        fig.tight_layout()
        data = pd.concat([rows.assign(curve=name) for name, rows in curves], ignore_index=True)
        ctx.figure(fig, data)

    return build


# --- claims -------------------------------------------------------------------------------------------

def _by_epoch(history: pd.DataFrame) -> pd.DataFrame:
    return history.groupby("epoch")[list(TABLE2_1_COLUMNS)].mean().sort_index()


def _spread_shrinks(results, histories) -> tuple[bool, str]:
    h = _by_epoch(histories[PERFECT]) * 100
    spread = h["test_acc1_max"] - h["test_acc1_min"]
    first, last = spread.index[0], spread.index[-1]
    return (bool(spread[last] < spread[first]),
            f"max - min test accuracy {spread[first]:.2f} points after epoch {first}, {spread[last]:.2f} after {last}")


def _best_beats_mean(results, histories) -> tuple[bool, str]:
    h = _by_epoch(histories[PERFECT]) * 100
    first = h.iloc[0]
    gap = first["test_acc1_max"] - first["test_acc1_mean"]
    return (bool(gap >= CLEAR_MARGIN),
            f"after epoch {h.index[0]}: max {first['test_acc1_max']:.2f} %, mean {first['test_acc1_mean']:.2f} % "
            f"({gap:.2f} points; the claim needs {CLEAR_MARGIN:g})")


def _best_beats_worst(results, histories) -> tuple[bool, str]:
    h = _by_epoch(histories[PERFECT]) * 100
    gaps = h["test_acc1_max"] - h["test_acc1_min"]
    ties = [int(e) for e in gaps.index[gaps <= 0]]
    return (not ties, f"smallest max - min gap {gaps.min():.2f} points (epoch {int(gaps.idxmin())})"
            + (f"; no better than the worst after epochs {ties}" if ties else ""))


def _test_acc(history: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Mean over seeds of test accuracy (%) per epoch: one column per run (keys' values), indexed by epoch."""
    means = history.groupby([*keys, "epoch"])["test_acc1"].mean() * 100
    return means.unstack(keys) if keys else means.to_frame(BASELINE)


def _beats_baseline_epoch1(group: str):
    def check(results, histories) -> tuple[bool, str]:
        base = _test_acc(histories[BASELINE], []).iloc[0, 0]
        runs = _test_acc(histories[group], [CANDIDATES]).iloc[0]
        losing = [int(k) for k, v in runs.items() if not v > base]
        listing = ", ".join(f"K={int(k)} {v:.2f}" for k, v in runs.items())
        return not losing, f"after epoch 1: baseline {base:.2f} %, {group} {listing}"

    return check


def total_drop(accuracy: pd.Series, last_epoch: int = REPORTED_EPOCHS) -> float:
    """Sum of the falls of test accuracy from one epoch to the next, over epochs 1 to last_epoch."""
    steps = accuracy.sort_index().loc[:last_epoch].diff().dropna()
    return float(-steps[steps < 0].sum())


def _baseline_fluctuates_most(results, histories) -> tuple[bool, str]:
    base = total_drop(_test_acc(histories[BASELINE], []).iloc[:, 0])
    drops = {f"{g} K={int(k)}": total_drop(column)
             for g in ORDERERS for k, column in _test_acc(histories[g], [CANDIDATES]).items()}
    worst = max(drops, key=drops.get)
    return (bool(all(base > d for d in drops.values())),
            f"sum of epoch-to-epoch drops of test accuracy, epochs 1-{REPORTED_EPOCHS}: baseline {base:.2f} points; "
            f"largest of the orderers {drops[worst]:.2f} ({worst})")


def _descending_does_not_learn(results, histories) -> tuple[bool, str]:
    final = _test_acc(histories[DESCENDING], []).iloc[-1, 0]
    chance = 100 / NUM_CLASSES
    return (bool(final <= chance + CHANCE_MARGIN),
            f"descending loss order: {final:.2f} % after the last epoch; chance {chance:.0f} %")


CLAIMS = (
    Claim("perfect-ordering-spread-shrinks", "the spread of test accuracy over the orderings shrinks over the epochs",
          _spread_shrinks, histories=(PERFECT,)),
    Claim("perfect-ordering-best-clearly-above-mean",
          f"after epoch 1 the best ordering's accuracy exceeds the mean by at least {CLEAR_MARGIN:g} points",
          _best_beats_mean, histories=(PERFECT,)),
    Claim("perfect-ordering-best-beats-worst", "the best ordering beats the worst after every epoch",
          _best_beats_worst, histories=(PERFECT,)),
    *(Claim(f"{group}-beats-baseline-epoch1", f"every K of {group} beats the baseline's test accuracy after epoch 1",
            _beats_baseline_epoch1(group), histories=(BASELINE, group)) for group in ORDERERS),
    Claim("baseline-fluctuates-most",
          "the baseline's test accuracy falls more from epoch to epoch (sum of drops, epochs 1-10) than every "
          "orderer run's", _baseline_fluctuates_most, histories=(BASELINE, *ORDERERS)),
    Claim("descending-does-not-learn",
          f"training on the highest-loss candidate batch does not learn (final test accuracy within "
          f"{CHANCE_MARGIN:g} points of chance)", _descending_does_not_learn, histories=(DESCENDING,)),
)


# --- reported numbers -----------------------------------------------------------------------------------

def _reported() -> list[Reported]:
    out = []
    for epoch, row in enumerate(TABLE2_1, start=1):
        for column, label, value in zip(TABLE2_1_COLUMNS, TABLE2_1_LABELS, row):
            percent = "acc" in column
            out.append(Reported("table2_1", PERFECT, {}, column, round(value * 100, 1) if percent else value,
                                method=label,
                                epoch=epoch, percent=percent,
                                note="" if percent else "sum over 4 test batches of 512 of the mean cross-entropy"))
    for target, _, group, ks, paper, label in ORDERER_TABLES:
        for epoch, row in enumerate(paper, start=1):
            out.append(Reported(target, BASELINE, {}, "test_acc1", round(row[0] * 100, 2), method="baseline",
                                epoch=epoch))
            for k, value in zip(ks, row[1:]):
                out.append(Reported(target, group, {CANDIDATES: k}, "test_acc1", round(value * 100, 2),
                                    method=f"{label} K={k}", epoch=epoch))
    return out


ORDERER_CAPTIONS = {
    "table2_2": "Loss orderer (ascending, K candidate batches) vs baseline: test accuracy (%) per epoch",
    "table2_3": "Max-loss-delta orderer, same-batch delta: test accuracy (%) per epoch",
    "table2_4": "Max-loss-delta orderer, delta on a static external batch of 512: test accuracy (%) per epoch",
    "figure2_3": "Loss orderer vs baseline: train and test accuracy per epoch",
    "figure2_4": "Max-loss-delta orderer (same batch) vs baseline: train and test accuracy per epoch",
    "figure2_5": "Max-loss-delta orderer (external batch) vs baseline: train and test accuracy per epoch",
}


def _targets() -> list[Target]:
    out = [
        Target("table2_1", "table", (PERFECT,), table2_1,
               "Brute-force batch orderings: min, mean and max test accuracy, min and max test loss per epoch"),
        Target("figure2_1", "figure", (PERFECT,), figure2_1,
               "Distribution of test loss over the orderings after epochs 1, 2, 5 and 6"),
        Target("figure2_2", "figure", (PERFECT,), figure2_2,
               "Distribution of test accuracy over the orderings after epochs 12 and 13"),
    ]
    for table, figure, group, _, _, _ in ORDERER_TABLES:
        groups = (BASELINE, group, *_extras(table))
        out.append(Target(table, "table", groups, _orderer_table(table), ORDERER_CAPTIONS[table]))
        out.append(Target(figure, "figure", groups, _orderer_figure(figure), ORDERER_CAPTIONS[figure]))
    return out


PAPER = Paper(
    slug="ordering-augment",
    seed_file="004_34a48cf8b8a0c413.txt",
    title="Perfect Ordering Approximation and Cascading Sum Augmentation",
    groups=GROUPS + cascading_sum.GROUPS,
    targets=tuple(_targets()) + cascading_sum.TARGETS,
    reported=tuple(_reported()) + cascading_sum.REPORTED,
    claims=CLAIMS + cascading_sum.CLAIMS,
)

"""An Empirical Study of Robust Deep Models (seed 000): clustering-based subsampling.

Faster training (6.1): offline set cover of radius balls on pretrained features or last-layer
gradients, one random member of each cluster per epoch weighted by cluster size (Tables 1-3,
Figure 1); online facility location on softmax-layer gradients p - y, re-selected every epoch
after a 5-epoch warm-up (Table 4, Figure 2). ResNet-18, batch 32, SGD lr 0.1 decayed by 0.3 at
epochs 60, 90, 120 and 160 of 200. Robust training (6.2): ResNet-32 on CIFAR-10 with 20 % or
40 % of the labels flipped to another class, batch 128, momentum 0.9, weight decay 2e-4, lr 0.1
decayed to 0.01 and 0.001 at epochs 120 and 160; "FL only" selects 40 % once at the decay,
"Weighted only" weighs every point by its ball count from the decay on, "FL Weighted" does both
(Table 5, Figures 3-5). FashionMNIST repeats both (Tables 6-8, Figure 6).

Choices where the paper is silent or its numbers do not carry over, each stated where used:
- Radii. The paper's radii live in its own feature space; another model, subset or training
  length moves every distance. Each set cover here is instead asked for the paper's cluster
  count as a share of the points (Tables 1, 3 and 6 give it), and the radius realising it is
  found by bisection; tables show the paper's r beside the radius found.
- Ball counts (6.2) are counted among the points of the same training label, on unit-length
  penultimate features of the model at the decay epoch: a mislabelled point sits among another
  class's points and so has few. Radii there are in that unit space (at most 2 apart), so the
  paper's r = 2.0 does not carry over; Figure 4 sweeps radii of this space.
- Checkpoints (Table 3): "stable" is every 10th epoch from epoch 100, "all" every 10th from
  epoch 10; Table 2's Grad@FC uses the final model.
- Table 8 is garbled in the seed's text; it is read as columns (noise 0.2: Full 88.35, FL
  Weighted 89.47; noise 0.4: Full 89.26, FL Weighted 91.42).
- Smaller scales keep every ratio of the schedule (milestones, warm-up, decay epoch) and of the
  clustering (shares), on fewer examples and epochs; quick FashionMNIST trains LeNet (see _sizes).

Where this harness reads the seed's text one way among others:
- 6.1 names only batch 32, SGD, lr 0.1 "decreasing by 0.3 at epoch 60, 90, 120, 160" and 200
  epochs. Its runs here borrow 6.2's momentum 0.9, weight decay 2e-4 and pad-4 crop and flip
  augmentation, which 6.1 does not state.
- "decreasing by 0.3" is read as multiplying the lr by 0.3 at each milestone (0.1, 0.03, 0.009,
  0.0027, 0.00081); subtracting 0.3 would make it negative, and "by 30 %" (times 0.7) is the other
  reading.
- 6.2's "initial learning rate of 0.1, then decay by 0.01 at the 120th epoch and again at the
  160th" is read as lr 0.1, then 0.01, then 0.001 (times 0.1 twice), not as multiplying by 0.01
  (0.001, then 1e-5).
- Table 5's caption says "Top-1 validation error", but its header says "Top1 Acc" and higher is
  better in the text; it is read as test accuracy (6.2 holds no validation split out).
- The robust radius is 0.5 in the unit feature space above, a choice of this harness, not the
  paper's r = 2.0 (unit vectors lie at most 2 apart, so every same-label point would fall in every
  ball and all points of a label would weigh alike); Figure 4 sweeps 0.2 to 0.65 around it.
- Figure 2's random baseline is given the facility-location run's warm-up (5 full-data epochs of
  200 at paper scale, _at(5, scale) below it) before its fixed random 40 % takes over. The paper
  does not say whether its baseline, "trained with a fixed ratio of data points sampled at the
  beginning of training", had one; without it the comparison would credit facility location
  with 5 epochs of extra updates. The claim's "FL leads early" window starts after the warm-up.
"""

from __future__ import annotations

import pandas as pd

from robustrepro.papers.spec import Claim, Paper, Reported, RunGroup, Target
from robustrepro.analysis.figures import new_figure
from robustrepro.runs import run_id
from robustrepro.scales import SCALES

CIFAR, FMNIST = "cifar10", "fashion-mnist"
POINTS = {CIFAR: 50000, FMNIST: 60000}
SHARE, SPACE, CKPT, RATIO, RADIUS, NOISE = ("clustering.share", "clustering.space", "clustering.checkpoints",
                                             "sampler.ratio", "sampler.radius", "noise.rate")

# The paper's radius -> number of clusters (Tables 1 and 6).
CIFAR_CLUSTERS = {0: 50000, 1.2: 49500, 1.3: 49043, 1.5: 46078, 1.6: 43105, 1.7: 38964, 1.8: 34099, 2.0: 23346}
FMNIST_CLUSTERS = {0: 60000, 0.2: 59607, 0.4: 50020, 0.5: 37267, 0.6: 24203, 1.0: 4276, 1.5: 797}
# Tables 2 and 3, gradient rows: label -> (space, checkpoints, paper's clusters, acc@1, acc@5).
GRAD_ROWS = {
    "Grad@FC": ("grad_fc", "final", 42053, 90.70, 99.74),
    "FC@stable": ("grad_fc", "stable", 47794, 92.47, 99.83),
    "FC@all": ("grad_fc", "all", 48960, 92.46, 99.80),
    "SM@stable": ("grad_softmax", "stable", 43334, 92.48, 99.80),
    "SM@stable (39.7K)": ("grad_softmax", "stable", 39715, 92.15, None),  # Table 3's parenthesis: acc@1 only
    "SM@all": ("grad_softmax", "all", 42939, 92.43, 99.77),
}
NO_CLUSTERING = (50000, 92.90, 99.81)  # Table 2: clusters, acc@1, acc@5
FL_RATIOS = [0.2, 0.4, 0.6, 0.8, 1.0]
ROBUST_RATIO = 0.4  # Figure 5: "FL ratio = 0.4 works best"
ROBUST_RADII = [0.2, 0.35, 0.5, 0.65]  # unit-feature space; see the module docstring
ROBUST_RADIUS = 0.5


def share(clusters: int, dataset: str) -> float:
    return round(clusters / POINTS[dataset], 4)


# ---- what the schedule looks like at each scale: the paper's, shrunk in proportion ----

EPOCHS = {"paper": 200, "quick": 20, "smoke": 4}


def _at(epoch: int, scale: str) -> int:
    """The paper's epoch `epoch` (of 200) at this scale."""
    return max(1, round(epoch * EPOCHS[scale] / 200))


def _every(start: int, scale: str) -> list[int]:
    """Every 10th epoch of the paper's 200 from `start`, at this scale."""
    return sorted({_at(e, scale) for e in range(start, 201, 10)})


def _fast_schedule(scale: str) -> dict:
    return {"name": "multistep", "milestones": sorted({_at(e, scale) for e in (60, 90, 120, 160)}), "gamma": 0.3}


def _robust_schedule(scale: str) -> dict:
    return {"name": "multistep", "milestones": sorted({_at(e, scale) for e in (120, 160)}), "gamma": 0.1}


def _sizes(dataset: str, scale: str, model: str, robust: bool) -> dict:
    """Data and model per scale. Quick FashionMNIST runs on a 2-core CPU in under half an hour: LeNet
    (no batch norm) takes a 10x smaller lr than the paper's ResNets (0.01 at batch 32, scaled with
    the batch) and no augmentation, which it cannot fit within 20 epochs."""
    if scale == "paper":
        return {}
    if scale == "smoke":
        return {"train_subset": 600, "test_subset": 200, "model": {"name": "lenet", "width": 0.5}}
    if dataset == FMNIST:
        return {"train_subset": 8000, "test_subset": 2000, "model": {"name": "lenet"},
                "augment": {"crop": 0, "flip": False}, "optimizer": {"lr": 0.04 if robust else 0.01}}
    return {"train_subset": 10000, "test_subset": 2000, "model": {"name": model, "width": 0.5}}


def _scaled(dataset: str, model: str, robust: bool, extra=None) -> dict:
    """Per-scale overrides: sizes, epochs and schedule below the paper scale, plus `extra(scale)` at every scale."""
    out = {scale: {**_sizes(dataset, scale, model, robust), "epochs": EPOCHS[scale],
                   "schedule": (_robust_schedule if robust else _fast_schedule)(scale)} for scale in ("quick", "smoke")}
    if extra is not None:
        out = {scale: {**out.get(scale, {}), **extra(scale)} for scale in SCALES}
    return out


AUGMENT = {"crop": 4, "flip": True}  # 6.2 (He et al.), and "the same scheme" for FashionMNIST (6.3)


def _fast_base(dataset: str) -> dict:
    return {"dataset": dataset, "model": {"name": "resnet18"}, "batch_size": 32, "epochs": 200,
            "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 2e-4},
            "schedule": _fast_schedule("paper"), "augment": AUGMENT, "eval_every": 1}


def _robust_base(dataset: str, sampler: dict) -> dict:
    return {"dataset": dataset, "model": {"name": "resnet32"}, "batch_size": 128, "epochs": 200,
            "noise": {"kind": "uniform", "rate": 0.4},
            "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 2e-4},
            "schedule": _robust_schedule("paper"), "augment": AUGMENT, "sampler": sampler, "eval_every": 1}


def _pretrain(prefix: str, dataset: str) -> RunGroup:
    """The full-data run: Table 2's "No clustering", Figure 2's full data, and the source of every
    clustering (its snapshots every 10th epoch give the gradients of Table 3)."""
    return RunGroup(
        name=f"{prefix}-pretrain", base={**_fast_base(dataset), "snapshots": _every(10, "paper")},
        overrides=_scaled(dataset, "resnet18", False, lambda scale: {"snapshots": _every(10, scale)}),
    )


def _source(pretrain: RunGroup, scale: str) -> str:
    """The id of the seed-0 pretrained run at this scale: every seed clusters on its vectors."""
    return run_id(pretrain.points(scale, [0])[0][1])


def _setcover(name: str, dataset: str, pretrain: RunGroup, grid: dict, grids: dict, clustering: dict) -> RunGroup:
    """Set-cover runs: one random member per cluster each epoch, weighted by cluster size (5.3)."""
    base = {**_fast_base(dataset), "sampler": {"name": "clusters", "weighting": "size"},
            "clustering": {"source": _source(pretrain, "paper"), **clustering}}
    return RunGroup(
        name=name, base=base, grid=grid, grids=grids,
        overrides=_scaled(dataset, "resnet18", False, lambda scale: {"clustering": {"source": _source(pretrain, scale)}}),
    )


def _checkpoints(kind: str, scale: str) -> tuple:
    return {"final": ("final",), "stable": tuple(_every(100, scale)), "all": tuple(_every(10, scale))}[kind]


def _grad_rows(scale: str) -> list[tuple]:
    """Table 2's Grad@FC and Table 3's gradient rows: (space, checkpoints, share of the paper's clusters)."""
    return [(space, _checkpoints(kind, scale), share(n, CIFAR)) for space, kind, n, _, _ in GRAD_ROWS.values()]


def _facility(name: str, dataset: str, ratios: dict) -> RunGroup:
    """6.1.2: 5 full-data epochs, then facility location re-selected every epoch, cluster-size weights."""
    base = {**_fast_base(dataset), "sampler": {"name": "facility_location", "ratio": 0.4, "warmup_epochs": 5},
            "metrics": ["data_covered"]}
    return RunGroup(
        name=name, base=base, grid={RATIO: FL_RATIOS}, grids=ratios,
        overrides=_scaled(dataset, "resnet18", False,
                          lambda scale: {"sampler": {"warmup_epochs": _at(5, scale)}}),
    )


SCHEMES = {
    "full": ("Full", {"name": "shuffle"}),
    "fl": ("FL only", {"name": "facility_location", "ratio": ROBUST_RATIO, "reselect": False, "weights": "equal"}),
    "weighted": ("Weighted only", {"name": "ball_weighted", "radius": ROBUST_RADIUS, "space": "features"}),
    "flw": ("FL Weighted", {"name": "facility_location", "ratio": ROBUST_RATIO, "reselect": False, "weights": "ball",
                            "radius": ROBUST_RADIUS, "space": "features"}),
}


def _robust(prefix: str, dataset: str, scheme: str, grid: dict, grids: dict | None = None) -> RunGroup:
    """6.2: selection and weights start at the first lr decay (epoch 120 of 200)."""
    sampler = dict(SCHEMES[scheme][1])
    if scheme != "full":
        sampler["warmup_epochs"] = 120
    def extra(scale):
        return {"sampler": {"warmup_epochs": _at(120, scale)}} if scheme != "full" else {}
    return RunGroup(name=f"{prefix}-{scheme}", base=_robust_base(dataset, sampler), grid=grid, grids=grids or {},
                    overrides=_scaled(dataset, "resnet32", True, extra))


C10_PRETRAIN = _pretrain("c10", CIFAR)
FM_PRETRAIN = _pretrain("fm", FMNIST)
GROUPS = (
    C10_PRETRAIN,
    _setcover("c10-setcover", CIFAR, C10_PRETRAIN, {SHARE: [share(n, CIFAR) for n in CIFAR_CLUSTERS.values()]},
              {"smoke": {SHARE: [share(CIFAR_CLUSTERS[r], CIFAR) for r in (0, 1.6, 2.0)]}},
              {"space": "features", "checkpoints": ["final"]}),
    _setcover("c10-setcover-grad", CIFAR, C10_PRETRAIN, {(SPACE, CKPT, SHARE): _grad_rows("paper")},
              {s: {(SPACE, CKPT, SHARE): _grad_rows(s)} for s in ("quick", "smoke")},
              {"space": "grad_fc", "checkpoints": ["final"]}),
    _facility("c10-facility", CIFAR, {"smoke": {RATIO: [0.4, 1.0]}}),
    # Figure 2's random 40 %, with the same full-data warm-up as the facility-location run it is drawn against.
    RunGroup(name="c10-random",
             base={**_fast_base(CIFAR), "sampler": {"name": "fixed_subset", "fraction": 0.4, "warmup_epochs": 5}},
             overrides=_scaled(CIFAR, "resnet18", False, lambda scale: {"sampler": {"warmup_epochs": _at(5, scale)}})),
    *(_robust("c10", CIFAR, scheme, {NOISE: [0.2, 0.4]}, {"smoke": {NOISE: [0.4]}}) for scheme in SCHEMES),
    _robust("c10-radius", CIFAR, "flw", {RADIUS: ROBUST_RADII}, {"smoke": {RADIUS: [0.35, 0.65]}}),
    _robust("c10-ratio", CIFAR, "flw", {RATIO: [0.2, 0.4, 0.6, 0.8]}, {"smoke": {RATIO: [0.2, 0.8]}}),
    FM_PRETRAIN,
    _setcover("fm-setcover", FMNIST, FM_PRETRAIN, {SHARE: [share(n, FMNIST) for n in FMNIST_CLUSTERS.values()]},
              {"smoke": {SHARE: [share(FMNIST_CLUSTERS[r], FMNIST) for r in (0, 0.5, 1.0)]}},
              {"space": "features", "checkpoints": ["final"]}),
    _facility("fm-facility", FMNIST, {"smoke": {RATIO: [0.4, 1.0]}}),
    *(_robust("fm", FMNIST, scheme, {NOISE: [0.2, 0.4]}, {"smoke": {NOISE: [0.4]}}) for scheme in ("full", "flw")),
)
# _robust names its groups {prefix}-{scheme}: c10-full, ..., c10-radius-flw, c10-ratio-flw, fm-full, fm-flw.


# ---- tables and figures ----

def _summary(results: pd.DataFrame, keys: list[str], columns: dict[str, str]) -> pd.DataFrame:
    """Mean and std over seeds (in %) of each metric, one row per combination of keys."""
    grouped = results.groupby(keys, sort=False, dropna=False)
    out = grouped.size().rename("n").reset_index()
    for label, metric in columns.items():
        stats = grouped[metric].agg(["mean", "std"]).reset_index(drop=True) * 100
        out[label], out[f"{label} ±"] = stats["mean"].to_numpy(), stats["std"].to_numpy()
    return out


def _clusters(results: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    grouped = results.groupby(keys, sort=False, dropna=False)
    return grouped[["clusters", "cluster_radius"]].mean().reset_index()


def _setcover_table(ctx, group: str, paper_clusters: dict, dataset: str, paper_acc: dict, with_acc5: bool):
    results = ctx.results[group]
    metrics = {"acc@1": "test_acc1", **({"acc@5": "test_acc5"} if with_acc5 else {})}
    table = _summary(results, [SHARE], metrics).merge(_clusters(results, [SHARE]), on=SHARE)
    by_share = {share(n, dataset): r for r, n in paper_clusters.items()}
    table.insert(0, "r (paper)", table[SHARE].map(by_share))
    table.insert(1, "clusters (paper)", table["r (paper)"].map(paper_clusters))
    table = table.rename(columns={"clusters": "clusters (ours)", "cluster_radius": "radius (ours)"})
    table[["clusters (paper)", "clusters (ours)"]] = table[["clusters (paper)", "clusters (ours)"]].round().astype("Int64")
    for label in metrics:
        table[f"{label} (paper)"] = table["r (paper)"].map({r: v[label] for r, v in paper_acc.items()})
    ctx.table(table.drop(columns=[SHARE]))


T1_ACC = {0: (92.65, 99.81), 1.2: (92.84, 99.84), 1.3: (92.41, 99.80), 1.5: (92.70, 99.80), 1.6: (92.26, 99.81),
          1.7: (91.55, 99.75), 1.8: (91.36, 99.81), 2.0: (87.57, 99.57)}
T6_ACC = {0: 93.12, 0.2: 93.13, 0.4: 92.97, 0.5: 93.06, 0.6: 92.60, 1.0: 92.08, 1.5: 91.85}


def table1(ctx) -> None:
    _setcover_table(ctx, "c10-setcover", CIFAR_CLUSTERS, CIFAR,
                    {r: {"acc@1": a1, "acc@5": a5} for r, (a1, a5) in T1_ACC.items()}, True)


def table6(ctx) -> None:
    _setcover_table(ctx, "fm-setcover", FMNIST_CLUSTERS, FMNIST, {r: {"acc@1": a} for r, a in T6_ACC.items()}, False)


def _curves(ctx, group: str, key: str, panels: list[tuple[str, str]], label=str) -> None:
    """Mean curves over seeds of each value of `key`: one panel per (history column, y label)."""
    history = ctx.histories(group)
    data = history.groupby([key, "epoch"], sort=True)[[c for c, _ in panels]].mean().reset_index()
    fig, axes = new_figure(ncols=len(panels))
    for ax, (column, ylabel) in zip(axes[0], panels):
        for value, rows in data.groupby(key, sort=True):
            ax.plot(rows["epoch"], rows[column] * (100 if "acc" in column else 1), label=label(value))
        ax.set(xlabel="epoch", ylabel=ylabel)
    axes[0, 0].legend(fontsize=6)
    ctx.figure(fig, data)


def figure1(ctx) -> None:
    by_share = {share(n, CIFAR): r for r, n in CIFAR_CLUSTERS.items()}
    _curves(ctx, "c10-setcover", SHARE, [("train_loss", "train loss"), ("test_acc1", "test acc@1 (%)")],
            label=lambda s: f"r={by_share.get(s, '?')} ({s:.0%} clusters)")


def _near(column: str, value: float):
    return lambda runs: (runs[column] - value).abs() < 1e-9


def _feature(r: float, label: str | None = None) -> tuple:
    """A Table 1 run as a row of Tables 2-3: (label, group, row filter, paper's clusters, acc@1, acc@5)."""
    n = CIFAR_CLUSTERS[r]
    return (label or f"Feature r={r}", "c10-setcover", _near(SHARE, share(n, CIFAR)), n, *T1_ACC[r])


def _gradient(label: str) -> tuple:
    space, kind, n, acc1, acc5 = GRAD_ROWS[label]

    def pick(runs):
        final = runs[CKPT].astype(str).str.contains("final") == (kind == "final")
        return (runs[SPACE] == space) & final & _near(SHARE, share(n, CIFAR))(runs)
    return label, "c10-setcover-grad", pick, n, acc1, acc5


def _rows_table(ctx, parts: list[tuple]) -> None:
    """One row per part: our clusters and accuracy (mean over seeds) beside the paper's."""
    rows = []
    for label, group, pick, clusters, acc1, acc5 in parts:
        runs = ctx.results[group]
        runs = runs[pick(runs)] if pick is not None else runs
        rows.append({"model": label, "clusters": round(runs["clusters"].mean()) if "clusters" in runs and len(runs)
                     else None, "n": len(runs),
                     "acc@1": runs["test_acc1"].mean() * 100, "acc@1 ±": runs["test_acc1"].std() * 100,
                     "acc@5": runs["test_acc5"].mean() * 100, "acc@5 ±": runs["test_acc5"].std() * 100,
                     "clusters (paper)": clusters, "acc@1 (paper)": acc1, "acc@5 (paper)": acc5})
    table = pd.DataFrame(rows)
    table["clusters"] = table["clusters"].astype("Int64")
    ctx.table(table)


def table2(ctx) -> None:
    _rows_table(ctx, [("No clustering", "c10-pretrain", None, *NO_CLUSTERING), _feature(1.6, "Feature"),
                      _gradient("Grad@FC")])


def table3(ctx) -> None:
    _rows_table(ctx, [_feature(1.5), _gradient("FC@stable"), _gradient("FC@all"), _feature(1.6), _feature(1.7),
                      _gradient("SM@stable"), _gradient("SM@stable (39.7K)"), _gradient("SM@all")])


T4 = {0.2: (40, 80.79), 0.4: (60, 85.17), 0.6: (80, 89.16), 0.8: (92, 91.76), 1.0: (100, 93.08)}
T7 = {0.2: (35, 90.68), 0.4: (50, 90.71), 0.6: (75, 91.17), 0.8: (90, 91.45), 1.0: (100, 93.12)}


def _facility_table(ctx, group: str, paper: dict) -> None:
    table = _summary(ctx.results[group], [RATIO], {"data covered": "data_covered", "acc@1": "test_acc1"})
    table["data covered (paper)"] = table[RATIO].map({r: v[0] for r, v in paper.items()})
    table["acc@1 (paper)"] = table[RATIO].map({r: v[1] for r, v in paper.items()})
    ctx.table(table.rename(columns={RATIO: "facility ratio"}))


def table4(ctx) -> None:
    _facility_table(ctx, "c10-facility", T4)


def table7(ctx) -> None:
    _facility_table(ctx, "fm-facility", T7)


def figure2(ctx) -> None:
    frames = []
    for label, group, pick in (("full data", "c10-pretrain", None), ("random 40%", "c10-random", None),
                               ("facility location 40%", "c10-facility", lambda h: (h[RATIO] - 0.4).abs() < 1e-9)):
        history = ctx.histories(group)
        history = history[pick(history)] if pick else history
        frames.append(history.groupby("epoch")[["train_loss", "test_acc1"]].mean().reset_index().assign(scheme=label))
    data = pd.concat(frames, ignore_index=True)
    fig, axes = new_figure(ncols=2)
    for scheme, rows in data.groupby("scheme", sort=False):
        axes[0, 0].plot(rows["epoch"], rows["train_loss"], label=scheme)
        axes[0, 1].plot(rows["epoch"], rows["test_acc1"] * 100, label=scheme)
    axes[0, 0].set(xlabel="epoch", ylabel="train loss")
    axes[0, 1].set(xlabel="epoch", ylabel="test acc@1 (%)")
    axes[0, 0].legend(fontsize=6)
    ctx.figure(fig, data)


def _robust_table(ctx, prefix: str, schemes: list[str], paper: dict) -> None:
    frames = []
    for scheme in schemes:
        summary = _summary(ctx.results[f"{prefix}-{scheme}"], [NOISE], {"acc@1": "test_acc1"})
        frames.append(summary.assign(scheme=SCHEMES[scheme][0]))
    data = pd.concat(frames, ignore_index=True)
    data["acc@1 (paper)"] = [paper.get((s, r), float("nan")) for s, r in zip(data["scheme"], data[NOISE])]
    ctx.table(data[["scheme", NOISE, "n", "acc@1", "acc@1 ±", "acc@1 (paper)"]].rename(columns={NOISE: "noise"}))


T5 = {("Full", 0.2): 87.22, ("Full", 0.4): 83.20, ("FL only", 0.2): 88.39, ("FL only", 0.4): 83.64,
      ("Weighted only", 0.2): 88.69, ("Weighted only", 0.4): 84.18, ("FL Weighted", 0.2): 89.72,
      ("FL Weighted", 0.4): 85.16}
T8 = {("Full", 0.2): 88.35, ("FL Weighted", 0.2): 89.47, ("Full", 0.4): 89.26, ("FL Weighted", 0.4): 91.42}


def table5(ctx) -> None:
    _robust_table(ctx, "c10", list(SCHEMES), T5)


def table8(ctx) -> None:
    _robust_table(ctx, "fm", ["full", "flw"], T8)


def _scheme_curves(ctx, prefix: str, schemes: list[str], noises: list[float], columns: list[tuple[str, str]]) -> None:
    frames = []
    for scheme in schemes:
        history = ctx.histories(f"{prefix}-{scheme}")
        history = history[history[NOISE].isin(noises)]
        mean = history.groupby([NOISE, "epoch"])[[c for c, _ in columns]].mean().reset_index()
        frames.append(mean.assign(scheme=SCHEMES[scheme][0]))
    data = pd.concat(frames, ignore_index=True)
    panels = [(noise, column, ylabel) for noise in sorted(data[NOISE].unique()) for column, ylabel in columns]
    fig, axes = new_figure(ncols=len(panels))
    for ax, (noise, column, ylabel) in zip(axes[0], panels):
        for scheme, rows in data[data[NOISE] == noise].groupby("scheme", sort=False):
            ax.plot(rows["epoch"], rows[column] * 100, label=scheme)
        ax.set(title=f"noise {noise}", xlabel="epoch", ylabel=ylabel)
    axes[0, 0].legend(fontsize=6)
    ctx.figure(fig, data.rename(columns={NOISE: "noise"}))


def figure3(ctx) -> None:
    _scheme_curves(ctx, "c10", list(SCHEMES), [0.4], [("test_acc1", "test acc@1 (%)"), ("test_acc5", "test acc@5 (%)")])


def figure6(ctx) -> None:
    _scheme_curves(ctx, "fm", ["full", "flw"], [0.2, 0.4], [("test_acc1", "test acc@1 (%)")])


def _ablation(ctx, group: str, key: str, xlabel: str) -> None:
    data = _summary(ctx.results[group], [key], {"acc@1": "test_acc1"}).sort_values(key)
    fig, axes = new_figure()
    ax = axes[0, 0]
    ax.errorbar(data[key], data["acc@1"], yerr=data["acc@1 ±"].fillna(0), marker="o", capsize=2)
    ax.set(xlabel=xlabel, ylabel="test acc@1 (%), noise 0.4")
    ctx.figure(fig, data.rename(columns={key: xlabel}))


def figure4(ctx) -> None:
    _ablation(ctx, "c10-radius-flw", RADIUS, "radius r (unit feature space)")


def figure5(ctx) -> None:
    _ablation(ctx, "c10-ratio-flw", RATIO, "facility-location ratio")


# ---- the paper's findings, checked on the reproduced numbers ----

def _acc(results: dict, group: str, key: str) -> pd.Series:
    """Mean test acc@1 (%) over seeds for each value of `key`."""
    return results[group].groupby(key)["test_acc1"].mean() * 100


def _beat_full(prefix: str, schemes: list[str], noises: list[float]):
    """Each of `schemes` beats Full at every noise level of `noises` that was run, and the last of
    them (FL Weighted) beats every other scheme compared. Levels not run at a scale are named, not
    checked (smoke runs noise 0.4 only)."""
    def check(results):
        acc = {s: _acc(results, f"{prefix}-{s}", NOISE) for s in ["full", *schemes]}
        run = [n for n in noises if all(n in a.index for a in acc.values())]
        best = schemes[-1]
        holds = bool(run) and all(acc[s][n] > acc["full"][n] for s in schemes for n in run) and \
            all(acc[best][n] > max(a[n] for s, a in acc.items() if s != best) for n in run)
        parts = [f"noise {n}: " + ", ".join(f"{SCHEMES[s][0]} {a[n]:.2f}" for s, a in acc.items()) for n in run]
        parts += [f"noise {n} not run at this scale" for n in noises if n not in run]
        return holds, "; ".join(parts)
    return check


def _degrades(group: str):
    def check(results):
        acc = _acc(results, group, SHARE).sort_index()
        holds = bool(acc.iloc[0] < acc.iloc[-1])
        return holds, f"acc@1 {acc.iloc[-1]:.2f} at {acc.index[-1]:.0%} clusters -> {acc.iloc[0]:.2f} at {acc.index[0]:.0%}"
    return check


# The first selection alone covers about the ratio, so "covers more than the ratio" needs a margin
# to say anything; Tables 4 and 7 show 10 to 20 points more at every ratio below 100 %.
COVERED_MARGIN = 0.05


def _covered_above_ratio(group: str):
    def check(results):
        covered = results[group].groupby(RATIO)["data_covered"].mean()
        below = covered[covered.index < 1 - 1e-9]  # at ratio 1.0 everything is covered from the start
        holds = bool(len(below)) and bool((below >= below.index + COVERED_MARGIN - 1e-9).all())
        return holds, "; ".join(f"ratio {r:.0%}: covered {c:.1%}" for r, c in below.items()) or \
            "no ratio below 100 % was run at this scale"
    return check


EIGHTY_GAP = 2.0  # points of acc@1 that 80 % may lose to 100 % (the paper: 1.32 on CIFAR-10, 1.67 on FashionMNIST)


def _eighty_competitive(group: str):
    def check(results):
        acc = _acc(results, group, RATIO)
        if 0.8 not in acc.index or 1.0 not in acc.index:
            return False, "ratio 80 % or 100 % not run at this scale"
        return bool(acc[1.0] - acc[0.8] <= EIGHTY_GAP), f"acc@1 at 100 %: {acc[1.0]:.2f}, at 80 %: {acc[0.8]:.2f}"
    return check


TABLE3_GRADIENTS = ["FC@stable", "FC@all", "SM@stable", "SM@all"]


def _softmax_stable_best(results):
    """Table 3: "gradients from the softmax layer using checkpoints starting from 100 epochs gives the
    best test set accuracy". Its four gradient rows are compared; the 39.7K row (SM@stable with fewer
    clusters) is left out: it is there to set softmax gradients against features at about 39K clusters."""
    runs = results["c10-setcover-grad"]
    acc = {label: runs[_gradient(label)[2](runs)]["test_acc1"].mean() * 100 for label in TABLE3_GRADIENTS}
    run = {label: a for label, a in acc.items() if pd.notna(a)}  # NaN: that row was not run at this scale
    others = [a for k, a in run.items() if k != "SM@stable"]
    holds = "SM@stable" in run and bool(others) and all(run["SM@stable"] > a for a in others)
    return bool(holds), "acc@1: " + ", ".join(f"{k} {a:.2f}" if pd.notna(a) else f"{k} not run" for k, a in acc.items())


def _random_overtakes(results, histories):
    """Figure 2: facility location "has better performance at the very beginning, but is soon surpassed
    by the random baseline". Early is the first tenth of the epochs from FL's first epoch on its own
    selection (the first with data_covered); the end is the runs' final accuracy."""
    def at_40(runs):
        return runs[(runs[RATIO] - 0.4).abs() < 1e-9]

    fl_history, rand_history = at_40(histories["c10-facility"]), histories["c10-random"]
    selecting = fl_history.loc[fl_history["data_covered"].notna(), "epoch"]
    if selecting.empty:
        return False, "facility location 40 % never trained on a selection of its own"
    start = int(selecting.min())
    early = range(start, start + max(1, round(fl_history["epoch"].max() / 10)))

    def early_acc(history):
        return history.loc[history["epoch"].isin(early), "test_acc1"].mean() * 100

    fl_early, rand_early = early_acc(fl_history), early_acc(rand_history)
    fl_end = at_40(results["c10-facility"])["test_acc1"].mean() * 100
    rand_end = results["c10-random"]["test_acc1"].mean() * 100
    holds = bool(fl_early > rand_early and rand_end > fl_end)
    span = f"epoch {early.start}" if len(early) == 1 else f"epochs {early.start}-{early.stop - 1}"
    return holds, (f"{span}: facility location 40 % {fl_early:.2f} vs random 40 % {rand_early:.2f}; "
                   f"final: facility location {fl_end:.2f} vs random {rand_end:.2f}")


PAPER = Paper(
    slug="robust-clustering",
    seed_file="000_9056e04c36fe5545.txt",
    title="An Empirical Study of Robust Deep Models",
    groups=GROUPS,
    targets=(
        Target("table1", "table", ("c10-setcover",), table1,
               "CIFAR-10 set cover on pretrained features: clusters and accuracy for each radius (at the paper's cluster share)"),
        Target("figure1", "figure", ("c10-setcover",), figure1, "Train loss and test accuracy of the Table 1 runs"),
        Target("table2", "table", ("c10-pretrain", "c10-setcover", "c10-setcover-grad"), table2,
               "No clustering vs feature distance vs last-FC-layer gradient distance"),
        Target("table3", "table", ("c10-setcover", "c10-setcover-grad"), table3,
               "Gradient source (FC vs softmax layer) and checkpoints (stable: every 10th epoch from 100; all: from the start) vs features"),
        Target("table4", "table", ("c10-facility",), table4,
               "CIFAR-10 online facility location on softmax-layer gradients: data covered and accuracy per ratio"),
        Target("figure2", "figure", ("c10-pretrain", "c10-random", "c10-facility"), figure2,
               "Train loss and test accuracy: facility location 40 % vs a fixed random 40 % vs the full data"),
        Target("table5", "table", tuple(f"c10-{s}" for s in SCHEMES), table5,
               "ResNet-32 on noisy CIFAR-10: Full, FL only, Weighted only, FL Weighted (test acc@1)"),
        Target("figure3", "figure", tuple(f"c10-{s}" for s in SCHEMES), figure3,
               "Test acc@1 and acc@5 of the four Table 5 schemes at noise 0.4"),
        Target("figure4", "figure", ("c10-radius-flw",), figure4, "Ablation over the ball radius r (FL Weighted, noise 0.4)"),
        Target("figure5", "figure", ("c10-ratio-flw",), figure5, "Ablation over the facility-location ratio (FL Weighted, noise 0.4)"),
        Target("table6", "table", ("fm-setcover",), table6,
               "FashionMNIST set cover: clusters and accuracy for each radius (at the paper's cluster share)"),
        Target("table7", "table", ("fm-facility",), table7,
               "FashionMNIST facility location: data covered and accuracy per ratio"),
        Target("figure6", "figure", ("fm-full", "fm-flw"), figure6,
               "FashionMNIST test acc@1 at noise 0.2 and 0.4: Full vs FL Weighted"),
        Target("table8", "table", ("fm-full", "fm-flw"), table8, "FashionMNIST, Full vs FL Weighted at noise 0.2 and 0.4"),
    ),
    reported=(
        *(Reported("table1", "c10-setcover", {SHARE: share(n, CIFAR)}, metric, value, note=f"r={r}")
          for r, n in CIFAR_CLUSTERS.items() for metric, value in zip(("test_acc1", "test_acc5"), T1_ACC[r])),
        *(Reported("table2", "c10-pretrain", {}, metric, value, method="No clustering")
          for metric, value in zip(("test_acc1", "test_acc5"), NO_CLUSTERING[1:])),
        *(Reported("table2" if label == "Grad@FC" else "table3", "c10-setcover-grad",
                   {SPACE: space, SHARE: share(n, CIFAR)}, metric, value, method=label)
          for label, (space, _, n, acc1, acc5) in GRAD_ROWS.items()
          for metric, value in (("test_acc1", acc1), ("test_acc5", acc5)) if value is not None),
        *(Reported("table4", "c10-facility", {RATIO: r}, metric, value)
          for r, (covered, acc) in T4.items() for metric, value in (("data_covered", covered), ("test_acc1", acc))),
        *(Reported("table5", f"c10-{key}", {NOISE: noise}, "test_acc1", T5[(label, noise)], method=label)
          for key, (label, _) in SCHEMES.items() for noise in (0.2, 0.4)),
        *(Reported("table6", "fm-setcover", {SHARE: share(n, FMNIST)}, "test_acc1", T6_ACC[r], note=f"r={r}")
          for r, n in FMNIST_CLUSTERS.items()),
        *(Reported("table7", "fm-facility", {RATIO: r}, metric, value)
          for r, (covered, acc) in T7.items() for metric, value in (("data_covered", covered), ("test_acc1", acc))),
        *(Reported("table8", f"fm-{key}", {NOISE: noise}, "test_acc1", T8[(SCHEMES[key][0], noise)],
                   method=SCHEMES[key][0], note="Table 8 read as columns; the seed's text garbles it")
          for key in ("full", "flw") for noise in (0.2, 0.4)),
    ),
    claims=(
        Claim("schemes-beat-full-cifar", "On CIFAR-10 at noise 0.2 and 0.4, FL only, Weighted only and FL Weighted "
              "each beat Full, and FL Weighted is the highest of the four (Table 5)",
              _beat_full("c10", ["fl", "weighted", "flw"], [0.2, 0.4])),
        Claim("fl-weighted-beats-full-fmnist", "On FashionMNIST, FL Weighted beats Full at noise 0.2 and 0.4 (Table 8)",
              _beat_full("fm", ["flw"], [0.2, 0.4])),
        Claim("fewer-clusters-lower-accuracy-cifar", "Accuracy degrades as the clusters shrink (Table 1)",
              _degrades("c10-setcover")),
        Claim("fewer-clusters-lower-accuracy-fmnist", "Accuracy degrades as the clusters shrink (Table 6)",
              _degrades("fm-setcover")),
        Claim("softmax-stable-best", "Softmax-layer gradients at the stable checkpoints (SM@stable) give the best "
              "accuracy of Table 3's gradient clusterings (FC@stable, FC@all, SM@stable, SM@all)",
              _softmax_stable_best),
        *(Claim(f"covered-exceeds-ratio-{name}", f"Re-selecting every epoch covers at least {COVERED_MARGIN * 100:g} "
                f"percentage points more of the data than the ratio, at every ratio below 100 % (Table {table})",
                _covered_above_ratio(group))
          for name, table, group in (("cifar", 4, "c10-facility"), ("fmnist", 7, "fm-facility"))),
        *(Claim(f"eighty-percent-competitive-{name}", f"Facility location on 80 % of {dataset} is competitive with "
                f"100 % (Table {table}; the check allows at most {EIGHTY_GAP:g} points less acc@1)",
                _eighty_competitive(group))
          for name, dataset, table, group in (("cifar", "CIFAR-10", 4, "c10-facility"),
                                              ("fmnist", "FashionMNIST", 7, "fm-facility"))),
        Claim("random-overtakes-fl", "Facility location 40 % leads a fixed random 40 % over the first tenth of the "
              "epochs after its warm-up, and the random 40 % ends above it (Figure 2)", _random_overtakes,
              histories=("c10-facility", "c10-random")),
    ),
)

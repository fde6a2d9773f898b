"""Robust-clustering's tables and figures, each declared on its builder (TARGETS)."""

from __future__ import annotations

import pandas as pd

from robustrepro.analysis.curves import curve_stats, plot_band
from robustrepro.analysis.figures import new_figure
from robustrepro.analysis.stats import mean_std
from robustrepro.papers.spec import Targets
from robustrepro.papers.robust_clustering.reported import GRAD_ROWS, NO_CLUSTERING, T1_ACC, T4, T5, T6_ACC, T7, T8
from robustrepro.papers.robust_clustering.settings import (CIFAR, CIFAR_CLUSTERS, CKPT, FMNIST, FMNIST_CLUSTERS, NOISE,
                                                           RADIUS, RATIO, SCHEMES, SHARE, SPACE, share)

TARGETS = Targets()
ROBUST_C10 = tuple(f"c10-{s}" for s in SCHEMES)


def _summary(results: pd.DataFrame, keys: list[str], columns: dict[str, str]) -> pd.DataFrame:
    """Mean and std over seeds (in %) of each metric, one row per combination of keys (in the runs' order)."""
    out = results.groupby(keys, sort=False, dropna=False).size().rename("n").reset_index()
    for label, metric in columns.items():
        stats = mean_std(results, keys, metric, scale=100).rename(columns={"mean": label, "std": f"{label} ±"})
        out = out.merge(stats[[*keys, label, f"{label} ±"]], on=keys, how="left")
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


@TARGETS("table1", groups=("c10-setcover",),
         caption="CIFAR-10 set cover on pretrained features: clusters and accuracy for each radius (at the paper's cluster share)")
def table1(ctx) -> None:
    _setcover_table(ctx, "c10-setcover", CIFAR_CLUSTERS, CIFAR,
                    {r: {"acc@1": a1, "acc@5": a5} for r, (a1, a5) in T1_ACC.items()}, True)


def _curves(ctx, group: str, key: str, panels: list[tuple[str, str]], label=str) -> None:
    """Mean curves over seeds (± std) of each value of `key`: one panel per (history column, y label)."""
    history = ctx.histories(group)
    data = history.groupby([key, "epoch"], sort=True)[[c for c, _ in panels]].mean().reset_index()
    fig, axes = new_figure(ncols=len(panels))
    for ax, (column, ylabel) in zip(axes[0], panels):
        stats = curve_stats(history, [key], "epoch", column, scale=100 if "acc" in column else 1)
        for value, rows in stats.groupby(key, sort=True):
            plot_band(ax, rows["epoch"], rows["mean"], rows["std"], label=label(value))
        ax.set(xlabel="epoch", ylabel=ylabel)
    axes[0, 0].legend(fontsize=6)
    ctx.figure(fig, data)


@TARGETS("figure1", groups=("c10-setcover",), caption="Train loss and test accuracy of the Table 1 runs")
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


def gradient(label: str) -> tuple:
    """A gradient row of Tables 2-3: (label, group, row filter, paper's clusters, acc@1, acc@5)."""
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


@TARGETS("table2", groups=("c10-pretrain", "c10-setcover", "c10-setcover-grad"),
         caption="No clustering vs feature distance vs last-FC-layer gradient distance")
def table2(ctx) -> None:
    _rows_table(ctx, [("No clustering", "c10-pretrain", None, *NO_CLUSTERING), _feature(1.6, "Feature"),
                      gradient("Grad@FC")])


@TARGETS("table3", groups=("c10-setcover", "c10-setcover-grad"),
         caption="Gradient source (FC vs softmax layer) and checkpoints (stable: every 10th epoch from 100; all: from the start) vs features")
def table3(ctx) -> None:
    _rows_table(ctx, [_feature(1.5), gradient("FC@stable"), gradient("FC@all"), _feature(1.6), _feature(1.7),
                      gradient("SM@stable"), gradient("SM@stable (39.7K)"), gradient("SM@all")])


def _facility_table(ctx, group: str, paper: dict) -> None:
    table = _summary(ctx.results[group], [RATIO], {"data covered": "data_covered", "acc@1": "test_acc1"})
    table["data covered (paper)"] = table[RATIO].map({r: v[0] for r, v in paper.items()})
    table["acc@1 (paper)"] = table[RATIO].map({r: v[1] for r, v in paper.items()})
    ctx.table(table.rename(columns={RATIO: "facility ratio"}))


@TARGETS("table4", groups=("c10-facility",),
         caption="CIFAR-10 online facility location on softmax-layer gradients: data covered and accuracy per ratio")
def table4(ctx) -> None:
    _facility_table(ctx, "c10-facility", T4)


def _fl_40(runs: pd.DataFrame) -> pd.Series:
    return (runs[RATIO] - 0.4).abs() < 1e-9


@TARGETS("figure2", groups=("c10-pretrain", "c10-random", "c10-facility"),
         caption="Train loss and test accuracy: facility location 40 % vs a fixed random 40 % vs the full data")
def figure2(ctx) -> None:
    panels = [("train_loss", "train loss", 1), ("test_acc1", "test acc@1 (%)", 100)]
    frames, curves = [], []
    for label, group, pick in (("full data", "c10-pretrain", None), ("random 40%", "c10-random", None),
                               ("facility location 40%", "c10-facility", _fl_40)):
        history = ctx.histories(group)
        history = history[pick(history)] if pick else history
        frames.append(history.groupby("epoch")[["train_loss", "test_acc1"]].mean().reset_index().assign(scheme=label))
        curves.append((label, [curve_stats(history, [], "epoch", column, scale) for column, _, scale in panels]))
    data = pd.concat(frames, ignore_index=True)
    fig, axes = new_figure(ncols=2)
    for label, stats in curves:
        for ax, rows in zip(axes[0], stats):
            plot_band(ax, rows["epoch"], rows["mean"], rows["std"], label=label)
    for ax, (_, ylabel, _) in zip(axes[0], panels):
        ax.set(xlabel="epoch", ylabel=ylabel)
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


@TARGETS("table5", groups=ROBUST_C10,
         caption="ResNet-32 on noisy CIFAR-10: Full, FL only, Weighted only, FL Weighted (test acc@1)")
def table5(ctx) -> None:
    _robust_table(ctx, "c10", list(SCHEMES), T5)


def _scheme_curves(ctx, prefix: str, schemes: list[str], noises: list[float], columns: list[tuple[str, str]]) -> None:
    """Mean curves over seeds (± std, in %) of each scheme: one panel per noise level and history column."""
    frames, curves = [], {}
    for scheme in schemes:
        history = ctx.histories(f"{prefix}-{scheme}")
        history = history[history[NOISE].isin(noises)]
        mean = history.groupby([NOISE, "epoch"])[[c for c, _ in columns]].mean().reset_index()
        frames.append(mean.assign(scheme=SCHEMES[scheme][0]))
        for column, _ in columns:
            curves[SCHEMES[scheme][0], column] = curve_stats(history, [NOISE], "epoch", column, scale=100)
    data = pd.concat(frames, ignore_index=True)
    panels = [(noise, column, ylabel) for noise in sorted(data[NOISE].unique()) for column, ylabel in columns]
    fig, axes = new_figure(ncols=len(panels))
    for ax, (noise, column, ylabel) in zip(axes[0], panels):
        for (label, curve_column), stats in curves.items():
            if curve_column == column:
                rows = stats[stats[NOISE] == noise]
                plot_band(ax, rows["epoch"], rows["mean"], rows["std"], label=label)
        ax.set(title=f"noise {noise}", xlabel="epoch", ylabel=ylabel)
    axes[0, 0].legend(fontsize=6)
    ctx.figure(fig, data.rename(columns={NOISE: "noise"}))


@TARGETS("figure3", groups=ROBUST_C10, caption="Test acc@1 and acc@5 of the four Table 5 schemes at noise 0.4")
def figure3(ctx) -> None:
    _scheme_curves(ctx, "c10", list(SCHEMES), [0.4], [("test_acc1", "test acc@1 (%)"), ("test_acc5", "test acc@5 (%)")])


def _ablation(ctx, group: str, key: str, xlabel: str) -> None:
    data = _summary(ctx.results[group], [key], {"acc@1": "test_acc1"}).sort_values(key)
    fig, axes = new_figure()
    ax = axes[0, 0]
    ax.errorbar(data[key], data["acc@1"], yerr=data["acc@1 ±"].fillna(0), marker="o", capsize=2)
    ax.set(xlabel=xlabel, ylabel="test acc@1 (%), noise 0.4")
    ctx.figure(fig, data.rename(columns={key: xlabel}))


@TARGETS("figure4", groups=("c10-radius-flw",), caption="Ablation over the ball radius r (FL Weighted, noise 0.4)")
def figure4(ctx) -> None:
    _ablation(ctx, "c10-radius-flw", RADIUS, "radius r (unit feature space)")


@TARGETS("figure5", groups=("c10-ratio-flw",),
         caption="Ablation over the facility-location ratio (FL Weighted, noise 0.4)")
def figure5(ctx) -> None:
    _ablation(ctx, "c10-ratio-flw", RATIO, "facility-location ratio")


@TARGETS("table6", groups=("fm-setcover",),
         caption="FashionMNIST set cover: clusters and accuracy for each radius (at the paper's cluster share)")
def table6(ctx) -> None:
    _setcover_table(ctx, "fm-setcover", FMNIST_CLUSTERS, FMNIST, {r: {"acc@1": a} for r, a in T6_ACC.items()}, False)


@TARGETS("table7", groups=("fm-facility",), caption="FashionMNIST facility location: data covered and accuracy per ratio")
def table7(ctx) -> None:
    _facility_table(ctx, "fm-facility", T7)


@TARGETS("figure6", groups=("fm-full", "fm-flw"),
         caption="FashionMNIST test acc@1 at noise 0.2 and 0.4: Full vs FL Weighted")
def figure6(ctx) -> None:
    _scheme_curves(ctx, "fm", ["full", "flw"], [0.2, 0.4], [("test_acc1", "test acc@1 (%)")])


@TARGETS("table8", groups=("fm-full", "fm-flw"), caption="FashionMNIST, Full vs FL Weighted at noise 0.2 and 0.4")
def table8(ctx) -> None:
    _robust_table(ctx, "fm", ["full", "flw"], T8)

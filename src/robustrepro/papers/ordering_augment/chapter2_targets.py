"""Chapter 2's tables and figures: the brute force's spread per epoch (table2_1, figures 2_1-2_2) and the
orderers against the baseline per epoch (tables 2_2-2_4, figures 2_3-2_5)."""

from __future__ import annotations

import pandas as pd

from robustrepro.analysis.curves import plot_band
from robustrepro.analysis.figures import new_figure
from robustrepro.errors import UserError
from robustrepro.papers.ordering_augment.chapter2_settings import (BASELINE, CANDIDATES, DELTA_EXTERNAL, DELTA_SAME,
                                                                   DESCENDING, LOSS_ORDER, LOSS_SAMPLE, ORDERER_K,
                                                                   ORDERER_LABEL, PERFECT)
from robustrepro.papers.ordering_augment.curves import curve_means, without_std
from robustrepro.papers.ordering_augment.reported import ORDERER_TABLES, TABLE2_1, TABLE2_1_COLUMNS, TABLE2_1_LABELS
from robustrepro.papers.spec import Targets

TARGETS = Targets()

# --- the brute force ------------------------------------------------------------------------------


def _perfect_history(ctx) -> pd.DataFrame:
    """history.csv of the brute-force run(s): one row per epoch, mean over seeds where there are several."""
    history = ctx.histories(PERFECT)
    return history.groupby("epoch", as_index=False)[list(TABLE2_1_COLUMNS)].mean()


@TARGETS("table2_1", groups=(PERFECT,),
         caption="Brute-force batch orderings: min, mean and max test accuracy, min and max test loss per epoch")
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


@TARGETS("figure2_1", groups=(PERFECT,),
         caption="Distribution of test loss over the orderings after epochs 1, 2, 5 and 6")
def figure2_1(ctx) -> None:
    _distributions(ctx, "test_loss", (1, 2, 5, 6), "test loss (sum of 4 batch means)", 1.0)


@TARGETS("figure2_2", groups=(PERFECT,),
         caption="Distribution of test accuracy over the orderings after epochs 12 and 13")
def figure2_2(ctx) -> None:
    _distributions(ctx, "test_acc1", (12, 13), "test accuracy (%)", 100.0)


# --- the orderers -----------------------------------------------------------------------------------

ACCURACIES = ("train_acc", "test_acc1")
# Run beside the loss orderer at K=8, in its table and figure without reported numbers.
EXTRAS = {LOSS_ORDER: (DESCENDING, LOSS_SAMPLE)}


def _per_epoch(ctx, group: str) -> pd.DataFrame:
    """Mean over seeds of each run's train and test accuracy (%) per epoch, by the group's coordinates,
    with their standard deviations over seeds (<column>_std)."""
    means = curve_means(ctx.histories(group), ctx.coords(group), "epoch", ACCURACIES, scale=100)
    return means.assign(group=group)


def _curves(ctx, group: str) -> list[tuple[str, pd.DataFrame]]:
    """(label, per-epoch rows) for each run of the group (one per K or sampler variant)."""
    data = _per_epoch(ctx, group)
    coords = ctx.coords(group)
    if not coords:
        return [(group, data)]
    name = "K" if coords[0] == CANDIDATES else coords[0].split(".")[-1]
    return [(f"{group} {name}={key}", rows) for key, rows in data.groupby(coords[0])]


def orderer_table(target: str):
    """Table 2.2, 2.3 or 2.4: test accuracy per epoch of the baseline and each K of the family, each
    beside the seed's."""
    group, paper = ORDERER_TABLES[target]
    paper_ks, label = ORDERER_K[group], ORDERER_LABEL[group]

    def build(ctx) -> None:
        columns = [("Baseline", _per_epoch(ctx, BASELINE), [row[0] for row in paper])]
        runs = _per_epoch(ctx, group)
        ks = sorted(runs[CANDIDATES].unique())
        for k in ks:
            reported = [row[1 + paper_ks.index(k)] for row in paper] if k in paper_ks else []
            columns.append((f"{label} K={k}", runs[runs[CANDIDATES] == k], reported))
        for extra in EXTRAS.get(group, ()):
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


def orderer_figure(group: str):
    """Figure 2.3, 2.4 or 2.5: train and test accuracy per epoch (± std over seeds) of the baseline and
    each run of the family."""
    def build(ctx) -> None:
        curves = _curves(ctx, BASELINE) + _curves(ctx, group) + [c for g in EXTRAS.get(group, ())
                                                                 for c in _curves(ctx, g)]
        fig, axes = new_figure(ncols=2, width=3.2, height=2.6, sharey=True)
        for i, (name, rows) in enumerate(curves):
            style = {"color": "k", "linewidth": 1.6} if name == BASELINE else {"color": f"C{i}"}
            for ax, column in zip(axes[0], ACCURACIES):
                plot_band(ax, rows["epoch"], rows[column], rows[f"{column}_std"], label=name, marker=".", **style)
        for ax, title in zip(axes[0], ("train", "test")):
            ax.set_title(f"{title} accuracy", fontsize=8)
            ax.set_xlabel("epoch")
            ax.xaxis.get_major_locator().set_params(integer=True)
        axes[0, 0].set_ylabel("accuracy (%)")
        axes[0, 1].legend(fontsize=6)
        fig.tight_layout()
        data = pd.concat([rows.assign(curve=name) for name, rows in curves], ignore_index=True)
        ctx.figure(fig, without_std(data, ACCURACIES))

    return build


ORDERER_TARGETS = (
    (LOSS_ORDER, "table2_2", "Loss orderer (ascending, K candidate batches) vs baseline: test accuracy (%) per epoch",
     "figure2_3", "Loss orderer vs baseline: train and test accuracy per epoch"),
    (DELTA_SAME, "table2_3", "Max-loss-delta orderer, same-batch delta: test accuracy (%) per epoch",
     "figure2_4", "Max-loss-delta orderer (same batch) vs baseline: train and test accuracy per epoch"),
    (DELTA_EXTERNAL, "table2_4",
     "Max-loss-delta orderer, delta on a static external batch of 512: test accuracy (%) per epoch",
     "figure2_5", "Max-loss-delta orderer (external batch) vs baseline: train and test accuracy per epoch"),
)


def _declare_orderer_targets() -> None:
    for group, table, table_caption, figure, figure_caption in ORDERER_TARGETS:
        groups = (BASELINE, group, *EXTRAS.get(group, ()))
        TARGETS.add(table, orderer_table(table), table_caption, groups)
        TARGETS.add(figure, orderer_figure(group), figure_caption, groups)


_declare_orderer_targets()

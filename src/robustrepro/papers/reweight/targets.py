"""The targets of reweight: figure1 (accuracy vs the dominant proportion), the curves of figures 5, 7
and 9 (test accuracy vs iteration), and the configuration tables of figures 4, 6 and 8 (the seed's
columns beside this harness's, from the resolved configs of the runs at the scale built)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from robustrepro.analysis.curves import curve_stats, plot_band
from robustrepro.analysis.figures import new_figure
from robustrepro.analysis.settings import settings_table, table_figure, text
from robustrepro.analysis.stats import mean_std
from robustrepro.errors import UserError
from robustrepro.papers.reweight.settings import (BASELINE, EXPERIMENTS, IMBALANCE, METHODS, MNIST_BG_VARIANTS,
                                                  PROPORTION, REWEIGHTED, SETTINGS, STEP, VARIANT_LABELS)
from robustrepro.papers.spec import Targets
from robustrepro.runs import view_id

TARGETS = Targets()


# ---- figure 1: accuracy against the dominant class's proportion ----

@TARGETS("figure1", groups=(IMBALANCE,),
         caption="MNIST 4 vs 9: test accuracy vs the proportion of the dominant class 9, baseline vs reweighted "
                 "(LeNet)")
def figure1(ctx) -> None:
    runs = ctx.results[IMBALANCE]
    data = mean_std(runs, [STEP, PROPORTION], "test_acc1", scale=100)
    fig, axes = new_figure(width=4.2, height=3.0)
    ax = axes[0, 0]
    for method, label in METHODS.items():
        rows = data[data[STEP] == method]
        ax.errorbar(rows[PROPORTION], rows["mean"], yerr=rows["std"].fillna(0), marker="o", capsize=3, label=label)
        seeds = runs[runs[STEP] == method]
        ax.scatter(seeds[PROPORTION], seeds["test_acc1"] * 100, s=6, alpha=0.5)
    ax.set(xlabel="proportion of the dominant class (9)", ylabel="test accuracy, balanced 4 vs 9 (%)")
    ax.legend(fontsize=7)
    ctx.figure(fig, data.assign(method=data[STEP].map(METHODS))
               .rename(columns={PROPORTION: "proportion", "mean": "test_acc1", "std": "test_acc1_std"})
               [["method", "proportion", "test_acc1", "test_acc1_std", "n"]])


# ---- figures 5, 7, 9: accuracy against the iteration ----

def _curves(ctx, groups: tuple[str, ...], extra: str | None = None) -> None:
    """One panel per group, baseline vs reweighted (mean over seeds, ± std band); `extra`'s runs are
    drawn on the first panel."""
    frames = []
    for group in groups + ((extra,) if extra else ()):
        stats = curve_stats(ctx.step_logs(group), [STEP], "step", "test_acc1", scale=100)
        labels = VARIANT_LABELS if group == extra else METHODS
        stats = stats.sort_values(STEP, key=lambda steps: steps.map(list(labels).index), kind="stable")
        frames.append(stats.assign(group=group, setting=SETTINGS.get(group, SETTINGS[groups[0]]),
                                   method=stats[STEP].map(labels), panel=groups[0] if group == extra else group))
    data = pd.concat(frames, ignore_index=True)
    fig, axes = new_figure(ncols=len(groups), sharey=True, width=3.6)
    for ax, group in zip(axes[0], groups):
        panel = data[data["panel"] == group]
        for (_, label), rows in panel.groupby(["group", "method"], sort=False):
            rows = rows.sort_values("step")
            plot_band(ax, rows["step"], rows["mean"], rows["std"], label=label)
        ax.set_title(SETTINGS[group], fontsize=7)
        ax.set(xlabel="iteration")
    axes[0, 0].set_ylabel("test accuracy (%)")
    axes[0, 0].legend(fontsize=6 if extra else 7, loc="lower right")
    out = data.rename(columns={"mean": "test_acc1", "std": "test_acc1_std"})
    ctx.figure(fig, out[["group", "setting", "method", "step", "test_acc1", "test_acc1_std", "n"]])


# ---- figures 4, 6, 8: the configuration tables ----

DECAY_TEXT = "0.1 (reduce to 0.001 eventually)"
# The seed's tables, row by row (its "Dataset tyoe" spelled right). Rows it does not have are
# this harness's only, and read "(not stated)" (analysis.settings.NOT_STATED) in its columns.
SEED_TABLES = {
    "figure4": {
        "original (Ren et al., as the seed's Figure 4 gives it)": {
            "CNN model": "ResNet-32", "Dataset": "CIFAR-10 & CIFAR-100", "Training dataset size": "50000",
            "Clean (validation) set size": "100", "Mini-batch size": "100", "Noise ratio": "40%",
            "Background class": "3", "Learning rate": DECAY_TEXT,
            "Iteration count": "80K on both baseline and reweighted"},
        "the seed's run (its Figure 4)": {
            "CNN model": "WideResNet-28-10", "Dataset": "CIFAR-10", "Training dataset size": "50000",
            "Clean (validation) set size": "100", "Mini-batch size": "10", "Noise ratio": "40%",
            "Background class": "3", "Learning rate": DECAY_TEXT,
            "Iteration count": "80K on baseline; 45K on reweighted"},
    },
    "figure6": {
        "the seed's run (its Figure 6)": {
            "CNN model": "Standard LeNet", "Dataset": "MNIST", "Training dataset size": "50000",
            "Clean (validation) set size": "100", "Mini-batch size": "25 for baseline", "Noise ratio": "40%",
            "Learning rate": DECAY_TEXT, "Iteration count": "50K on both baseline and reweighted"},
    },
    "figure8": {
        "original (Ren et al., as the seed's Figure 8 gives it)": {
            "CNN model": "WideResNet-28-10", "Dataset": "CIFAR-10 & CIFAR-100", "Training dataset size": "50000",
            "Clean (validation) set size": "1000", "Mini-batch size": "100", "Noise ratio": "40%",
            "Learning rate": DECAY_TEXT, "Iteration count": "60K on both baseline and reweighted"},
        "the seed's run (its Figure 8)": {
            "CNN model": "WideResNet-28-10", "Dataset": "CIFAR-10", "Training dataset size": "50000",
            "Clean (validation) set size": "200", "Mini-batch size": "10", "Noise ratio": "40%",
            "Learning rate": DECAY_TEXT, "Iteration count": "60K on baseline; 11K on reweighted"},
    },
}
CONFIG_GROUPS = {"figure4": EXPERIMENTS["cifar-background"], "figure6": EXPERIMENTS["mnist-background"],
                 "figure8": EXPERIMENTS["cifar-uniform"]}
MODEL_NAMES = {"lenet": "LeNet", "resnet32": "ResNet-32", "wrn28_10": "WideResNet-28-10"}
DATASET_NAMES = {"mnist": "MNIST", "cifar10": "CIFAR-10", "synthetic-mnist": "synthetic MNIST stand-in",
                 "synthetic-cifar10": "synthetic CIFAR-10 stand-in"}


def used_configs(ctx, group: str) -> tuple[dict, dict, list[int]]:
    """What the group's runs were trained with: the resolved run configs of its first-seed baseline and
    reweighted runs at the scale built (Paper.configs: what their run ids hash), the summary of the
    view they share (views/<id>.json), and the seeds of its collected runs."""
    seeds = sorted(int(s) for s in ctx.results[group]["seed"].unique())
    configs = {run["step"]["name"]: run for run in ctx.paper.configs(ctx.scale, [group], seeds[:1])}
    path = Path(ctx.runs_root).parent / "views" / f"{view_id(configs[BASELINE])}.json"
    if not path.is_file():
        raise UserError(f"{path} is missing: the view the runs of group {group} trained on; build the runs again")
    return configs, json.loads(path.read_text()), seeds


def _model_text(model: dict) -> str:
    name = MODEL_NAMES.get(model["name"], model["name"])
    extras = [f"at width {model['width']:g}" if model.get("width", 1.0) != 1.0 else "",
              f"dropout {model['dropout']:g}" if model.get("dropout") else ""]
    return ", ".join([name, *filter(None, extras)])


def _lr_text(run: dict) -> str:
    lr, schedule = run["optimizer"]["lr"], run["schedule"]
    if schedule["name"] == "constant":
        return f"{lr:g} (constant)"
    if schedule["name"] != "multistep":
        return f"{lr:g}, schedule {schedule['name']}"
    unit = "iteration" if schedule.get("unit") == "steps" else "epoch"
    parts = [f"{lr:g}"]
    for i, mark in enumerate(sorted(schedule["milestones"]), start=1):
        parts.append(f"{lr * schedule.get('gamma', 0.1) ** i:g} after {unit} {mark:,}")
    return ", ".join(parts)


def _iterations_text(configs: dict) -> str:
    base, rew = configs[BASELINE]["iterations"], configs[REWEIGHTED]["iterations"]
    if base == rew:
        return f"{base:,} on both baseline and reweighted"
    return f"{base:,} on baseline; {rew:,} on reweighted"


def _per_class(counts: list[int]) -> str:
    return f"{counts[0]:,} per class" if len(set(counts)) == 1 else "per class " + "/".join(map(str, counts))


def harness_column(configs: dict, view: dict, seeds: list[int]) -> dict[str, str]:
    """The rows of a configuration table, as this harness ran them (configs: method -> resolved run)."""
    run = configs[BASELINE]
    clean = sum(view["holdout_per_class"])
    noise = run["noise"]
    step = configs[REWEIGHTED]["step"]
    clean_batch = step.get("clean_batch") or min(clean, configs[REWEIGHTED]["batch_size"])
    opt = run["optimizer"]
    augment = run["augment"]
    rows = {
        "CNN model": _model_text(run["model"]),
        "Dataset": DATASET_NAMES.get(run["dataset"], run["dataset"]),
        "Training dataset size": f"{view['n_train'] + clean:,} ({view['n_train']:,} noisy-labelled + {clean:,} clean)",
        "Clean (validation) set size": f"{clean:,} ({_per_class(view['holdout_per_class'])})",
        "Mini-batch size": text(run["batch_size"]),
        "Noise ratio": f"{noise['rate']:.0%} of the images relabelled ({view['realised_noise_rate']:.1%} of the "
                       "labels wrong)",
    }
    if noise["kind"] == "background":
        rows["Background class"] = text(noise["background_class"])
    rows.update({
        "Learning rate": _lr_text(run),
        "Iteration count": _iterations_text(configs),
        "Optimizer": f"{opt['name'].upper()}, momentum {opt.get('momentum', 0):g}, weight decay "
                     f"{opt.get('weight_decay', 0):g}",
        "Augmentation": (", ".join(filter(None, [f"pad-{augment['crop']} random crop" if augment.get("crop") else "",
                                                 "horizontal flip" if augment.get("flip") else ""])) or "none"),
        "Clean batch per reweighted step": f"{clean_batch:,} of the {clean:,} clean images",
        "Test set": f"{sum(view['test_per_class']):,} images ({_per_class(view['test_per_class'])})",
        "Test accuracy evaluated": f"every {run['step_log']['eval_steps']:,} iterations" if run.get("step_log")
                                   else "at the end of every epoch",
        "Seeds": ", ".join(map(str, seeds)),
    })
    return rows


def _config_table(ctx) -> None:
    name = ctx.target.name
    columns = {label: dict(values) for label, values in SEED_TABLES[name].items()}
    for group in CONFIG_GROUPS[name]:
        label = f"this harness, {SETTINGS[group]}, {ctx.scale} scale" if len(CONFIG_GROUPS[name]) > 1 \
            else f"this harness, {ctx.scale} scale"
        columns[label] = harness_column(*used_configs(ctx, group))
    table = settings_table(columns, item="item")
    ctx.figure(table_figure(table), table)


# ---- figures 4 to 9, declared in the paper's order ----

@TARGETS("figure4", groups=CONFIG_GROUPS["figure4"],
         caption="CIFAR-10 BACKGROUNDFLIP 40 %: the configuration, as the seed reports it and as this harness ran it")
def figure4(ctx) -> None:
    _config_table(ctx)


@TARGETS("figure5", groups=EXPERIMENTS["cifar-background"],
         caption="CIFAR-10 BACKGROUNDFLIP 40 %: test accuracy vs iteration, baseline vs reweighted")
def figure5(ctx) -> None:
    _curves(ctx, EXPERIMENTS["cifar-background"])


@TARGETS("figure6", groups=CONFIG_GROUPS["figure6"],
         caption="MNIST BACKGROUNDFLIP 40 %: the configuration, as the seed reports it and as this harness ran it")
def figure6(ctx) -> None:
    _config_table(ctx)


@TARGETS("figure7", groups=(*EXPERIMENTS["mnist-background"], MNIST_BG_VARIANTS.name),
         caption="MNIST BACKGROUNDFLIP 40 % (LeNet): test accuracy vs iteration, baseline vs reweighted")
def figure7(ctx) -> None:
    _curves(ctx, EXPERIMENTS["mnist-background"], extra=MNIST_BG_VARIANTS.name)


@TARGETS("figure8", groups=CONFIG_GROUPS["figure8"],
         caption="CIFAR-10 UNIFORMFLIP 40 %: the configuration, as the seed reports it and as this harness ran it")
def figure8(ctx) -> None:
    _config_table(ctx)


@TARGETS("figure9", groups=EXPERIMENTS["cifar-uniform"],
         caption="CIFAR-10 UNIFORMFLIP 40 % (WRN-28-10): test accuracy vs iteration, baseline vs reweighted")
def figure9(ctx) -> None:
    _curves(ctx, EXPERIMENTS["cifar-uniform"])

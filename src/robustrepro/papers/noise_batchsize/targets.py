"""The targets of noise-batchsize: table1 (the seed's Table 1 beside the runs' resolved configs),
figure3 (the schedulers, from the schedule code) and figures 4-17 (curves of the runs' step logs
against wall time, one panel per noise level)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from robustrepro.analysis.curves import curve_stats, plot_band
from robustrepro.analysis.figures import new_figure
from robustrepro.analysis.settings import distinct, settings_table
from robustrepro.papers.noise_batchsize.logs import evaluations, logged, noise_label, ratio
from robustrepro.papers.noise_batchsize.settings import (APPENDIX, BATCH, BUDGETS, CIFAR, EVAL_STEPS, EVERY,
                                                         GROUP_EXPERIMENT, LR, MAIN, RATE, RATIO, SCHEDULER_NAMES,
                                                         VAL_FRACTION, n_train)
from robustrepro.papers.spec import Targets

TARGETS = Targets()


# ---- table 1: the hyperparameters ----

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


def hyperparameters(configs: list[dict], experiment: str, scale: str) -> dict[str, str]:
    """Table 1's rows, from the resolved run configs of one column's groups."""
    scheduled = [c for c in configs if c["schedule"]["name"] != "constant"]
    cycled = [c for c in configs if c["schedule"]["name"] == "onecycle"]
    opt = [c["optimizer"] for c in configs]
    momentum = distinct(o["momentum"] for o in opt)
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
        "Maximum learning rate": distinct(c["schedule"].get("max_lr") or c["optimizer"]["lr"] for c in configs),
        "Maximum epochs": distinct(c["epochs"] for c in configs),
        "Momentum": momentum,
        "Maximum scheduling steps": (distinct((c["schedule"]["total_steps"] for c in scheduled), lambda v: f"{v:,}")
                                     + " (then constant)") if scheduled else "(constant lr)",
        "Fraction of training dataset for validation":
            f"{distinct(holdout)} ({train:,} train, {round(train * VAL_FRACTION / (1 - VAL_FRACTION)):,} validate; "
            "clean labels)",
        "Weight decay": distinct(o["weight_decay"] for o in opt),
        "Model": distinct((c["model"]["name"] for c in configs), MODEL_NAMES.get)
                 + f", width {distinct(c['model']['width'] for c in configs)}",
        "Dataset": distinct((c["dataset"] for c in configs), DATASET_NAMES.get)
                   + (f" ({distinct((c['test_subset'] for c in configs), lambda v: f'{v:,}')} test images)"
                      if configs[0]["test_subset"] else ""),
        "Optimizer and loss": f"{distinct(o['name'].upper() for o in opt)} (Nesterov "
                              f"{distinct(o['nesterov'] for o in opt).lower()}), cross-entropy + weight decay",
        "Schedulers": "; ".join(schedules),
        "Label noise": f"{distinct(c['noise']['kind'] for c in configs)}: "
                       + distinct((c["noise"]["rate"] for c in configs), lambda v: f"{v:.0%}"),
        "Batch sizes": distinct(c["batch_size"] for c in configs),
        "Learning rate per batch size": "; ".join(f"{b}: {distinct(lr)}" for b, lr in pd.DataFrame(
            {"b": [c["batch_size"] for c in configs], "lr": [c["optimizer"]["lr"] for c in configs]}).groupby("b")["lr"]),
        "Augmentation": "none" if not any(c["augment"]["crop"] or c["augment"]["flip"] for c in configs)
                        else "crop/flip",
        "Evaluated": "validation and test at the end of every epoch",
    }


@TARGETS("table1", caption="Hyperparameters: the seed's Table 1 and the runs' resolved configs")
def table1(ctx) -> None:
    columns = {"the seed (its Table 1 and text)": SEED_TABLE1}
    for label, groups in TABLE1_COLUMNS.items():
        columns[f"this harness, {label}, {ctx.scale} scale"] = hyperparameters(
            ctx.paper.configs(ctx.scale, groups), GROUP_EXPERIMENT[groups[0]], ctx.scale)
    ctx.table(settings_table(columns))


# ---- figure 3: the schedulers, from the schedule code ----

@TARGETS("figure3", caption="The three schedulers' lr and momentum over the run, from the schedule code, at three "
                            "batch sizes (the 5,000 steps end in another epoch at each)")
def figure3(ctx) -> None:
    """lr and momentum of each scheduler over the run, for the smallest, a middle and the largest batch
    size of the CIFAR grid at this scale, as the runs are configured (no training); drawn against the
    epoch, the CSV has the optimizer step too."""
    from robustrepro.training.schedules import lr_curve  # torch: only when the figure is drawn

    runs = {scheduler: ctx.paper.configs(ctx.scale, [group]) for scheduler, group in MAIN.items()}
    batches = sorted({run["batch_size"] for configs in runs.values() for run in configs})
    shown = sorted({batches[0], batches[len(batches) // 2], batches[-1]})
    epochs = runs["onecycle"][0]["epochs"]
    frames = []
    for scheduler, configs in runs.items():
        for batch in shown:
            run = next(run for run in configs if run["batch_size"] == batch)
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
            after = " (after the run)" if end > epochs else ""
            label = f"batch {batch}" + (f": ends at epoch {end:.3g}{after}" if not np.isnan(end) else "")
            axes[0, col].plot(rows["epoch"], rows["lr"], label=label)
            axes[1, col].plot(rows["epoch"], rows["momentum"], label=label)
        axes[0, col].set_title(SCHEDULER_NAMES[scheduler], fontsize=8)
        axes[1, col].set_xlabel("epoch")
        axes[0, col].legend(fontsize=6)
    axes[0, 0].set_ylabel("learning rate")
    axes[1, 0].set_ylabel("momentum")
    ctx.figure(fig, data)


# ---- figures 4-17: the runs' step logs against wall time ----

METRIC_LABELS = {"val_acc1": "validation accuracy (%)", "grad_cosine": "cosine(clean, all) gradient",
                 "batch_noisy_acc": "train accuracy on noisy examples (%)"}
METRIC_SCALE = {"val_acc1": 100.0, "grad_cosine": 1.0, "batch_noisy_acc": 100.0}


def _curves(log: pd.DataFrame, keys: list[str], column: str, scale: float, per_batch: bool) -> pd.DataFrame:
    """Mean, std and count over seeds of `column` at each logged step, per curve (keys), with the
    mean wall time; a per-batch metric also gets a trailing mean over one epoch's rows ("smoothed")."""
    rows = logged(log, column) if per_batch else evaluations(log)
    when = rows.groupby([*keys, "step"], sort=True).agg(epoch=("epoch", "first"), time_s=("time_s", "mean"))
    stats = when.reset_index().merge(curve_stats(rows, keys, "step", column, scale), on=[*keys, "step"])
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


def _draw(ctx, group: str, column: str, curve_keys: list[str], label, style=None) -> None:
    """One panel per noise level, one curve per value of curve_keys, `column` against wall time: the
    evaluations' mean over seeds with a ± std band, a per-batch metric's trailing mean over an epoch."""
    log = ctx.step_logs(group)
    window = column != "val_acc1"
    data = _curves(log, [RATE, *curve_keys], column, METRIC_SCALE[column], window)
    rates = [r for r in sorted(data[RATE].unique()) if data.loc[data[RATE] == r, "mean"].notna().any()]
    fig, axes = new_figure(ncols=max(len(rates), 1), sharey=True, width=3.0, height=2.6)
    time, time_label = _time_axis(data["time_s"])
    data = data.assign(time=time)
    for ax, rate in zip(axes[0], rates):
        panel = data[data[RATE] == rate]
        for i, (key, rows) in enumerate(panel.groupby(curve_keys, sort=True)):
            key = key if isinstance(key, tuple) else (key,)
            looks = style(i, *key) if style else {}
            if window:
                ax.plot(rows["time"], rows["smoothed"], label=label(*key), **looks)
            else:
                plot_band(ax, rows["time"], rows["mean"], rows["std"], label=label(*key), **looks)
        ax.set_title(noise_label(rate), fontsize=8)
        ax.set_xlabel(time_label)
    axes[0, 0].set_ylabel(METRIC_LABELS[column] + (" (mean over an epoch's rows)" if window else ""), fontsize=7)
    axes[0, -1].legend(fontsize=6)
    names = {RATE: "noise_rate", BATCH: "batch_size", LR: "lr", "mean": column, "std": f"{column}_std",
             "smoothed": f"{column}_smoothed"}
    out = data.drop(columns="time").rename(columns=names)
    if LR in curve_keys:
        out.insert(out.columns.get_loc("lr") + 1, "batch_lr_ratio", ratio(out["batch_size"], out["lr"]))
    ctx.figure(fig, out)


def _by_batch(ctx, group: str, column: str) -> None:
    _draw(ctx, group, column, [BATCH], lambda b: f"batch {int(b)}")


def _by_config(ctx, group: str) -> None:
    """figure13/14: a colour per B/lr ratio, a line style per batch size."""
    ratios = sorted({float(ratio(b, lr)) for b, lr in BUDGETS[CIFAR][ctx.scale].ratio_configs})
    batches = sorted({b for b, _ in BUDGETS[CIFAR][ctx.scale].ratio_configs})

    def style(i, b, lr):
        return {"color": f"C{ratios.index(float(ratio(b, lr)))}",
                "linestyle": ("-", "--", ":", "-.")[batches.index(int(b)) % 4]}

    _draw(ctx, group, "val_acc1", [BATCH, LR], lambda b, lr: f"B {int(b)}, lr {lr:g} (B/lr {float(ratio(b, lr)):g})",
          style)


FIGURES = {  # figure -> (group, the step log's column, caption); figure13/14 one curve per (batch size, lr)
    "figure4": (MAIN["onecycle"], "val_acc1",
                "Validation accuracy vs wall time, one-cycle lr and momentum, per batch size and noise level"),
    "figure5": (MAIN["cosine"], "val_acc1",
                "Validation accuracy vs wall time, cosine annealing, per batch size and noise level"),
    "figure6": (MAIN["constant"], "val_acc1",
                "Validation accuracy vs wall time, constant lr, per batch size and noise level"),
    "figure7": (MAIN["onecycle"], "grad_cosine",
                "Cosine similarity of the clean examples' and the whole batch's gradient, one-cycle"),
    "figure8": (MAIN["cosine"], "grad_cosine",
                "Cosine similarity of the clean examples' and the whole batch's gradient, cosine annealing"),
    "figure9": (MAIN["constant"], "grad_cosine",
                "Cosine similarity of the clean examples' and the whole batch's gradient, constant lr"),
    "figure10": (MAIN["onecycle"], "batch_noisy_acc", "Per-batch training accuracy on the noisy examples, one-cycle"),
    "figure11": (MAIN["cosine"], "batch_noisy_acc",
                 "Per-batch training accuracy on the noisy examples, cosine annealing"),
    "figure12": (MAIN["constant"], "batch_noisy_acc", "Per-batch training accuracy on the noisy examples, constant lr"),
    "figure13": (RATIO["onecycle"], "val_acc1",
                 "Batch size / lr configurations with equal and different ratios, one-cycle: validation accuracy"),
    "figure14": (RATIO["constant"], "val_acc1",
                 "Batch size / lr configurations with equal and different ratios, constant lr: validation accuracy"),
    "figure15": (APPENDIX, "val_acc1", "FashionMNIST, VGG-16-BN, one-cycle: validation accuracy vs wall time"),
    "figure16": (APPENDIX, "grad_cosine",
                 "FashionMNIST, VGG-16-BN, one-cycle: gradient cosine similarity (clean vs all)"),
    "figure17": (APPENDIX, "batch_noisy_acc",
                 "FashionMNIST, VGG-16-BN, one-cycle: per-batch training accuracy on the noisy examples"),
}


def _figure(name: str, group: str, column: str):
    def build(ctx) -> None:
        if group in RATIO.values():
            _by_config(ctx, group)
        else:
            _by_batch(ctx, group, column)
    build.__name__ = name
    return build


for _name, (_group, _column, _caption) in FIGURES.items():
    TARGETS.add(_name, _figure(_name, _group, _column), _caption, (_group,))

"""Chapter 3's figures: sum-augmented images (3.3), the gradual coefficients (3.4), model norm and training
loss per epoch (3.5, 3.7) and the error reductions of cascading, mixup and SamplePairing (3.6)."""

from __future__ import annotations

import pandas as pd

from robustrepro.analysis.curves import plot_band
from robustrepro.analysis.figures import new_figure
from robustrepro.papers.ordering_augment.chapter3_settings import (BASELINE_K, CSA, GRADUAL, K, MIXUP, MODEL, PAIRING,
                                                                   SUBSET, k_label)
from robustrepro.papers.ordering_augment.chapter3_tables import WRN_LABELS, mean_error
from robustrepro.papers.ordering_augment.curves import curve_means, without_std
from robustrepro.papers.ordering_augment.reported import FIGURE3_6
from robustrepro.papers.spec import Targets

TARGETS = Targets()
IMAGES_PER_ROW = 6
GRANULARITY_POINTS = 201


@TARGETS("figure3_3", caption="Sum-augmented CIFAR-10 training images for k = 2, 4 and 8", images=CSA["cifar10"])
def figure3_3(ctx) -> None:
    import torch

    from robustrepro.training.methods.augment import sum_images

    prepared = ctx.images()
    ks = (2, 4, 8)
    need = IMAGES_PER_ROW * max(ks)
    generator = torch.Generator().manual_seed(0)
    chosen = torch.randperm(len(prepared.train_x), generator=generator)[:need]
    x = torch.from_numpy(prepared.train_x[chosen.numpy()]).float() / 255
    fig, axes = new_figure(ncols=IMAGES_PER_ROW, nrows=len(ks), width=1.0, height=1.05)
    data = []
    for r, k in enumerate(ks):
        mixed = sum_images(x[:IMAGES_PER_ROW * k], k)
        for c in range(IMAGES_PER_ROW):
            ax = axes[r, c]
            image = mixed[c].permute(1, 2, 0).squeeze(-1).numpy()
            ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
            members = [int(chosen[i * IMAGES_PER_ROW + c]) for i in range(k)]
            data.append({"k": k, "image": c, "train_indices": " ".join(map(str, members)),
                         "mean_pixel": float(mixed[c].mean())})
        axes[r, 0].set_ylabel(f"k = {k}", fontsize=7)
    fig.tight_layout()
    ctx.figure(fig, pd.DataFrame(data))


@TARGETS("figure3_4", caption="The gradually cascading coefficients against the granularity g")
def figure3_4(ctx) -> None:
    import torch

    from robustrepro.training.methods.augment import cascade_coefficients

    g = torch.linspace(0, 1, GRANULARITY_POINTS, dtype=torch.float64)
    ks = (3, 4, 8)
    fig, axes = new_figure(ncols=len(ks), width=2.6, height=2.3, sharey=True)
    data = []
    for ax, k in zip(axes[0], ks):
        coefficients = cascade_coefficients(k, g)
        for i in range(k):
            ax.plot(g.numpy(), coefficients[:, i].numpy(), label=f"c{i + 1}")
            data.extend({"k": k, "g": float(gi), "position": i + 1, "coefficient": float(ci)}
                        for gi, ci in zip(g, coefficients[:, i]))
        ax.set_title(f"k = {k}", fontsize=8)
        ax.set_xlabel("granularity g")
    axes[0, 0].set_ylabel("coefficient")
    axes[0, 0].legend(fontsize=6)
    fig.tight_layout()
    ctx.figure(fig, pd.DataFrame(data))


NORM_AND_LOSS = (("model_norm", "model norm"), ("train_loss", "training loss"))


def _curves_figure(ctx, history: pd.DataFrame) -> None:
    """One panel per column of NORM_AND_LOSS against the epoch, a line (± std over seeds) per model and
    starting k."""
    columns = [c for c, _ in NORM_AND_LOSS]
    fig, axes = new_figure(ncols=len(NORM_AND_LOSS), width=3.0, height=2.5)
    means = curve_means(history, [MODEL, K], "epoch", columns)
    for i, ((model, k), rows) in enumerate(means.groupby([MODEL, K])):
        for ax, column in zip(axes[0], columns):
            plot_band(ax, rows["epoch"], rows[column], rows[f"{column}_std"],
                      label=f"{WRN_LABELS[model]} {k_label(k)}", color=f"C{i}")
    if "restored_from_epoch" in history:  # the cascade's phase changes, where the next k starts
        for epoch in sorted(set(history.loc[history["restored_from_epoch"].notna(), "epoch"])):
            for ax in axes[0]:
                ax.axvline(epoch + 0.5, color="0.8", linewidth=0.6, zorder=0)
    for ax, (_, label) in zip(axes[0], NORM_AND_LOSS):
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
    axes[0, 0].legend(fontsize=6)
    fig.tight_layout()
    ctx.figure(fig, without_std(means, columns))


@TARGETS("figure3_5", groups=(CSA["cifar10"],),
         caption="Model norm and training loss per epoch of the cascades on the largest CIFAR-10 subset")
def figure3_5(ctx) -> None:
    history = ctx.histories(CSA["cifar10"])
    _curves_figure(ctx, history[history[SUBSET] == history[SUBSET].max()])


def reductions(results: dict) -> pd.DataFrame:
    """Error reduction (%) over the baseline of CSA from k = 4, mixup and SamplePairing, per CIFAR-10
    subset, for the model the comparison groups train (WRN-28-10, or smoke's): columns method,
    per_class, error, baseline_error, reduction."""
    csa = results[CSA["cifar10"]]
    model = results[MIXUP][MODEL].iloc[0]
    csa = csa[csa[MODEL] == model]
    base = mean_error(csa[csa[K] == BASELINE_K], [SUBSET])
    methods = {"CSA k=4": mean_error(csa[csa[K] == 4], [SUBSET]),
               "Mixup": mean_error(results[MIXUP], [SUBSET]),
               "SamplePairing": mean_error(results[PAIRING], [SUBSET])}
    rows = []
    for method, errors in methods.items():
        for size, value in errors.items():
            if size in base:
                rows.append({"method": method, "per_class": size // 10, "error": value,
                             "baseline_error": base[size], "reduction": 100 * (base[size] - value) / base[size],
                             "reduction (paper)": FIGURE3_6.get((method, size // 10), float("nan"))})
    return pd.DataFrame(rows, columns=["method", "per_class", "error", "baseline_error", "reduction",
                                       "reduction (paper)"])


@TARGETS("figure3_6", groups=(CSA["cifar10"], MIXUP, PAIRING),
         caption="Error reduction over the baseline: cascading from k = 4, mixup and SamplePairing (CIFAR-10)")
def figure3_6(ctx) -> None:
    data = reductions(ctx.results)
    fig, axes = new_figure(width=3.6, height=2.6)
    ax = axes[0, 0]
    sizes = sorted(set(data["per_class"]))
    methods = list(dict.fromkeys(data["method"]))
    width = 0.8 / max(len(methods), 1)
    for i, method in enumerate(methods):
        rows = data[data["method"] == method].set_index("per_class")
        ax.bar([s + i * width for s in range(len(sizes))], [rows["reduction"].get(s, float("nan")) for s in sizes],
               width=width, label=method, color=f"C{i}")
    ax.set_xticks([s + width * (len(methods) - 1) / 2 for s in range(len(sizes))], [str(s) for s in sizes])
    ax.set_xlabel("training images per class")
    ax.set_ylabel("error reduction over the baseline (%)")
    ax.axhline(0, color="k", linewidth=0.6)
    ax.legend(fontsize=6)
    fig.tight_layout()
    ctx.figure(fig, data)


@TARGETS("figure3_7", groups=(GRADUAL,), caption="Model norm and training loss per epoch of the gradual cascades")
def figure3_7(ctx) -> None:
    _curves_figure(ctx, ctx.histories(GRADUAL))

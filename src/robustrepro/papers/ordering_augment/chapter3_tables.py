"""Chapter 3's tables: the cascades' test errors (3.1, 3.2, 3.4-3.6), the attacked baseline (3.3), and the
seed's settings beside the ones its runs train with (3.0); and the test errors the claims read too."""

from __future__ import annotations

import pandas as pd

from robustrepro.analysis.settings import distinct, settings_table
from robustrepro.analysis.stats import seed_mean
from robustrepro.papers.ordering_augment.chapter3_settings import (ATTACKED, ATTACKS, BASELINE_K, CLASSES, CSA,
                                                                   GRADUAL, GROUPS, K, MODEL, PER_CLASS, STARTS,
                                                                   SUBSET, TTA_GROUPS, WRNS, k_label)
from robustrepro.papers.ordering_augment.reported import CSA_TABLES, TABLE3_1, TABLE3_3, TABLE3_4, TTA_TABLES
from robustrepro.papers.spec import Targets

TARGETS = Targets()
WRN_LABELS = {"wrn40_4": "WideResNet(40,4)", "wrn28_10": "WideResNet(28,10)", "wrn": "WRN (smoke)"}


def error(accuracy: pd.Series | float):
    """Test error in % from accuracies as fractions."""
    return 100 - 100 * accuracy


def mean_error(runs: pd.DataFrame, keys: list[str], column: str = "test_acc1") -> pd.Series:
    """Test error in % of the mean accuracy over seeds, per combination of keys."""
    return error(seed_mean(runs, keys, column))


def _models(runs: pd.DataFrame) -> list[str]:
    return [m for m in (*WRNS, "wrn") if m in set(runs[MODEL])]


def csa_table(target: str):
    """Table 3.1 or 3.2: test error per starting k, model and subset, each beside the seed's."""
    dataset, paper = CSA_TABLES[target]

    def build(ctx) -> None:
        runs = ctx.results[CSA[dataset]]
        errors = mean_error(runs, [K, MODEL, SUBSET])
        sizes = sorted(set(runs[SUBSET]))
        rows = []
        for k in [*STARTS, BASELINE_K]:
            row = {"starting sum groups": k_label(k)}
            for model in _models(runs):
                for size in sizes:
                    per_class = size // CLASSES[dataset]
                    column = f"{WRN_LABELS[model]} {per_class}/class"
                    row[column] = errors.get((k, model, size), float("nan"))
                    reported = paper[k].get(model)
                    if reported and per_class in PER_CLASS[dataset]:
                        row[f"{column} (paper)"] = reported[PER_CLASS[dataset].index(per_class)]
            rows.append(row)
        ctx.table(pd.DataFrame(rows), digits=2)

    return build


TARGETS.add("table3_1", csa_table("table3_1"), "Cascading sum augmentation on CIFAR-10 subsets: test error (%) by "
            "starting sum groups", (CSA["cifar10"],))
TARGETS.add("table3_2", csa_table("table3_2"), "Cascading sum augmentation on CIFAR-100 subsets: test error (%) by "
            "starting sum groups", (CSA["cifar100"],))


def attack_settings(specs: dict) -> str:
    """The attacks as the evaluations at this scale ran them (specs: evaluation name -> resolved spec)."""
    def setting(value) -> str:  # an attack option as its paper writes it: budgets and steps in units of 1/255
        return f"{value * 255:.3g}/255" if isinstance(value, float) and not isinstance(value, bool) else str(value)

    parts = []
    for name, (label, _) in ATTACKS.items():
        attack = specs[name]["attack"]
        options = ", ".join(f"{k} {setting(v)}" for k, v in attack.items() if k not in ("name", "eot_samples"))
        parts.append(f"{label}: {options}")
    tta = specs[f"tta_{next(iter(ATTACKS))}"]
    return "; ".join(parts) + (f"; with test-time sum augmentation ({tta['defence']['samples']} copies) EOT over "
                               f"{tta['attack']['eot_samples']} draws; {tta['subset']} test images")


def _table3_3_row(runs: pd.DataFrame, row_label: str, prefix: str) -> dict:
    row = {"model": row_label,
           "clean": 100 * runs[f"{prefix}fgsm_clean_acc1"].mean(),
           "clean (paper)": TABLE3_3[row_label]["clean"]}
    for name, (label, _) in ATTACKS.items():
        row[label] = 100 * runs[f"{prefix}{name}_acc1"].mean()
        row[f"{label} (paper)"] = TABLE3_3[row_label][name]
    row["examples"] = int(runs[f"{prefix}fgsm_n"].iloc[0])
    return row


@TARGETS("table3_3", groups=(ATTACKED,),
         caption="Accuracy (%) of the baseline WRN-28-10 under attack, without and with test-time sum augmentation")
def table3_3(ctx) -> None:
    runs = ctx.results[ATTACKED]
    table = pd.DataFrame([_table3_3_row(runs, "Baseline", ""), _table3_3_row(runs, "Sum-Aug", "tta_")])
    table["attacks"] = attack_settings(ctx.paper.group(ATTACKED).evaluation_specs(ctx.scale))
    ctx.table(table, digits=2)


@TARGETS("table3_4", groups=(GRADUAL, CSA["cifar10"]),
         caption="Gradually cascading sum augmentation on CIFAR-10: test error (%)")
def table3_4(ctx) -> None:
    gradual = mean_error(ctx.results[GRADUAL], [K, MODEL])
    base_runs = ctx.results[CSA["cifar10"]]
    full = base_runs[SUBSET].max()
    base = mean_error(base_runs[(base_runs[SUBSET] == full) & (base_runs[K] == BASELINE_K)], [MODEL])
    rows = []
    for k in [*STARTS, BASELINE_K]:
        row = {"starting sum groups": k_label(k)}
        for model in _models(ctx.results[GRADUAL]):
            row[WRN_LABELS[model]] = base.get(model, float("nan")) if k == BASELINE_K else gradual.get((k, model),
                                                                                                        float("nan"))
            reported = TABLE3_1[k][model][-1] if k == BASELINE_K and model in WRNS else TABLE3_4.get(k, {}).get(model)
            if reported is not None:
                row[f"{WRN_LABELS[model]} (paper)"] = reported
        rows.append(row)
    ctx.table(pd.DataFrame(rows), digits=2)


def tta_table(target: str):
    """Table 3.5 or 3.6: test error of the cascades stopped at k = 2, normally and with test-time sum
    augmentation, each beside the seed's."""
    dataset, paper = TTA_TABLES[target]

    def build(ctx) -> None:
        runs = ctx.results[TTA_GROUPS[dataset]]
        normal = mean_error(runs, [K, MODEL])
        tta = mean_error(runs, [K, MODEL], "tta_acc1")
        rows = []
        for k in STARTS:
            row = {"k values": k_label(k, until=2)}
            for model in _models(runs):
                for label, values, i in (("normal test", normal, 0), ("test-time sum aug", tta, 1)):
                    row[f"{WRN_LABELS[model]} {label}"] = values.get((k, model), float("nan"))
                    if model in paper[k]:
                        row[f"{WRN_LABELS[model]} {label} (paper)"] = paper[k][model][i]
            rows.append(row)
        ctx.table(pd.DataFrame(rows), digits=2)

    return build


TARGETS.add("table3_5", tta_table("table3_5"), "Cascades stopped at k = 2 on CIFAR-10: test error (%), normal "
            "test vs test-time sum augmentation", (TTA_GROUPS["cifar10"],))
TARGETS.add("table3_6", tta_table("table3_6"), "Cascades stopped at k = 2 on CIFAR-100: test error (%), normal "
            "test vs test-time sum augmentation", (TTA_GROUPS["cifar100"],))

# --- table3_0: the seed's settings, this harness's (the resolved runs) and where each value comes from ---

# What the seed says of each setting ("lost": its value fell out of the text; unnamed: not stated).
SEED_SAYS = {"batch size": "lost", "learning rate": "lost", "momentum (Nesterov)": "Nesterov, value lost",
             "weight decay": "lost", "lr factor on a plateau": "lost",
             "lr plateau (steps without a lower training loss)": "300 steps",
             "test-time sum augmentation copies": "lost"}
SOURCES = {"batch size": "WRN paper", "learning rate": "WRN paper", "momentum (Nesterov)": "WRN paper",
           "weight decay": "WRN paper", "lr factor on a plateau": "WRN paper's decay",
           "lr plateau (steps without a lower training loss)": "seed",
           "cascade plateau (epochs without a new best test accuracy)": "this harness",
           "augmentation": "WRN paper", "test-time sum augmentation copies": "authors' code"}


def _augmentation(augment: dict) -> str:
    parts = []
    if augment.get("crop"):
        parts.append(f"pad-{augment['crop']} crops")
    if augment.get("flip"):
        parts.append("flips")
    return ", ".join(parts) or "none"


def harness_settings(paper, scale: str) -> dict[str, str]:
    """The settings chapter 3's runs train with at `scale` (their resolved configs, Paper.configs), as text."""
    names = [g.name for g in GROUPS]
    configs = paper.configs(scale, names)
    specs = [spec for name in names for spec in paper.group(name).evaluation_specs(scale).values()]
    copies = [spec["defence"]["samples"] for spec in specs if (spec.get("defence") or {}).get("name") == "sum_augment"]
    return {
        "batch size": distinct(c["batch_size"] for c in configs),
        "learning rate": distinct(c["optimizer"]["lr"] for c in configs),
        "momentum (Nesterov)": distinct(c["optimizer"]["momentum"] for c in configs),
        "weight decay": distinct(c["optimizer"]["weight_decay"] for c in configs),
        "lr factor on a plateau": distinct(c["schedule"]["factor"] for c in configs),
        "lr plateau (steps without a lower training loss)": distinct(c["schedule"]["patience_steps"] for c in configs),
        # the rule of budget(): 300 steps of the run's subset, at least MIN_PATIENCE epochs
        "cascade plateau (epochs without a new best test accuracy)": "max(5, 300 steps)",
        "augmentation": distinct(_augmentation(c["augment"]) for c in configs),
        "test-time sum augmentation copies": distinct(copies),
    }


@TARGETS("table3_0", caption="Training settings of every chapter 3 run (the seed's batch size, lr, factor and "
         "weight decay are lost)")
def table3_0(ctx) -> None:
    """The settings every chapter 3 run uses at this scale (the seed's own values were lost from its text)."""
    table = settings_table({"value": harness_settings(ctx.paper, ctx.scale), "seed": SEED_SAYS, "source": SOURCES},
                           item="setting")
    ctx.table(table, digits=4)

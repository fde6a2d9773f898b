"""Cascading Sum Augmentation: chapter 3 of seed 004 (its groups, targets, numbers and claims).

robustrepro.papers.ordering_augment joins these to chapter 2 in one paper spec. The training parts
are robustrepro.training.methods.augment (the steps sum_augment, gradual_sum, mixup, sample_pairing
and the pure sum_images and cascade_coefficients), robustrepro.training.methods.cascade (run key
`cascade`) and the sum_augment defence of robustrepro.evaluation.defences (Test Time Sum
Augmentation).

- table3_1 / table3_2: cascading sum augmentation (§3.4) from k = 8, 4 or 2 sum groups down to the
  original data against the baseline, on CIFAR-10 subsets of 100, 500 and 5,000 images per class
  and CIFAR-100 subsets of 100 and 500, WRN-40-4 and WRN-28-10: test error (%).
- table3_4 / figure3_7: the gradual cascade (§3.5) on the whole CIFAR-10, its error, its model norm
  and training loss per epoch.
- table3_5 / table3_6: cascades that stop at k = 2 (8-4-2, 4-2, 2) on the whole CIFAR-10 and
  CIFAR-100, their best checkpoint tested normally and with Test Time Sum Augmentation (§3.6).
- table3_3: the baseline WRN-28-10 of the whole CIFAR-10 under FGSM, BIM, MI-FGSM and PGD, with and
  without Test Time Sum Augmentation (attacks with expectation over transformation on the
  randomised model), and its clean accuracy both ways.
- figure3_3: sum-augmented training images for k = 2, 4, 8 (sum_images, the step's own mixing);
  figure3_4: the gradually cascading coefficients against the granularity g; figure3_5: model norm
  per epoch of the cascades on the whole CIFAR-10; figure3_6: the error reduction over the baseline
  of cascading from k = 4, mixup and SamplePairing on the CIFAR-10 subsets with WRN-28-10.

Where this harness reads the seed differently or fills a gap, and why:
- The seed's batch size, learning rate, lr factor and weight decay were lost from its text ("a batch
  size of , and a learning rate of "). STANDARD_WRN takes the Wide ResNet paper's CIFAR values
  (Zagoruyko & Komodakis 2016: batch 128, lr 0.1, Nesterov momentum 0.9, weight decay 5e-4, lr
  x 0.2 per drop, no dropout) and the usual pad-4 crops and flips; settings_table writes them out.
- "When the learning stagnates for 300 gradient update steps, the learning rate is reduced": the
  plateau schedule on the training loss with patience_steps 300 (evaluated per epoch, so at least
  one epoch: robustrepro.training.schedules).
- A cascade's plateau (cascade.patience, in epochs without a new best test accuracy) is unstated;
  here it spans the same 300 steps, and at least MIN_PATIENCE epochs, so the small subsets (8 steps
  an epoch) are not cut after a few dozen steps. Each run gets an epoch budget of at least
  MIN_EPOCHS and EPOCHS_PER_PATIENCE patiences (budget()); a cascade that has not finished by then
  ends there (its reported epoch is still its last phase's best).
- The baseline is the same run with k = 1: one phase on the original data that ends when it
  plateaus, the seed's "run where k = 1". Every cascade reports the best epoch of its last phase,
  the seed's "best checkpoint"; mixup, SamplePairing and the gradual cascade report their best
  epoch over a fixed budget (early_stopping with a patience as long as the run, which never stops
  it): all of them are read at their best test accuracy, as the seed kept "a checkpoint for every
  new best test accuracy".
- The gradual cascade spends GRADUAL_SHARE of its epochs going from k groups to none and the rest
  fine-tuning on the original data (the seed's fine-tuning length is lost).
- Mixup: alpha = 1 (Zhang et al. on CIFAR-10). SamplePairing: on from the first epoch, 8 epochs on
  and 2 off, for PAIRING_SHARE of the run, then fine-tuning on the original data (Inoue's
  schedule, whose plain warm-up of 100 epochs is left out: the small subsets overfit long before).
- Test Time Sum Augmentation: each copy is the mean of the input and one random test image (k = 2,
  weight 1: "we will only be considering [the weight] such that the resulting linear interpolation
  will effectively average the inputs"), TTA_SAMPLES copies per image; the seed's n was lost.
- table3_3 (§3.7.3: "applying Test Time Sum Augmentation over the baseline WideResNet(28,10)"): the
  seed prints the row once as "CSA" and once as "Sum-Aug"; the text says it is the baseline model
  under test-time sum augmentation, which this builds. The attack settings are unstated beyond
  the attacks' names: eps 8/255 and the usual steps of each attack's paper (ATTACKS), on
  ATTACK_SUBSET class-balanced test images, with EOT_SAMPLES gradient samples against the
  randomised model.
- Errors: every number of tables 3.1-3.6 is a test error rate; the comparison reproduces it as
  100 - test accuracy (Reported.error). Figure 3.6's reductions are (baseline error - error) /
  baseline error, as the seed's 30.15 % (= (43.47 - 30.36) / 43.47) shows.
- "Cascading gains most at the smallest subset" is read in points of error (the seed's relative
  reductions for WRN-28-10 are 32.5, 35.8 and 33.5 %: not largest at the smallest).

Scales: quick keeps every table on the subsets of 100 and 500 images per class (the "whole" sets of
tables 3.4-3.6 become 500 per class), WRN-40-1 and WRN-28-2.5 (a quarter of the width), 2,000 test
images and a quarter of the epoch budgets; smoke runs one tiny WRN on 256 synthetic images, at most 6
epochs, a cascade 4-2-1 beside the baseline and k = 2 for the tables that stop there: 9 runs.
"""

from __future__ import annotations

import math

import pandas as pd

from robustrepro.analysis.figures import new_figure
from robustrepro.papers.spec import Claim, Reported, RunGroup, Target, set_dotted

SUBSET, MODEL, K = "train_subset", "model.name", "step.k"
WRNS = ("wrn40_4", "wrn28_10")
WRN_LABELS = {"wrn40_4": "WideResNet(40,4)", "wrn28_10": "WideResNet(28,10)", "wrn": "WRN (smoke)"}
STARTS = (8, 4, 2)
BASELINE_K = 1  # a cascade from k = 1: one phase on the original data (the seed's baseline)
CLASSES = {"cifar10": 10, "cifar100": 100}
PER_CLASS = {"cifar10": (100, 500, 5000), "cifar100": (100, 500)}
QUICK_PER_CLASS = (100, 500)
FULL = {"cifar10": 5000, "cifar100": 500}  # images per class of the whole training set
QUICK_FULL = 500  # the "whole set" of tables 3.4-3.6 at quick scale

# --- settings: the standard WRN recipe where the seed's values are lost ---------------------------
BATCH = 128
PLATEAU_STEPS = 300  # "when the learning stagnates for 300 gradient update steps"
LR_FACTOR = 0.2
MIN_PATIENCE, MIN_EPOCHS, EPOCHS_PER_PATIENCE = 5, 200, 40
STANDARD_WRN = {
    "batch_size": BATCH,
    "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4},
    "schedule": {"name": "plateau", "metric": "train_loss", "mode": "min", "factor": LR_FACTOR,
                 "patience_steps": PLATEAU_STEPS},
    "augment": {"crop": 4, "flip": True},
    "metrics": ["model_norm"],
}
GRADUAL_SHARE, PAIRING_SHARE = 0.75, 0.8
MIXUP_ALPHA = 1.0
TTA_SAMPLES = 8
TTA = {"snapshot": "best", "defence": {"name": "sum_augment", "k": 2, "weight": 1.0, "samples": TTA_SAMPLES}}

EPS = 8 / 255
ATTACK_SUBSET, EOT_SAMPLES = 1000, 4
# Each attack's usual CIFAR settings at eps 8/255 (the seed names the attacks only).
ATTACKS = {
    "fgsm": ("FGSM", {"name": "fgsm", "eps": EPS}),
    "bim": ("BIM", {"name": "bim", "eps": EPS, "step_size": 1 / 255, "iterations": 10}),
    "mifgsm": ("MI-FGSM", {"name": "mifgsm", "eps": EPS, "step_size": EPS / 10, "iterations": 10, "decay": 1.0}),
    "pgd": ("PGD", {"name": "pgd", "eps": EPS, "step_size": 2 / 255, "iterations": 10, "random_start": True}),
}

SMOKE_SIZE, SMOKE_EPOCHS, SMOKE_PATIENCE = 256, 6, 1  # 6 epochs: room for 4-2-1 at patience 1
# The subset and epochs again here: smoke's defaults (robustrepro.scales) reset both after the grid set them.
SMOKE = {"train_subset": SMOKE_SIZE, "epochs": SMOKE_EPOCHS, "test_subset": 128, "batch_size": 32,
         "model": {"name": "wrn", "depth": 10, "widen": 1, "width": 0.25, "dropout": 0.0}}
SMOKE_START = 4  # smoke's one cascade: 4-2-1 (figure3_6 compares the cascade from k = 4)
QUICK = {"test_subset": 2000, "model": {"width": 0.25}}
QUICK_SHARE = 0.25  # of the epoch budgets


def budget(train_size: int, share: float = 1.0) -> tuple[int, int]:
    """(epochs, cascade patience in epochs) of a run on train_size images: the patience covers
    PLATEAU_STEPS steps (at least MIN_PATIENCE epochs), the budget EPOCHS_PER_PATIENCE patiences (at
    least MIN_EPOCHS), times `share` (QUICK_SHARE at quick scale)."""
    steps = math.ceil(train_size / BATCH)
    patience = max(MIN_PATIENCE, math.ceil(PLATEAU_STEPS / steps))
    return max(1, round(max(MIN_EPOCHS, EPOCHS_PER_PATIENCE * patience) * share)), patience


# --- group names ----------------------------------------------------------------------------------
CSA = {"cifar10": "csa-cifar10", "cifar100": "csa-cifar100"}
TTA_GROUPS = {"cifar10": "tta-cifar10", "cifar100": "tta-cifar100"}
GRADUAL, MIXUP, PAIRING, ATTACKED = "gradual-cifar10", "mixup-cifar10", "samplepairing-cifar10", "attacked-cifar10"

# Which budget column a fixed-budget method sets besides epochs, and the share of its epochs.
CASCADE_AXIS = (SUBSET, "epochs", "cascade.patience")
FIXED_AXIS = (SUBSET, "epochs", "early_stopping.patience")


def _cascade_points(dataset: str, per_class, share: float = 1.0) -> list[tuple]:
    return [(n * CLASSES[dataset], *budget(n * CLASSES[dataset], share)) for n in per_class]


def _fixed_points(per_class, extra_share: float | None = None, share: float = 1.0) -> list[tuple]:
    """(subset, epochs, patience = epochs[, round(extra_share * epochs)]) for CIFAR-10 subsets."""
    out = []
    for n in per_class:
        epochs, _ = budget(n * 10, share)
        out.append((n * 10, epochs, epochs, *(() if extra_share is None else (max(1, round(extra_share * epochs)),))))
    return out


def _smoke_fixed(extra: bool) -> tuple:
    return (SMOKE_SIZE, SMOKE_EPOCHS, SMOKE_EPOCHS, *((SMOKE_EPOCHS - 1,) if extra else ()))


def _base(dataset: str, **run) -> dict:
    return {"dataset": dataset, **STANDARD_WRN, "model": {"name": WRNS[0], "dropout": 0.0}, **run}


def _cascade_base(dataset: str, until: int = 1) -> dict:
    return _base(dataset, step={"name": "sum_augment", "k": STARTS[0]},
                 cascade={"patience": MIN_PATIENCE, "metric": "test_acc1", "until": until})


def _overrides() -> dict:
    return {"quick": QUICK, "smoke": SMOKE}


def _csa_group(dataset: str) -> RunGroup:
    return RunGroup(
        name=CSA[dataset], base=_cascade_base(dataset),
        grid={CASCADE_AXIS: _cascade_points(dataset, PER_CLASS[dataset]), MODEL: list(WRNS),
              K: [*STARTS, BASELINE_K]},
        grids={"quick": {CASCADE_AXIS: _cascade_points(dataset, QUICK_PER_CLASS, QUICK_SHARE)},
               "smoke": {CASCADE_AXIS: [(SMOKE_SIZE, SMOKE_EPOCHS, SMOKE_PATIENCE)], MODEL: ["wrn"],
                         K: [SMOKE_START, BASELINE_K]}},
        overrides=_overrides())


def _tta_group(dataset: str) -> RunGroup:
    """Cascades that stop at k = 2 on the whole training set, tested with Test Time Sum Augmentation."""
    return RunGroup(
        name=TTA_GROUPS[dataset], base=_cascade_base(dataset, until=2),
        grid={CASCADE_AXIS: _cascade_points(dataset, (FULL[dataset],)), MODEL: list(WRNS), K: list(STARTS)},
        grids={"quick": {CASCADE_AXIS: _cascade_points(dataset, (QUICK_FULL,), QUICK_SHARE)},
               "smoke": {CASCADE_AXIS: [(SMOKE_SIZE, SMOKE_EPOCHS, SMOKE_PATIENCE)], MODEL: ["wrn"],
                         K: [STARTS[-1]]}},
        overrides=_overrides(), evaluations={"tta": TTA})


def _fixed_group(name: str, step: dict, extra: str | None, extra_share: float | None, grid: dict,
                 per_class=PER_CLASS["cifar10"], quick_per_class=QUICK_PER_CLASS, smoke: dict | None = None) -> RunGroup:
    axis = FIXED_AXIS + ((extra,) if extra else ())
    base = _base("cifar10", step=step, early_stopping={"patience": MIN_EPOCHS, "metric": "test_acc1"})
    return RunGroup(
        name=name, base=base,
        grid={axis: _fixed_points(per_class, extra_share), **grid},
        grids={"quick": {axis: _fixed_points(quick_per_class, extra_share, QUICK_SHARE)},
               "smoke": {axis: [_smoke_fixed(extra is not None)], **(smoke or {})}},
        overrides=_overrides())


def _attacked_group() -> RunGroup:
    """The baseline WRN-28-10 of the whole CIFAR-10 (the same runs as csa-cifar10's), under attack."""
    point = {MODEL: "wrn28_10", K: BASELINE_K}
    base = _cascade_base("cifar10")
    for key, value in point.items():
        base = set_dotted(base, key, value)
    evaluations = {}
    for name, (_, attack) in ATTACKS.items():
        evaluations[name] = {"snapshot": "best", "subset": ATTACK_SUBSET, "attack": attack}
        evaluations[f"tta_{name}"] = {**TTA, "subset": ATTACK_SUBSET, "attack": {**attack, "eot_samples": EOT_SAMPLES}}
    smoke_attack = {"subset": 32, "batch_size": 32}
    smoke = {}
    for name, (_, attack) in ATTACKS.items():
        steps = {"iterations": 2} if "iterations" in attack else {}
        smoke[name] = {**smoke_attack, "attack": steps}
        smoke[f"tta_{name}"] = {**smoke_attack, "attack": {**steps, "eot_samples": 2},
                                "defence": {"samples": 2}}
    return RunGroup(
        name=ATTACKED, base=base, grid={CASCADE_AXIS: _cascade_points("cifar10", (FULL["cifar10"],))},
        grids={"quick": {CASCADE_AXIS: _cascade_points("cifar10", (QUICK_FULL,), QUICK_SHARE)},
               "smoke": {CASCADE_AXIS: [(SMOKE_SIZE, SMOKE_EPOCHS, SMOKE_PATIENCE)], MODEL: ["wrn"]}},
        overrides=_overrides(), evaluations=evaluations, evaluation_overrides={"smoke": smoke})


GROUPS = (
    _csa_group("cifar10"),
    _csa_group("cifar100"),
    _fixed_group(GRADUAL, {"name": "gradual_sum", "k": STARTS[0], "epochs": 1}, "step.epochs", GRADUAL_SHARE,
                 {MODEL: list(WRNS), K: list(STARTS)}, per_class=(FULL["cifar10"],), quick_per_class=(QUICK_FULL,),
                 smoke={MODEL: ["wrn"], K: [STARTS[-1]]}),
    _fixed_group(MIXUP, {"name": "mixup", "alpha": MIXUP_ALPHA}, None, None, {MODEL: ["wrn28_10"]},
                 smoke={MODEL: ["wrn"]}),
    _fixed_group(PAIRING, {"name": "sample_pairing", "until_epoch": 1, "on_epochs": 8, "off_epochs": 2},
                 "step.until_epoch", PAIRING_SHARE, {MODEL: ["wrn28_10"]}, smoke={MODEL: ["wrn"]}),
    _tta_group("cifar10"),
    _tta_group("cifar100"),
    _attacked_group(),
)


# --- the seed's numbers (test error, %) -----------------------------------------------------------
# Tables 3.1 / 3.2: starting k -> model -> per-class subset -> error.
TABLE3_1 = {8: {"wrn40_4": (31.19, 13.51, 4.02), "wrn28_10": (29.34, 13.21, 3.28)},
            4: {"wrn40_4": (30.65, 13.29, 3.88), "wrn28_10": (30.36, 12.81, 3.11)},
            2: {"wrn40_4": (32.44, 14.88, 5.53), "wrn28_10": (30.99, 13.1, 3.44)},
            BASELINE_K: {"wrn40_4": (47.36, 20.15, 5.57), "wrn28_10": (43.47, 19.96, 4.68)}}
TABLE3_2 = {8: {"wrn40_4": (35.3, 20.34), "wrn28_10": (35.01, 18.63)},
            4: {"wrn40_4": (34.7, 19.85), "wrn28_10": (33.01, 18.09)},
            2: {"wrn40_4": (35.56, 20.17), "wrn28_10": (34.44, 18.17)},
            BASELINE_K: {"wrn40_4": (43.2, 23.87), "wrn28_10": (41.72, 21.94)}}
# Table 3.4 (gradual cascade, whole CIFAR-10): k -> model -> error; its baseline row is table 3.1's.
TABLE3_4 = {8: {"wrn40_4": 3.89, "wrn28_10": 3.17}, 4: {"wrn40_4": 3.71, "wrn28_10": 2.95},
            2: {"wrn40_4": 5.25, "wrn28_10": 3.27}}
# Tables 3.5 / 3.6: k -> model -> (normal test, test-time sum augmentation) error.
TABLE3_5 = {8: {"wrn40_4": (6.53, 6.32), "wrn28_10": (5.58, 5.11)},
            4: {"wrn40_4": (6.91, 6.32), "wrn28_10": (5.35, 5.09)},
            2: {"wrn40_4": (6.19, 6.03), "wrn28_10": (5.74, 5.39)}}
TABLE3_6 = {8: {"wrn40_4": (27.18, 24.06), "wrn28_10": (25.11, 20.25)},
            4: {"wrn40_4": (27.22, 23.9), "wrn28_10": (24.42, 20.46)},
            2: {"wrn40_4": (27.19, 23.58), "wrn28_10": (24.32, 20.29)}}
# Table 3.3 (accuracy, %): row -> attack -> value; "clean" first.
TABLE3_3 = {"Baseline": {"clean": 95.32, "fgsm": 24.08, "bim": 0.2, "mifgsm": 0.0, "pgd": 0.0},
            "Sum-Aug": {"clean": 94.38, "fgsm": 54.0, "bim": 17.2, "mifgsm": 9.19, "pgd": 3.22}}
# Figure 3.6 (§3.7.1 text): error reduction (%) over the baseline, CIFAR-10, WRN-28-10, per class.
FIGURE3_6 = {("CSA k=4", 100): 30.15, ("CSA k=4", 5000): 33.54, ("Mixup", 100): 13.5, ("Mixup", 5000): 22.86}

CSA_TABLES = {"table3_1": ("cifar10", TABLE3_1), "table3_2": ("cifar100", TABLE3_2)}
TTA_TABLES = {"table3_5": ("cifar10", TABLE3_5), "table3_6": ("cifar100", TABLE3_6)}


def _k_label(k: int, until: int = 1) -> str:
    if k == BASELINE_K:
        return "Baseline"
    chain = [k]
    while chain[-1] > until:
        chain.append(chain[-1] // 2)
    return "-".join(map(str, chain)) if until > 1 else str(k)


def error(accuracy: pd.Series | float):
    """Test error in % from accuracies as fractions."""
    return 100 - 100 * accuracy


def _mean_over_seeds(runs: pd.DataFrame, keys: list[str], column: str) -> pd.Series:
    return runs.groupby(keys)[column].mean()


# --- tables -----------------------------------------------------------------------------------------

def _csa_table(target: str):
    dataset, paper = CSA_TABLES[target]

    def build(ctx) -> None:
        runs = ctx.results[CSA[dataset]]
        errors = error(_mean_over_seeds(runs, [K, MODEL, SUBSET], "test_acc1"))
        models = [m for m in (*WRNS, "wrn") if m in set(runs[MODEL])]
        sizes = sorted(set(runs[SUBSET]))
        rows = []
        for k in [*STARTS, BASELINE_K]:
            row = {"starting sum groups": _k_label(k)}
            for model in models:
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


def table3_4(ctx) -> None:
    gradual = error(_mean_over_seeds(ctx.results[GRADUAL], [K, MODEL], "test_acc1"))
    base_runs = ctx.results[CSA["cifar10"]]
    full = base_runs[SUBSET].max()
    base = error(_mean_over_seeds(base_runs[(base_runs[SUBSET] == full) & (base_runs[K] == BASELINE_K)],
                                  [MODEL], "test_acc1"))
    models = [m for m in (*WRNS, "wrn") if m in set(ctx.results[GRADUAL][MODEL])]
    rows = []
    for k in [*STARTS, BASELINE_K]:
        row = {"starting sum groups": _k_label(k)}
        for model in models:
            row[WRN_LABELS[model]] = base.get(model, float("nan")) if k == BASELINE_K else gradual.get((k, model),
                                                                                                        float("nan"))
            reported = TABLE3_1[k][model][-1] if k == BASELINE_K and model in WRNS else TABLE3_4.get(k, {}).get(model)
            if reported is not None:
                row[f"{WRN_LABELS[model]} (paper)"] = reported
        rows.append(row)
    ctx.table(pd.DataFrame(rows), digits=2)


def _tta_table(target: str):
    dataset, paper = TTA_TABLES[target]

    def build(ctx) -> None:
        runs = ctx.results[TTA_GROUPS[dataset]]
        normal = error(_mean_over_seeds(runs, [K, MODEL], "test_acc1"))
        tta = error(_mean_over_seeds(runs, [K, MODEL], "tta_acc1"))
        models = [m for m in (*WRNS, "wrn") if m in set(runs[MODEL])]
        rows = []
        for k in STARTS:
            row = {"k values": _k_label(k, until=2)}
            for model in models:
                for label, values, i in (("normal test", normal, 0), ("test-time sum aug", tta, 1)):
                    row[f"{WRN_LABELS[model]} {label}"] = values.get((k, model), float("nan"))
                    if model in paper[k]:
                        row[f"{WRN_LABELS[model]} {label} (paper)"] = paper[k][model][i]
            rows.append(row)
        ctx.table(pd.DataFrame(rows), digits=2)

    return build


def _setting(value) -> str:
    """An attack option as its paper writes it: budgets and steps in units of 1/255."""
    if isinstance(value, float) and not isinstance(value, bool):
        return f"{value * 255:.3g}/255"
    return str(value)


def attack_settings(specs: dict) -> str:
    """The attacks as the evaluations at this scale ran them (specs: evaluation name -> resolved spec)."""
    parts = []
    for name, (label, _) in ATTACKS.items():
        attack = specs[name]["attack"]
        options = ", ".join(f"{k} {_setting(v)}" for k, v in attack.items() if k not in ("name", "eot_samples"))
        parts.append(f"{label}: {options}")
    tta = specs[f"tta_{next(iter(ATTACKS))}"]
    return "; ".join(parts) + (f"; with test-time sum augmentation ({tta['defence']['samples']} copies) EOT over "
                               f"{tta['attack']['eot_samples']} draws; {tta['subset']} test images")


def table3_3(ctx) -> None:
    runs = ctx.results[ATTACKED]
    rows = []
    for row_label, prefix in (("Baseline", ""), ("Sum-Aug", "tta_")):
        row = {"model": row_label,
               "clean": 100 * runs[f"{prefix}fgsm_clean_acc1"].mean(),
               "clean (paper)": TABLE3_3[row_label]["clean"]}
        for name, (label, _) in ATTACKS.items():
            row[label] = 100 * runs[f"{prefix}{name}_acc1"].mean()
            row[f"{label} (paper)"] = TABLE3_3[row_label][name]
        row["examples"] = int(runs[f"{prefix}fgsm_n"].iloc[0])
        rows.append(row)
    table = pd.DataFrame(rows)
    table["attacks"] = attack_settings(ctx.paper.group(ATTACKED).evaluation_specs(ctx.scale))
    ctx.table(table, digits=2)


def settings_table(ctx) -> None:
    """The training settings every chapter 3 run uses (the seed's own values were lost from its text)."""
    opt, schedule = STANDARD_WRN["optimizer"], STANDARD_WRN["schedule"]
    rows = [("batch size", BATCH, "lost", "WRN paper"),
            ("learning rate", opt["lr"], "lost", "WRN paper"),
            ("momentum (Nesterov)", opt["momentum"], "Nesterov, value lost", "WRN paper"),
            ("weight decay", opt["weight_decay"], "lost", "WRN paper"),
            ("lr factor on a plateau", schedule["factor"], "lost", "WRN paper's decay"),
            ("lr plateau (steps without a lower training loss)", schedule["patience_steps"], "300 steps", "seed"),
            ("cascade plateau (epochs without a new best test accuracy)", "max(5, 300 steps)", "unstated",
             "this harness"),
            ("augmentation", "pad-4 crops, flips", "unstated", "WRN paper"),
            ("test-time sum augmentation copies", TTA_SAMPLES, "lost", "this harness")]
    ctx.table(pd.DataFrame(rows, columns=["setting", "value", "seed", "source"]), digits=4)


# --- figures ----------------------------------------------------------------------------------------

IMAGES_PER_ROW = 6


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


GRANULARITY_POINTS = 201


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


def _curves_figure(ctx, group: str, columns: tuple[tuple[str, str], ...], rows_of) -> None:
    """One panel per (column, label) of history.csv against the epoch, a line per starting k."""
    history = ctx.histories(group)
    history = rows_of(history)
    fig, axes = new_figure(ncols=len(columns), width=3.0, height=2.5)
    means = history.groupby([MODEL, K, "epoch"], as_index=False)[[c for c, _ in columns]].mean()
    for i, ((model, k), rows) in enumerate(means.groupby([MODEL, K])):
        for ax, (column, _) in zip(axes[0], columns):
            ax.plot(rows["epoch"], rows[column], label=f"{WRN_LABELS[model]} {_k_label(k)}", color=f"C{i}")
    if "restored_from_epoch" in history:  # the cascade's phase changes, where the next k starts
        for epoch in sorted(set(history.loc[history["restored_from_epoch"].notna(), "epoch"])):
            for ax in axes[0]:
                ax.axvline(epoch + 0.5, color="0.8", linewidth=0.6, zorder=0)
    for ax, (_, label) in zip(axes[0], columns):
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
    axes[0, 0].legend(fontsize=6)
    fig.tight_layout()
    ctx.figure(fig, means)


def figure3_5(ctx) -> None:
    def largest_subset(history):
        return history[history[SUBSET] == history[SUBSET].max()]

    _curves_figure(ctx, CSA["cifar10"], (("model_norm", "model norm"), ("train_loss", "training loss")),
                   largest_subset)


def figure3_7(ctx) -> None:
    _curves_figure(ctx, GRADUAL, (("model_norm", "model norm"), ("train_loss", "training loss")), lambda h: h)


def reductions(results: dict) -> pd.DataFrame:
    """Error reduction (%) over the baseline of CSA from k = 4, mixup and SamplePairing, per CIFAR-10
    subset, for the model the comparison groups train (WRN-28-10, or smoke's): columns method,
    per_class, error, baseline_error, reduction."""
    csa = results[CSA["cifar10"]]
    model = results[MIXUP][MODEL].iloc[0]
    csa = csa[csa[MODEL] == model]
    base = error(_mean_over_seeds(csa[csa[K] == BASELINE_K], [SUBSET], "test_acc1"))
    methods = {"CSA k=4": error(_mean_over_seeds(csa[csa[K] == 4], [SUBSET], "test_acc1")),
               "Mixup": error(_mean_over_seeds(results[MIXUP], [SUBSET], "test_acc1")),
               "SamplePairing": error(_mean_over_seeds(results[PAIRING], [SUBSET], "test_acc1"))}
    rows = []
    for method, errors in methods.items():
        for size, value in errors.items():
            if size in base:
                rows.append({"method": method, "per_class": size // 10, "error": value,
                             "baseline_error": base[size], "reduction": 100 * (base[size] - value) / base[size],
                             "reduction (paper)": FIGURE3_6.get((method, size // 10), float("nan"))})
    return pd.DataFrame(rows, columns=["method", "per_class", "error", "baseline_error", "reduction",
                                       "reduction (paper)"])


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


# --- claims -----------------------------------------------------------------------------------------

def _cells(results: dict) -> list[tuple[str, pd.Series, pd.Series]]:
    """(label, baseline error by model+subset, cascade error by k+model+subset) per dataset present."""
    out = []
    for dataset, group in CSA.items():
        runs = results[group]
        errors = error(_mean_over_seeds(runs, [K, MODEL, SUBSET], "test_acc1"))
        out.append((dataset, errors.xs(BASELINE_K, level=0), errors.drop(BASELINE_K, level=0)))
    return out


def _cascade_beats_baseline(results) -> tuple[bool, str]:
    losing, count = [], 0
    for dataset, base, cascades in _cells(results):
        for (k, model, size), value in cascades.items():
            count += 1
            if not value < base.get((model, size), float("nan")):
                losing.append(f"{dataset} {model} {size // CLASSES[dataset]}/class k={k}: {value:.2f} % vs "
                              f"baseline {base.get((model, size), float('nan')):.2f} %")
    return not losing and count > 0, (f"{count} cascades against their baseline" +
                                      (f"; not lower: {'; '.join(losing)}" if losing else ", every one lower"))


def _gain_largest_at_smallest(results) -> tuple[bool, str]:
    wrong, parts = [], []
    for dataset, base, cascades in _cells(results):
        best = cascades.groupby(level=[1, 2]).min()
        gain = (base - best).dropna()
        for model, gains in gain.groupby(level=0):
            gains = gains.droplevel(0).sort_index()
            parts.append(f"{dataset} {model}: " + ", ".join(f"{s // CLASSES[dataset]}/class {g:.2f}"
                                                            for s, g in gains.items()))
            if len(gains) < 2 or not gains.iloc[0] > gains.iloc[1:].max():
                wrong.append(f"{dataset} {model}")
    return (not wrong and bool(parts),
            "points of error the best cascade gains over the baseline: " + "; ".join(parts)
            + (f"; not largest at the smallest subset (or one subset only): {', '.join(wrong)}" if wrong else ""))


def _gradual_beats_cascading(results) -> tuple[bool, str]:
    gradual = error(_mean_over_seeds(results[GRADUAL], [K, MODEL, SUBSET], "test_acc1"))
    csa = error(_mean_over_seeds(results[CSA["cifar10"]], [K, MODEL, SUBSET], "test_acc1"))
    pairs = [(key, value, csa.get(key, float("nan"))) for key, value in gradual.items()]
    losing = [f"k={k} {model}: gradual {g:.2f} % vs cascade {c:.2f} %" for (k, model, _), g, c in pairs
              if not g < c]
    listing = "; ".join(f"k={k} {model} {g:.2f} vs {c:.2f}" for (k, model, _), g, c in pairs)
    return not losing and bool(pairs), f"test error, gradual vs cascading: {listing}" + (
        f"; not lower: {'; '.join(losing)}" if losing else "")


def _tta_lowers_error(results) -> tuple[bool, str]:
    parts, losing = [], []
    for dataset, group in TTA_GROUPS.items():
        runs = results[group]
        normal = error(_mean_over_seeds(runs, [K, MODEL], "test_acc1"))
        tta = error(_mean_over_seeds(runs, [K, MODEL], "tta_acc1"))
        for key, value in normal.items():
            parts.append(f"{dataset} {key[1]} {_k_label(key[0], 2)}: {value:.2f} -> {tta[key]:.2f}")
            if not tta[key] < value:
                losing.append(parts[-1])
    return not losing and bool(parts), "test error, normal -> test-time sum augmentation: " + "; ".join(parts) + (
        f"; not lower: {'; '.join(losing)}" if losing else "")


def _tta_resists_attacks(results) -> tuple[bool, str]:
    runs = results[ATTACKED]
    parts, losing = [], []
    for name, (label, _) in ATTACKS.items():
        plain, tta = 100 * runs[f"{name}_acc1"].mean(), 100 * runs[f"tta_{name}_acc1"].mean()
        parts.append(f"{label} {plain:.2f} -> {tta:.2f} %")
        if not tta > plain:
            losing.append(label)
    return not losing, "accuracy under attack without -> with test-time sum augmentation: " + ", ".join(parts) + (
        f"; not higher under {', '.join(losing)}" if losing else "")


CLEAN_COST = 2.0  # points of clean accuracy test-time sum augmentation may cost


def _tta_clean_cost(results) -> tuple[bool, str]:
    runs = results[ATTACKED]
    plain, tta = 100 * runs["fgsm_clean_acc1"].mean(), 100 * runs["tta_fgsm_clean_acc1"].mean()
    cost = plain - tta
    return bool(cost < CLEAN_COST), (f"clean accuracy {plain:.2f} % without, {tta:.2f} % with test-time sum "
                                     f"augmentation: a cost of {cost:.2f} points (the claim allows under "
                                     f"{CLEAN_COST:g})")


def _csa_beats_other_mixing(results) -> tuple[bool, str]:
    data = reductions(results)
    table = data.pivot(index="per_class", columns="method", values="reduction")
    losing = [f"{size}/class" for size, row in table.iterrows()
              if not row.get("CSA k=4", float("nan")) > row.drop("CSA k=4", errors="ignore").max()]
    listing = "; ".join(f"{size}/class " + ", ".join(f"{m} {v:.1f} %" for m, v in row.items())
                        for size, row in table.iterrows())
    return not losing and len(table) > 0, f"error reduction over the baseline: {listing}" + (
        f"; CSA not ahead at {', '.join(losing)}" if losing else "")


CLAIMS = (
    Claim("cascading-beats-baseline", "every cascade (from k = 8, 4 and 2) has a lower test error than the "
          "baseline, at every subset, model and dataset", _cascade_beats_baseline),
    Claim("cascading-gains-most-at-smallest-subset", "the best cascade's gain over the baseline (points of "
          "error) is largest at the smallest subset, for every model and dataset", _gain_largest_at_smallest),
    Claim("gradual-beats-cascading", "the gradual cascade has a lower test error than the cascade from the same k "
          "(whole CIFAR-10, every model)", _gradual_beats_cascading),
    Claim("test-time-sum-augmentation-lowers-error", "test-time sum augmentation lowers the test error of every "
          "model whose cascade stops at k = 2", _tta_lowers_error),
    Claim("test-time-sum-augmentation-resists-attacks", "test-time sum augmentation raises the baseline's "
          "accuracy under FGSM, BIM, MI-FGSM and PGD", _tta_resists_attacks),
    Claim("test-time-sum-augmentation-costs-little-clean-accuracy",
          f"test-time sum augmentation costs the baseline under {CLEAN_COST:g} points of clean accuracy",
          _tta_clean_cost),
    Claim("csa-beats-mixup-and-samplepairing", "cascading from k = 4 reduces the baseline's error more than mixup "
          "and SamplePairing at every CIFAR-10 subset (WRN-28-10)", _csa_beats_other_mixing),
)


# --- reported numbers -------------------------------------------------------------------------------

def _reported() -> list[Reported]:
    out = []
    for target, (dataset, paper) in CSA_TABLES.items():
        for k, by_model in paper.items():
            for model, values in by_model.items():
                for per_class, value in zip(PER_CLASS[dataset], values):
                    out.append(Reported(target, CSA[dataset], {SUBSET: per_class * CLASSES[dataset], MODEL: model,
                                                               K: k},
                                        "test_acc1", value, method=f"{_k_label(k)} {per_class}/class",
                                        error=True))
    for k, by_model in TABLE3_4.items():
        for model, value in by_model.items():
            out.append(Reported("table3_4", GRADUAL, {MODEL: model, K: k}, "test_acc1", value,
                                method=f"gradual k={k}", error=True))
    for target, (dataset, paper) in TTA_TABLES.items():
        for k, by_model in paper.items():
            for model, (normal, tta) in by_model.items():
                where = {MODEL: model, K: k}
                out.append(Reported(target, TTA_GROUPS[dataset], where, "test_acc1", normal,
                                    method=f"{_k_label(k, 2)} normal test", error=True))
                out.append(Reported(target, TTA_GROUPS[dataset], where, "tta_acc1", tta,
                                    method=f"{_k_label(k, 2)} test-time sum aug", error=True))
    for row, prefix in (("Baseline", ""), ("Sum-Aug", "tta_")):
        out.append(Reported("table3_3", ATTACKED, {}, f"{prefix}fgsm_clean_acc1", TABLE3_3[row]["clean"],
                            method=f"{row} clean", note=f"on {ATTACK_SUBSET} test images"))
        for name, (label, _) in ATTACKS.items():
            out.append(Reported("table3_3", ATTACKED, {}, f"{prefix}{name}_acc1", TABLE3_3[row][name],
                                method=f"{row} {label}", note=f"eps 8/255, on {ATTACK_SUBSET} test images"))
    return out


REPORTED = tuple(_reported())

TARGETS = (
    Target("table3_1", "table", (CSA["cifar10"],), _csa_table("table3_1"),
           "Cascading sum augmentation on CIFAR-10 subsets: test error (%) by starting sum groups"),
    Target("table3_2", "table", (CSA["cifar100"],), _csa_table("table3_2"),
           "Cascading sum augmentation on CIFAR-100 subsets: test error (%) by starting sum groups"),
    Target("figure3_3", "figure", (), figure3_3, "Sum-augmented CIFAR-10 training images for k = 2, 4 and 8",
           images=CSA["cifar10"]),
    Target("figure3_4", "figure", (), figure3_4, "The gradually cascading coefficients against the granularity g"),
    Target("figure3_5", "figure", (CSA["cifar10"],), figure3_5,
           "Model norm and training loss per epoch of the cascades on the largest CIFAR-10 subset"),
    Target("figure3_6", "figure", (CSA["cifar10"], MIXUP, PAIRING), figure3_6,
           "Error reduction over the baseline: cascading from k = 4, mixup and SamplePairing (CIFAR-10)"),
    Target("table3_3", "table", (ATTACKED,), table3_3,
           "Accuracy (%) of the baseline WRN-28-10 under attack, without and with test-time sum augmentation"),
    Target("table3_4", "table", (GRADUAL, CSA["cifar10"]), table3_4,
           "Gradually cascading sum augmentation on CIFAR-10: test error (%)"),
    Target("figure3_7", "figure", (GRADUAL,), figure3_7,
           "Model norm and training loss per epoch of the gradual cascades"),
    Target("table3_5", "table", (TTA_GROUPS["cifar10"],), _tta_table("table3_5"),
           "Cascades stopped at k = 2 on CIFAR-10: test error (%), normal test vs test-time sum augmentation"),
    Target("table3_6", "table", (TTA_GROUPS["cifar100"],), _tta_table("table3_6"),
           "Cascades stopped at k = 2 on CIFAR-100: test error (%), normal test vs test-time sum augmentation"),
    Target("table3_0", "table", (), settings_table,
           "Training settings of every chapter 3 run (the seed's batch size, lr, factor and weight decay are lost)"),
)

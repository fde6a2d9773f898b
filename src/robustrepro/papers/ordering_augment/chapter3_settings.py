"""Chapter 3's run groups as data: cascading sum augmentation (§3.4), sum augmentation at k = 8 alone (§3.4's
49.05 %), the gradual cascade (§3.5), mixup and SamplePairing beside it (§3.7.1), cascades stopped at k = 2 under
Test Time Sum Augmentation (§3.6) and the attacked baseline (§3.7.3)."""

from __future__ import annotations

import math

from robustrepro.papers.spec import RunGroup
from robustrepro.scales import shrink

SUBSET, MODEL, K = "train_subset", "model.name", "step.k"
WRNS = ("wrn40_4", "wrn28_10")
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
# Test Time Sum Augmentation: the seed's n of copies is lost; the authors' code draws 64. The copies of an input go
# through the model in one batch, so TTA_BATCH inputs at once keep a batch at 2,048 copies (256 inputs x 8 before).
TTA_SAMPLES, TTA_BATCH = 64, 32
TTA = {"snapshot": "best", "batch_size": TTA_BATCH,
       "defence": {"name": "sum_augment", "k": 2, "weight": 1.0, "samples": TTA_SAMPLES, "average": "probabilities"}}

EPS = 8 / 255
ATTACK_SUBSET, EOT_SAMPLES = 1000, 4
# Each attack's usual CIFAR settings at eps 8/255 (the seed names the attacks only); PGD starts at the clean image,
# as the authors' code does (no random start).
ATTACKS = {
    "fgsm": ("FGSM", {"name": "fgsm", "eps": EPS}),
    "bim": ("BIM", {"name": "bim", "eps": EPS, "step_size": 1 / 255, "iterations": 10}),
    "mifgsm": ("MI-FGSM", {"name": "mifgsm", "eps": EPS, "step_size": EPS / 10, "iterations": 10, "decay": 1.0}),
    "pgd": ("PGD", {"name": "pgd", "eps": EPS, "step_size": 2 / 255, "iterations": 10, "random_start": False}),
}

SMOKE_SIZE, SMOKE_EPOCHS, SMOKE_PATIENCE = 256, 6, 1  # 6 epochs: room for 4-2-1 at patience 1
# The subset and epochs again here: smoke's defaults (robustrepro.scales) reset both after the grid set them.
SMOKE = {"train_subset": SMOKE_SIZE, "epochs": SMOKE_EPOCHS, "test_subset": 128, "batch_size": 32,
         "model": {"name": "wrn", "depth": 10, "widen": 1, "width": 0.25, "dropout": 0.0}}
SMOKE_START = 4  # smoke's one cascade: 4-2-1 (figure3_6 compares the cascade from k = 4)
QUICK = {"test_subset": 2000, "model": {"width": 0.25}}
QUICK_SHARE = 0.25  # of the epoch budgets
SCALED = {"quick": QUICK, "smoke": SMOKE}


def budget(train_size: int, share: float = 1.0) -> tuple[int, int]:
    """(epochs, cascade patience in epochs) of a run on train_size images: the patience covers
    PLATEAU_STEPS steps (at least MIN_PATIENCE epochs), the budget EPOCHS_PER_PATIENCE patiences (at
    least MIN_EPOCHS), times `share` (QUICK_SHARE at quick scale)."""
    steps = math.ceil(train_size / BATCH)
    patience = max(MIN_PATIENCE, math.ceil(PLATEAU_STEPS / steps))
    return shrink(max(MIN_EPOCHS, EPOCHS_PER_PATIENCE * patience), share), patience


def k_label(k: int, until: int = 1) -> str:
    """A cascade as the seed's tables name it: "Baseline", its starting k, or its chain ("8-4-2")."""
    if k == BASELINE_K:
        return "Baseline"
    chain = [k]
    while chain[-1] > until:
        chain.append(chain[-1] // 2)
    return "-".join(map(str, chain)) if until > 1 else str(k)


# --- the budgets of each subset: a grid axis whose values move together ----------------------------
# A cascade ends on its plateaus; a fixed-budget method runs its epochs and reports its best epoch
# (early stopping with a patience as long as the run, which never stops it).
CASCADE_AXIS = (SUBSET, "epochs", "cascade.patience")
FIXED_AXIS = (SUBSET, "epochs", "early_stopping.patience")


def cascade_budgets(dataset: str, per_class, share: float = 1.0) -> list[tuple]:
    """(train_subset, epochs, cascade.patience) of each subset of per_class images a class: budget()."""
    return [(n * CLASSES[dataset], *budget(n * CLASSES[dataset], share)) for n in per_class]


def fixed_budgets(per_class, step_share: float | None = None, share: float = 1.0) -> list[tuple]:
    """(train_subset, epochs, early_stopping.patience = epochs[, the step's epochs: step_share of the run's])
    of each CIFAR-10 subset of per_class images a class."""
    out = []
    for n in per_class:
        epochs, _ = budget(n * 10, share)
        out.append((n * 10, epochs, epochs, *(() if step_share is None else (shrink(epochs, step_share),))))
    return out


SMOKE_CASCADE = (SMOKE_SIZE, SMOKE_EPOCHS, SMOKE_PATIENCE)
SMOKE_FIXED = (SMOKE_SIZE, SMOKE_EPOCHS, SMOKE_EPOCHS)
SMOKE_STEP_EPOCHS = SMOKE_EPOCHS - 1  # the gradual cascade's and SamplePairing's last mixing epoch at smoke scale

# --- the experiments: one base run each (the grids set the budgets) --------------------------------
# Tables 3.1-3.2: cascading sum augmentation from k sum groups down to the original data (k = 1: the baseline).
CASCADE = {
    "dataset": "cifar10",
    **STANDARD_WRN,
    "model": {"name": "wrn40_4", "dropout": 0.0},
    "step": {"name": "sum_augment", "k": STARTS[0]},
    "cascade": {"patience": MIN_PATIENCE, "metric": "test_acc1", "until": 1},
}
# Tables 3.5-3.6: the cascades stop at k = 2 (8-4-2, 4-2, 2).
CASCADE_TO_2 = {**CASCADE, "cascade": {"patience": MIN_PATIENCE, "metric": "test_acc1", "until": 2}}
# Table 3.3: the baseline WRN-28-10 of the whole CIFAR-10 (the same runs as csa-cifar10's).
ATTACKED_BASELINE = {**CASCADE, "model": {"name": "wrn28_10", "dropout": 0.0},
                     "step": {"name": "sum_augment", "k": BASELINE_K}}
# The fixed-budget methods (table 3.4, figure 3.6): the best epoch of the run.
FIXED = {
    "dataset": "cifar10",
    **STANDARD_WRN,
    "model": {"name": "wrn40_4", "dropout": 0.0},
    "early_stopping": {"patience": MIN_EPOCHS, "metric": "test_acc1"},
}
GRADUAL_RUN = {**FIXED, "step": {"name": "gradual_sum", "k": STARTS[0], "epochs": 1}}
MIXUP_RUN = {**FIXED, "step": {"name": "mixup", "alpha": MIXUP_ALPHA}}
PAIRING_RUN = {**FIXED, "step": {"name": "sample_pairing", "until_epoch": 1, "on_epochs": 8, "off_epochs": 2}}

# --- group names ----------------------------------------------------------------------------------
CSA = {"cifar10": "csa-cifar10", "cifar100": "csa-cifar100"}
TTA_GROUPS = {"cifar10": "tta-cifar10", "cifar100": "tta-cifar100"}
GRADUAL, MIXUP, PAIRING, ATTACKED = "gradual-cifar10", "mixup-cifar10", "samplepairing-cifar10", "attacked-cifar10"
SUM_ONLY = "sum8-cifar10"

# §3.4: "a WideResNet(28,10) model trained on the full CIFAR-10 dataset, but only with sum augmentation where k = 8
# reached convergence at a test dataset accuracy of 49.05 %": the cascade's first phase alone (until k = 8), which
# ends on its plateau and reports its best epoch. Smoke trains k = 2 alone instead: tta-cifar10's run, no new one.
SUM_ONLY_K = 8
SUM_ONLY_AXIS = (K, "cascade.until")
SUM_ONLY_RUN = {**CASCADE, "model": {"name": "wrn28_10", "dropout": 0.0},
                "cascade": {"patience": MIN_PATIENCE, "metric": "test_acc1", "until": SUM_ONLY_K}}


def _attack_evaluations() -> tuple[dict, dict]:
    """Each attack without and with Test Time Sum Augmentation (EOT over its randomness), on the
    best checkpoint; and their smoke-scale changes (2 steps, 2 draws, 32 images)."""
    evaluations, smoke = {}, {}
    for name, (_, attack) in ATTACKS.items():
        evaluations[name] = {"snapshot": "best", "subset": ATTACK_SUBSET, "attack": attack}
        evaluations[f"tta_{name}"] = {**TTA, "subset": ATTACK_SUBSET, "attack": {**attack, "eot_samples": EOT_SAMPLES}}
        steps = {"iterations": 2} if "iterations" in attack else {}
        smoke[name] = {"subset": 32, "batch_size": 32, "attack": steps}
        smoke[f"tta_{name}"] = {"subset": 32, "batch_size": 32, "attack": {**steps, "eot_samples": 2},
                                "defence": {"samples": 2}}
    return evaluations, smoke


ATTACK_EVALUATIONS, ATTACK_SMOKE = _attack_evaluations()
GRADUAL_AXIS, PAIRING_AXIS = FIXED_AXIS + ("step.epochs",), FIXED_AXIS + ("step.until_epoch",)

GROUPS = (
    RunGroup(name=CSA["cifar10"], base=CASCADE,
             grid={CASCADE_AXIS: cascade_budgets("cifar10", PER_CLASS["cifar10"]), MODEL: list(WRNS),
                   K: [*STARTS, BASELINE_K]},
             grids={"quick": {CASCADE_AXIS: cascade_budgets("cifar10", QUICK_PER_CLASS, QUICK_SHARE)},
                    "smoke": {CASCADE_AXIS: [SMOKE_CASCADE], MODEL: ["wrn"], K: [SMOKE_START, BASELINE_K]}},
             overrides=SCALED),
    RunGroup(name=CSA["cifar100"], base={**CASCADE, "dataset": "cifar100"},
             grid={CASCADE_AXIS: cascade_budgets("cifar100", PER_CLASS["cifar100"]), MODEL: list(WRNS),
                   K: [*STARTS, BASELINE_K]},
             grids={"quick": {CASCADE_AXIS: cascade_budgets("cifar100", QUICK_PER_CLASS, QUICK_SHARE)},
                    "smoke": {CASCADE_AXIS: [SMOKE_CASCADE], MODEL: ["wrn"], K: [SMOKE_START, BASELINE_K]}},
             overrides=SCALED),
    RunGroup(name=GRADUAL, base=GRADUAL_RUN,
             grid={GRADUAL_AXIS: fixed_budgets((FULL["cifar10"],), GRADUAL_SHARE), MODEL: list(WRNS),
                   K: list(STARTS)},
             grids={"quick": {GRADUAL_AXIS: fixed_budgets((QUICK_FULL,), GRADUAL_SHARE, QUICK_SHARE)},
                    "smoke": {GRADUAL_AXIS: [(*SMOKE_FIXED, SMOKE_STEP_EPOCHS)], MODEL: ["wrn"], K: [STARTS[-1]]}},
             overrides=SCALED),
    RunGroup(name=MIXUP, base=MIXUP_RUN,
             grid={FIXED_AXIS: fixed_budgets(PER_CLASS["cifar10"]), MODEL: ["wrn28_10"]},
             grids={"quick": {FIXED_AXIS: fixed_budgets(QUICK_PER_CLASS, share=QUICK_SHARE)},
                    "smoke": {FIXED_AXIS: [SMOKE_FIXED], MODEL: ["wrn"]}},
             overrides=SCALED),
    RunGroup(name=PAIRING, base=PAIRING_RUN,
             grid={PAIRING_AXIS: fixed_budgets(PER_CLASS["cifar10"], PAIRING_SHARE), MODEL: ["wrn28_10"]},
             grids={"quick": {PAIRING_AXIS: fixed_budgets(QUICK_PER_CLASS, PAIRING_SHARE, QUICK_SHARE)},
                    "smoke": {PAIRING_AXIS: [(*SMOKE_FIXED, SMOKE_STEP_EPOCHS)], MODEL: ["wrn"]}},
             overrides=SCALED),
    RunGroup(name=SUM_ONLY, base=SUM_ONLY_RUN,
             grid={CASCADE_AXIS: cascade_budgets("cifar10", (FULL["cifar10"],)), SUM_ONLY_AXIS: [(SUM_ONLY_K,) * 2]},
             grids={"quick": {CASCADE_AXIS: cascade_budgets("cifar10", (QUICK_FULL,), QUICK_SHARE)},
                    "smoke": {CASCADE_AXIS: [SMOKE_CASCADE], MODEL: ["wrn"], SUM_ONLY_AXIS: [(STARTS[-1],) * 2]}},
             overrides=SCALED),
    RunGroup(name=TTA_GROUPS["cifar10"], base=CASCADE_TO_2,
             grid={CASCADE_AXIS: cascade_budgets("cifar10", (FULL["cifar10"],)), MODEL: list(WRNS),
                   K: list(STARTS)},
             grids={"quick": {CASCADE_AXIS: cascade_budgets("cifar10", (QUICK_FULL,), QUICK_SHARE)},
                    "smoke": {CASCADE_AXIS: [SMOKE_CASCADE], MODEL: ["wrn"], K: [STARTS[-1]]}},
             overrides=SCALED, evaluations={"tta": TTA}),
    RunGroup(name=TTA_GROUPS["cifar100"], base={**CASCADE_TO_2, "dataset": "cifar100"},
             grid={CASCADE_AXIS: cascade_budgets("cifar100", (FULL["cifar100"],)), MODEL: list(WRNS),
                   K: list(STARTS)},
             grids={"quick": {CASCADE_AXIS: cascade_budgets("cifar100", (QUICK_FULL,), QUICK_SHARE)},
                    "smoke": {CASCADE_AXIS: [SMOKE_CASCADE], MODEL: ["wrn"], K: [STARTS[-1]]}},
             overrides=SCALED, evaluations={"tta": TTA}),
    RunGroup(name=ATTACKED, base=ATTACKED_BASELINE,
             grid={CASCADE_AXIS: cascade_budgets("cifar10", (FULL["cifar10"],))},
             grids={"quick": {CASCADE_AXIS: cascade_budgets("cifar10", (QUICK_FULL,), QUICK_SHARE)},
                    "smoke": {CASCADE_AXIS: [SMOKE_CASCADE], MODEL: ["wrn"]}},
             overrides=SCALED, evaluations=ATTACK_EVALUATIONS, evaluation_overrides={"smoke": ATTACK_SMOKE}),
)

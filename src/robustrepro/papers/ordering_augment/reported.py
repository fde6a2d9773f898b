"""The numbers seed 004 printed: chapter 2's tables 2.1-2.4, chapter 3's tables 3.1-3.6 and figure 3.6's text."""

from __future__ import annotations

from robustrepro.papers.ordering_augment.chapter2_settings import (BASELINE, CANDIDATES, DELTA_EXTERNAL, DELTA_SAME,
                                                                   LOSS_ORDER, ORDERER_K, ORDERER_LABEL, PERFECT)
from robustrepro.papers.ordering_augment.chapter3_settings import (ATTACK_SUBSET, ATTACKED, ATTACKS, BASELINE_K,
                                                                   CLASSES, CSA, GRADUAL, K, MIXUP, MODEL, PER_CLASS,
                                                                   SUBSET,
                                                                   SUM_ONLY, TTA_GROUPS, k_label)
from robustrepro.papers.spec import Reported

# ---- chapter 2 ----

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

# The orderer family of each table and the seed's numbers: target -> (group, rows).
ORDERER_TABLES = {"table2_2": (LOSS_ORDER, TABLE2_2), "table2_3": (DELTA_SAME, TABLE2_3),
                  "table2_4": (DELTA_EXTERNAL, TABLE2_4)}

# ---- chapter 3 (test error, %) ----

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
# §3.4 text: WRN-28-10 on the whole CIFAR-10 trained with sum augmentation at k = 8 alone, test accuracy (%).
SUM_ONLY_ACCURACY = 49.05

CSA_TABLES = {"table3_1": ("cifar10", TABLE3_1), "table3_2": ("cifar100", TABLE3_2)}
TTA_TABLES = {"table3_5": ("cifar10", TABLE3_5), "table3_6": ("cifar100", TABLE3_6)}


def _chapter2() -> list[Reported]:
    out = []
    for epoch, row in enumerate(TABLE2_1, start=1):
        for column, label, value in zip(TABLE2_1_COLUMNS, TABLE2_1_LABELS, row):
            percent = "acc" in column
            out.append(Reported("table2_1", PERFECT, {}, column, round(value * 100, 1) if percent else value,
                                method=label,
                                epoch=epoch, percent=percent,
                                note="" if percent else "sum over 4 test batches of 512 of the mean cross-entropy"))
    for target, (group, paper) in ORDERER_TABLES.items():
        for epoch, row in enumerate(paper, start=1):
            out.append(Reported(target, BASELINE, {}, "test_acc1", round(row[0] * 100, 2), method="baseline",
                                epoch=epoch))
            for k, value in zip(ORDERER_K[group], row[1:]):
                out.append(Reported(target, group, {CANDIDATES: k}, "test_acc1", round(value * 100, 2),
                                    method=f"{ORDERER_LABEL[group]} K={k}", epoch=epoch))
    return out


def _chapter3() -> list[Reported]:
    out = []
    for target, (dataset, paper) in CSA_TABLES.items():
        for k, by_model in paper.items():
            for model, values in by_model.items():
                for per_class, value in zip(PER_CLASS[dataset], values):
                    out.append(Reported(target, CSA[dataset], {SUBSET: per_class * CLASSES[dataset], MODEL: model,
                                                               K: k},
                                        "test_acc1", value, method=f"{k_label(k)} {per_class}/class",
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
                                    method=f"{k_label(k, 2)} normal test", error=True))
                out.append(Reported(target, TTA_GROUPS[dataset], where, "tta_acc1", tta,
                                    method=f"{k_label(k, 2)} test-time sum aug", error=True))
    out.append(Reported("figure3_3", SUM_ONLY, {}, "test_acc1", SUM_ONLY_ACCURACY,
                        method="sum augmentation k=8 only",
                        note="§3.4 text: trained on k = 8 sums alone (figure 3.3's last row), best epoch before "
                             "its plateau"))
    # Figure 3.6's error reductions over the baseline (k = 1) of the same subset, WRN-28-10 (§3.7.1 text).
    for (method, per_class), value in FIGURE3_6.items():
        where = {SUBSET: per_class * 10, MODEL: "wrn28_10"}
        baseline = {**where, K: BASELINE_K}
        if method == "Mixup":
            out.append(Reported("figure3_6", MIXUP, {SUBSET: per_class * 10}, "test_acc1", value, over=baseline,
                                over_group=CSA["cifar10"], reduction=True, method=f"mixup {per_class}/class",
                                note="§3.7.1: mixup's error reduction over the baseline, in %"))
        else:
            out.append(Reported("figure3_6", CSA["cifar10"], {**where, K: 4}, "test_acc1", value, over=baseline,
                                reduction=True, method=f"{method} {per_class}/class",
                                note="§3.7.1: the cascade from k = 4's error reduction over the baseline, in %"))
    for row, prefix in (("Baseline", ""), ("Sum-Aug", "tta_")):
        out.append(Reported("table3_3", ATTACKED, {}, f"{prefix}fgsm_clean_acc1", TABLE3_3[row]["clean"],
                            method=f"{row} clean", note=f"on {ATTACK_SUBSET} test images"))
        for name, (label, _) in ATTACKS.items():
            out.append(Reported("table3_3", ATTACKED, {}, f"{prefix}{name}_acc1", TABLE3_3[row][name],
                                method=f"{row} {label}", note=f"eps 8/255, on {ATTACK_SUBSET} test images"))
    return out


CHAPTER2, CHAPTER3 = tuple(_chapter2()), tuple(_chapter3())
REPORTED = CHAPTER2 + CHAPTER3

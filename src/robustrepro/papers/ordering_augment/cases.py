"""Numbers to try the claims on (Claim.must_fail / must_hold): the seed's own tables, shaped as the
workflow collects runs and histories, with the changes that a claim's sentence rules out."""

from __future__ import annotations

import pandas as pd

from robustrepro.papers.cases import collected
from robustrepro.papers.ordering_augment.chapter2_settings import (BASELINE, CANDIDATES, DESCENDING, LOSS_ORDER,
                                                                   ORDERER_K, PERFECT)
from robustrepro.papers.ordering_augment.chapter3_settings import (ATTACKED, ATTACKS, CLASSES, CSA, FULL, GRADUAL,
                                                                   K, MIXUP, MODEL, PAIRING, PER_CLASS, SUBSET,
                                                                   SUM_ONLY, TTA_GROUPS)
from robustrepro.papers.ordering_augment.reported import (CSA_TABLES, ORDERER_TABLES, TABLE2_1, TABLE2_1_COLUMNS,
                                                          TABLE3_3, TABLE3_4, TTA_TABLES)

# ---- chapter 2 ----


def perfect_history(table=TABLE2_1, change: dict | None = None):
    """The brute-force run's history.csv from rows like table 2.1's (fractions; losses as printed),
    with change[(epoch, column)] = value applied."""
    rows = []
    for epoch, values in enumerate(table, start=1):
        row = {"epoch": epoch, "seed": 0, **dict(zip(TABLE2_1_COLUMNS, values))}
        for (e, column), value in (change or {}).items():
            if e == epoch:
                row[column] = value
        rows.append(row)
    return {PERFECT: pd.DataFrame()}, {PERFECT: pd.DataFrame(rows)}


def layered_table(gap: float, step: float = 0.025):
    """Table 2.1 with its accuracies replaced by epochs whose ranges climb by `step` an epoch: min 0.60 +
    step x epoch, max min + gap. gap < step: no epoch's best beats a later epoch's worst (though each
    epoch's best beats its worst); step < gap < 2 step: only the next epoch's worst is beaten."""
    return tuple((round(0.60 + step * e, 4), round(0.61 + step * e, 4), round(0.60 + step * e + gap, 4), *row[3:])
                 for e, row in enumerate(TABLE2_1, start=1))


# Training accuracy (fraction) above each epoch's test accuracy: the seed prints none (its figures 2.3-2.5
# draw it); the loss orderer's is higher than the baseline's, as §2.4.1 says.
TRAIN_ABOVE_TEST = {BASELINE: 0.05, LOSS_ORDER: 0.09}


def orderer_histories(tables=None, change: dict | None = None, descending=(0.10, 0.11, 0.10),
                      train: dict | None = None):
    """Histories of the baseline, the three orderer families (from tables 2.2-2.4, or `tables`:
    group -> rows of [baseline, K...] accuracies) and the descending order; change[(group, k, epoch)]
    = accuracy (fraction) overrides one value (k None for the baseline). train_acc is test_acc1 plus
    TRAIN_ABOVE_TEST[group] (0 for the other groups), or plus train[(group, k)] where given."""
    tables = tables or {group: paper for group, paper in ORDERER_TABLES.values()}
    change, train = change or {}, train or {}

    def row_of(group, k, epoch, acc):
        acc = change.get((group, k, epoch), acc)
        gap = train.get((group, k), TRAIN_ABOVE_TEST.get(group, 0.0))
        return {"epoch": epoch, "seed": 0, **({} if k is None else {CANDIDATES: k}), "test_acc1": acc,
                "train_acc": acc + gap}

    frames = {BASELINE: [], DESCENDING: []}
    for group, _ in ORDERER_TABLES.values():
        frames[group] = []
        for epoch, row in enumerate(tables[group], start=1):
            if group == LOSS_ORDER:
                frames[BASELINE].append(row_of(BASELINE, None, epoch, row[0]))
            for k, acc in zip(ORDERER_K[group], row[1:]):
                frames[group].append(row_of(group, k, epoch, acc))
    for epoch, acc in enumerate(descending, start=1):
        frames[DESCENDING].append({"epoch": epoch, "seed": 0, "test_acc1": acc})
    histories = {g: pd.DataFrame(rows) for g, rows in frames.items()}
    return {g: pd.DataFrame() for g in histories}, histories


# ---- chapter 3 ----

# Errors (%) the seed does not print, for the comparison groups: mixup's at 100 and 5,000 per class
# follow from its reductions in the text (13.5 % and 22.86 % of the baseline's 43.47 and 4.68).
MIXUP_ERRORS = {100: 37.60, 500: 17.0, 5000: 3.61}
PAIRING_ERRORS = {100: 40.0, 500: 18.5, 5000: 4.2}


def two_groups_against_cascades(offset: float) -> dict:
    """csa replacements that put each cell's k = 2 error `offset` points above the best of k = 8 and 4 (negative:
    below it) in tables 3.1/3.2."""
    out = {}
    for dataset, table in CSA_TABLES.values():
        for model in table[2]:
            for i, per_class in enumerate(PER_CLASS[dataset]):
                best = min(table[8][model][i], table[4][model][i])
                out[(dataset, 2, model, per_class)] = round(best + offset, 2)
    return out


# Final model norms of the cascades on the whole CIFAR-10 (figure 3.5 draws them; no number is printed but §3.3's
# 442.4 for a WRN-28-10 trained on averaged images): model -> starting k -> norm, lower for a higher k (§3.7.1).
NORMS = {"wrn40_4": {1: 330.0, 2: 318.0, 4: 305.0, 8: 296.0}, "wrn28_10": {1: 471.0, 2: 452.0, 4: 442.4, 8: 430.0}}


def ch3_results(csa=None, gradual=None, tta=None, attacked=None, mixup=None, norms=None, sum_only=49.05):
    """Chapter 3's groups from the seed's tables, with replacements: csa[(dataset, k, model, per_class)]
    = error, gradual[(k, model)] = error, tta[(dataset, k, model)] = (normal, tta) errors,
    attacked[(row, attack or "clean")] = accuracy, mixup[per_class] = error (all in %); norms[(model, k)]
    = the final model norm of csa-cifar10's runs (NORMS, every subset alike); sum_only the test accuracy
    (%) of the run trained with sum augmentation at k = 8 alone."""
    csa, gradual, tta, attacked, mixup, norms = (x or {} for x in (csa, gradual, tta, attacked, mixup, norms))
    out = {}
    for dataset, table in CSA_TABLES.values():
        points = []
        for k, by_model in table.items():
            for model, errors in by_model.items():
                for per_class, err in zip(PER_CLASS[dataset], errors):
                    err = csa.get((dataset, k, model, per_class), err)
                    points.append(({SUBSET: per_class * CLASSES[dataset], MODEL: model, K: k},
                                   {"test_acc1": 100 - err}))
        out[CSA[dataset]] = collected(CSA[dataset], points)
    runs = out[CSA["cifar10"]]
    runs["model_norm"] = [norms.get((m, k), NORMS[m][k]) for m, k in zip(runs[MODEL], runs[K])]
    out[SUM_ONLY] = collected(SUM_ONLY, [({SUBSET: 50000, K: 8}, {"test_acc1": sum_only})])
    out[GRADUAL] = collected(GRADUAL, [({SUBSET: 50000, MODEL: model, K: k},
                                        {"test_acc1": 100 - gradual.get((k, model), err)})
                                       for k, by_model in TABLE3_4.items() for model, err in by_model.items()])
    for group, errors in ((MIXUP, {**MIXUP_ERRORS, **mixup}), (PAIRING, PAIRING_ERRORS)):
        out[group] = collected(group, [({SUBSET: n * 10, MODEL: "wrn28_10"}, {"test_acc1": 100 - err})
                                       for n, err in errors.items()])
    for dataset, table in TTA_TABLES.values():
        points = []
        for k, by_model in table.items():
            for model, pair in by_model.items():
                normal, augmented = tta.get((dataset, k, model), pair)
                points.append(({SUBSET: FULL[dataset] * CLASSES[dataset], MODEL: model, K: k},
                               {"test_acc1": 100 - normal, "tta_acc1": 100 - augmented}))
        out[TTA_GROUPS[dataset]] = collected(TTA_GROUPS[dataset], points)
    metrics = {}
    for row, prefix in (("Baseline", ""), ("Sum-Aug", "tta_")):
        values = {**TABLE3_3[row], **{a: v for (r, a), v in attacked.items() if r == row}}
        metrics[f"{prefix}fgsm_clean_acc1"] = values["clean"]
        metrics.update({f"{prefix}{name}_acc1": values[name] for name in ATTACKS})
    out[ATTACKED] = collected(ATTACKED, [({SUBSET: 50000}, metrics)])
    return (out,)

"""Numbers to try the claims on (Claim.must_fail / must_hold): the seed's own tables, shaped as the
workflow collects runs and histories, with the changes that a claim's sentence rules out."""

from __future__ import annotations

import pandas as pd

from robustrepro.papers.cases import collected
from robustrepro.papers.ordering_augment.chapter2_settings import (BASELINE, CANDIDATES, DESCENDING, LOSS_ORDER,
                                                                   ORDERER_K, PERFECT)
from robustrepro.papers.ordering_augment.chapter3_settings import (ATTACKED, ATTACKS, CLASSES, CSA, FULL, GRADUAL,
                                                                   K, MIXUP, MODEL, PAIRING, PER_CLASS, SUBSET,
                                                                   TTA_GROUPS)
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


def orderer_histories(tables=None, change: dict | None = None, descending=(0.10, 0.11, 0.10)):
    """Histories of the baseline, the three orderer families (from tables 2.2-2.4, or `tables`:
    group -> rows of [baseline, K...] accuracies) and the descending order; change[(group, k, epoch)]
    = accuracy (fraction) overrides one value (k None for the baseline)."""
    tables = tables or {group: paper for group, paper in ORDERER_TABLES.values()}
    change = change or {}
    frames = {BASELINE: [], DESCENDING: []}
    for group, _ in ORDERER_TABLES.values():
        frames[group] = []
        for epoch, row in enumerate(tables[group], start=1):
            if group == LOSS_ORDER:
                acc = change.get((BASELINE, None, epoch), row[0])
                frames[BASELINE].append({"epoch": epoch, "seed": 0, "test_acc1": acc})
            for k, acc in zip(ORDERER_K[group], row[1:]):
                frames[group].append({"epoch": epoch, "seed": 0, CANDIDATES: k,
                                      "test_acc1": change.get((group, k, epoch), acc)})
    for epoch, acc in enumerate(descending, start=1):
        frames[DESCENDING].append({"epoch": epoch, "seed": 0, "test_acc1": acc})
    histories = {g: pd.DataFrame(rows) for g, rows in frames.items()}
    return {g: pd.DataFrame() for g in histories}, histories


# ---- chapter 3 ----

# Errors (%) the seed does not print, for the comparison groups: mixup's at 100 and 5,000 per class
# follow from its reductions in the text (13.5 % and 22.86 % of the baseline's 43.47 and 4.68).
MIXUP_ERRORS = {100: 37.60, 500: 17.0, 5000: 3.61}
PAIRING_ERRORS = {100: 40.0, 500: 18.5, 5000: 4.2}


def ch3_results(csa=None, gradual=None, tta=None, attacked=None, mixup=None):
    """Chapter 3's groups from the seed's tables, with replacements: csa[(dataset, k, model, per_class)]
    = error, gradual[(k, model)] = error, tta[(dataset, k, model)] = (normal, tta) errors,
    attacked[(row, attack or "clean")] = accuracy, mixup[per_class] = error (all in %)."""
    csa, gradual, tta, attacked, mixup = (x or {} for x in (csa, gradual, tta, attacked, mixup))
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

"""Claim cases of ordering-augment, kept here until they move into the paper's package (Claim.must_fail/must_hold)."""

import math

import pandas as pd

from robustrepro.papers.cases import SEEDS, collected as runs
from robustrepro.papers import cascading_sum as cs
from robustrepro.papers import ordering_augment as oa

FAILING, HOLDING = {}, {}
# ---- ordering-augment ----

def perfect_history(table=oa.TABLE2_1, change: dict | None = None):
    """The brute-force run's history.csv from rows like table 2.1's (fractions; losses as printed),
    with change[(epoch, column)] = value applied."""
    rows = []
    for epoch, values in enumerate(table, start=1):
        row = {"epoch": epoch, "seed": 0, **dict(zip(oa.TABLE2_1_COLUMNS, values))}
        for (e, column), value in (change or {}).items():
            if e == epoch:
                row[column] = value
        rows.append(row)
    return {oa.PERFECT: pd.DataFrame()}, {oa.PERFECT: pd.DataFrame(rows)}


def orderer_histories(tables=None, change: dict | None = None, descending=(0.10, 0.11, 0.10)):
    """Histories of the baseline, the three orderer families (from tables 2.2-2.4, or `tables`:
    group -> rows of [baseline, K...] accuracies) and the descending order; change[(group, k, epoch)]
    = accuracy (fraction) overrides one value (k None for the baseline)."""
    tables = tables or {group: paper for _, _, group, _, paper, _ in oa.ORDERER_TABLES}
    change = change or {}
    frames = {oa.BASELINE: [], oa.DESCENDING: []}
    for _, _, group, ks, _, _ in oa.ORDERER_TABLES:
        frames[group] = []
        for epoch, row in enumerate(tables[group], start=1):
            if group == oa.LOSS_ORDER:
                acc = change.get((oa.BASELINE, None, epoch), row[0])
                frames[oa.BASELINE].append({"epoch": epoch, "seed": 0, "test_acc1": acc})
            for k, acc in zip(ks, row[1:]):
                frames[group].append({"epoch": epoch, "seed": 0, oa.CANDIDATES: k,
                                      "test_acc1": change.get((group, k, epoch), acc)})
    for epoch, acc in enumerate(descending, start=1):
        frames[oa.DESCENDING].append({"epoch": epoch, "seed": 0, "test_acc1": acc})
    histories = {g: pd.DataFrame(rows) for g, rows in frames.items()}
    return {g: pd.DataFrame() for g in histories}, histories


def _ordering_augment_cases():
    p = "ordering-augment/"
    failing = {
        # the last epoch as spread as the first
        p + "perfect-ordering-spread-shrinks": [
            lambda: perfect_history(change={(13, "test_acc1_min"): 0.70, (13, "test_acc1_max"): 0.95})],
        p + "perfect-ordering-best-clearly-above-mean": [
            lambda: perfect_history(change={(1, "test_acc1_max"): 0.80}),  # 2.4 points: not clear
            lambda: perfect_history(change={(1, "test_acc1_max"): 0.7759})],
        p + "perfect-ordering-best-beats-worst": [
            lambda: perfect_history(change={(7, "test_acc1_min"): 0.985}),  # a tie
            lambda: perfect_history(change={(12, "test_acc1_max"): 0.98, (12, "test_acc1_min"): 0.99})],
        p + "baseline-fluctuates-most": [
            lambda: orderer_histories(change={(oa.DELTA_SAME, 16, 5): 0.40}),  # one orderer run drops further
            lambda: orderer_histories(change={(oa.BASELINE, None, e): 0.40 + 0.04 * e for e in range(1, 11)})],
        p + "descending-does-not-learn": [lambda: orderer_histories(descending=(0.10, 0.25, 0.40)),
                                          lambda: orderer_histories(descending=(0.30, 0.2001))],
    }
    for group in oa.ORDERERS:
        k = 16
        failing[p + f"{group}-beats-baseline-epoch1"] = [
            lambda group=group, k=k: orderer_histories(change={(group, k, 1): 0.39}),  # one K below the baseline
            lambda group=group, k=k: orderer_histories(change={(group, k, 1): 0.3926}),  # a tie is no win
            lambda: orderer_histories(change={(oa.BASELINE, None, 1): 0.50})]
    holding = {name: [lambda name=name: perfect_history() if "perfect" in name else orderer_histories()]
               for name in failing}
    return failing, holding


ORDERING_AUGMENT_FAILING, ORDERING_AUGMENT_HOLDING = _ordering_augment_cases()
FAILING.update(ORDERING_AUGMENT_FAILING)
HOLDING.update(ORDERING_AUGMENT_HOLDING)


# ---- ordering-augment, chapter 3 ----

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
    for dataset, (_, table) in ((d, cs.CSA_TABLES[t]) for t, (d, _) in cs.CSA_TABLES.items()):
        points = []
        for k, by_model in table.items():
            for model, errors in by_model.items():
                for per_class, err in zip(cs.PER_CLASS[dataset], errors):
                    err = csa.get((dataset, k, model, per_class), err)
                    points.append(({cs.SUBSET: per_class * cs.CLASSES[dataset], cs.MODEL: model, cs.K: k},
                                   {"test_acc1": 100 - err}))
        out[cs.CSA[dataset]] = runs(cs.CSA[dataset], points)
    out[cs.GRADUAL] = runs(cs.GRADUAL, [({cs.SUBSET: 50000, cs.MODEL: model, cs.K: k},
                                         {"test_acc1": 100 - gradual.get((k, model), err)})
                                        for k, by_model in cs.TABLE3_4.items() for model, err in by_model.items()])
    for group, errors in ((cs.MIXUP, {**MIXUP_ERRORS, **mixup}), (cs.PAIRING, PAIRING_ERRORS)):
        out[group] = runs(group, [({cs.SUBSET: n * 10, cs.MODEL: "wrn28_10"}, {"test_acc1": 100 - err})
                                  for n, err in errors.items()])
    for target, (dataset, table) in cs.TTA_TABLES.items():
        points = []
        for k, by_model in table.items():
            for model, pair in by_model.items():
                normal, augmented = tta.get((dataset, k, model), pair)
                points.append(({cs.SUBSET: cs.FULL[dataset] * cs.CLASSES[dataset], cs.MODEL: model, cs.K: k},
                               {"test_acc1": 100 - normal, "tta_acc1": 100 - augmented}))
        out[cs.TTA_GROUPS[dataset]] = runs(cs.TTA_GROUPS[dataset], points)
    metrics = {}
    for row, prefix in (("Baseline", ""), ("Sum-Aug", "tta_")):
        values = {**cs.TABLE3_3[row], **{a: v for (r, a), v in attacked.items() if r == row}}
        metrics[f"{prefix}fgsm_clean_acc1"] = values["clean"]
        metrics.update({f"{prefix}{name}_acc1": values[name] for name in cs.ATTACKS})
    out[cs.ATTACKED] = runs(cs.ATTACKED, [({cs.SUBSET: 50000}, metrics)])
    return (out,)


def _chapter3_cases():
    p = "ordering-augment/"
    failing = {
        p + "cascading-beats-baseline": [
            lambda: ch3_results(csa={("cifar10", 2, "wrn40_4", 5000): 5.60}),  # one cascade above its baseline
            lambda: ch3_results(csa={("cifar100", 8, "wrn28_10", 500): 21.94})],  # a tie is no win
        p + "cascading-gains-most-at-smallest-subset": [
            lambda: ch3_results(csa={("cifar10", BASELINE, "wrn28_10", 100): 31.0}),  # gains 1.66 < 7.15 points
            lambda: ch3_results(csa={("cifar100", BASELINE, "wrn40_4", 100): 38.0})],
        p + "gradual-beats-cascading": [lambda: ch3_results(gradual={(4, "wrn28_10"): 3.2}),
                                        lambda: ch3_results(gradual={(2, "wrn40_4"): 5.53})],
        p + "test-time-sum-augmentation-lowers-error": [
            lambda: ch3_results(tta={("cifar100", 2, "wrn40_4"): (27.19, 27.5)}),
            lambda: ch3_results(tta={("cifar10", 4, "wrn28_10"): (5.35, 5.35)})],
        p + "test-time-sum-augmentation-resists-attacks": [
            lambda: ch3_results(attacked={("Sum-Aug", "pgd"): 0.0}),  # no better than without under PGD
            lambda: ch3_results(attacked={("Sum-Aug", "fgsm"): 20.0})],
        p + "test-time-sum-augmentation-costs-little-clean-accuracy": [
            lambda: ch3_results(attacked={("Sum-Aug", "clean"): 93.0}),
            lambda: ch3_results(attacked={("Sum-Aug", "clean"): 93.30})],  # 2.02 points
        p + "csa-beats-mixup-and-samplepairing": [lambda: ch3_results(mixup={100: 29.0}),
                                                  lambda: ch3_results(mixup={5000: 3.0})],
    }
    holding = {name: [ch3_results] for name in failing}
    return failing, holding


BASELINE = cs.BASELINE_K
CHAPTER3_FAILING, CHAPTER3_HOLDING = _chapter3_cases()
FAILING.update(CHAPTER3_FAILING)
HOLDING.update(CHAPTER3_HOLDING)

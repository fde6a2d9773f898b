"""Chapter 2's claims, checked on the runs' per-epoch histories, with the numbers each must reject and accept."""

from __future__ import annotations

import pandas as pd

from robustrepro.analysis.stats import seed_mean
from robustrepro.papers.ordering_augment.cases import layered_table, orderer_histories, perfect_history
from robustrepro.papers.ordering_augment.chapter2_settings import (BASELINE, CANDIDATES, DELTA_EXTERNAL, DELTA_SAME,
                                                                   DESCENDING, LOSS_ORDER, ORDERERS, PERFECT,
                                                                   REPORTED_EPOCHS)
from robustrepro.papers.ordering_augment.reported import (ORDERER_TABLES, TABLE2_1_COLUMNS, TABLE2_2, TABLE2_3,
                                                          TABLE2_4)
from robustrepro.papers.spec import Claim

CLEAR_MARGIN = 5.0  # points of accuracy between the best ordering and the mean after epoch 1
CHANCE_MARGIN = 10.0  # points above chance that still count as "does not learn"
NUM_CLASSES = 10  # CIFAR-10 (and its synthetic stand-in)
# §2.2's lost k (the best after epoch n beats the worst after n + k "in the most extreme case"): at least this many
# epochs apart (table 2.1's own most extreme case is k = 6).
MIN_LAG = 2
NO_EFFECT = 1.0  # points of accuracy (mean over epochs 1-10) within which the loss orderer "does not affect" a split


def _by_epoch(history: pd.DataFrame) -> pd.DataFrame:
    return history.groupby("epoch")[list(TABLE2_1_COLUMNS)].mean().sort_index()


def spread_shrinks(results, histories) -> tuple[bool, str]:
    h = _by_epoch(histories[PERFECT]) * 100
    spread = h["test_acc1_max"] - h["test_acc1_min"]
    first, last = spread.index[0], spread.index[-1]
    return (bool(spread[last] < spread[first]),
            f"max - min test accuracy {spread[first]:.2f} points after epoch {first}, {spread[last]:.2f} after {last}")


def best_beats_mean(results, histories) -> tuple[bool, str]:
    h = _by_epoch(histories[PERFECT]) * 100
    first = h.iloc[0]
    gap = first["test_acc1_max"] - first["test_acc1_mean"]
    return (bool(gap >= CLEAR_MARGIN),
            f"after epoch {h.index[0]}: max {first['test_acc1_max']:.2f} %, mean {first['test_acc1_mean']:.2f} % "
            f"({gap:.2f} points; the claim needs {CLEAR_MARGIN:g})")


def best_beats_later_worst(results, histories) -> tuple[bool, str]:
    """The largest k for which the best ordering after some epoch n beats the worst after epoch n + k."""
    h = _by_epoch(histories[PERFECT]) * 100
    best, worst = h["test_acc1_max"], h["test_acc1_min"]
    cases = [(later - n, n, later) for n in h.index for later in h.index if later > n and best[n] > worst[later]]
    if not cases:
        return False, ("no epoch's best ordering beats the worst ordering of any later epoch (smallest within-epoch "
                       f"max - min {(best - worst).min():.2f} points)")
    lag, n, later = max(cases, key=lambda c: (c[0], -c[1]))
    return (lag >= MIN_LAG, f"most extreme case: the best after epoch {int(n)} ({best[n]:.2f} %) above the worst after "
            f"epoch {int(later)} ({worst[later]:.2f} %), k = {int(lag)} (the claim needs k >= {MIN_LAG}; table 2.1: "
            "k = 6, 98.0 % after epoch 5 above 97.9 % after epoch 11)")


def _accuracy(history: pd.DataFrame, keys: list[str], column: str = "test_acc1") -> pd.DataFrame:
    """Mean over seeds of `column` (%) per epoch: one column per run (keys' values), indexed by epoch."""
    means = seed_mean(history, [*keys, "epoch"], column, scale=100)
    return means.unstack(keys) if keys else means.to_frame(BASELINE)


def _test_acc(history: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return _accuracy(history, keys)


def _gains(histories, group: str, column: str) -> pd.Series:
    """Mean over epochs 1-REPORTED_EPOCHS of each K's `column` minus the baseline's, in points."""
    base = _accuracy(histories[BASELINE], [], column).iloc[:, 0].loc[:REPORTED_EPOCHS]
    runs = _accuracy(histories[group], [CANDIDATES], column).loc[:REPORTED_EPOCHS]
    return runs.sub(base, axis=0).mean()


def loss_order_memorises(results, histories) -> tuple[bool, str]:
    train, test = _gains(histories, LOSS_ORDER, "train_acc"), _gains(histories, LOSS_ORDER, "test_acc1")
    wrong = [int(k) for k in train.index if not (train[k] > NO_EFFECT and abs(test.get(k, float("nan"))) <= NO_EFFECT)]
    listing = ", ".join(f"K={int(k)} train {train[k]:+.2f}, test {test[k]:+.2f}" for k in train.index)
    return (not wrong and len(train) > 0,
            f"mean over epochs 1-{REPORTED_EPOCHS} of the loss orderer's accuracy minus the baseline's (points): "
            f"{listing}; the claim needs train above +{NO_EFFECT:g} and test within ±{NO_EFFECT:g}"
            + (f"; not so at K={wrong}" if wrong else ""))


def external_beats_same(results, histories) -> tuple[bool, str]:
    same = _test_acc(histories[DELTA_SAME], [CANDIDATES]).loc[:REPORTED_EPOCHS]
    external = _test_acc(histories[DELTA_EXTERNAL], [CANDIDATES]).loc[:REPORTED_EPOCHS]
    counts = {}
    for k in external.columns.intersection(same.columns):
        both = pd.concat([external[k], same[k]], axis=1).dropna()
        counts[int(k)] = (int((both.iloc[:, 0] > both.iloc[:, 1]).sum()), len(both))
    wins, total = sum(w for w, _ in counts.values()), sum(n for _, n in counts.values())
    behind = [k for k, (w, n) in counts.items() if 2 * w < n]
    return (bool(total) and 2 * wins > total and not behind,
            f"epochs 1-{REPORTED_EPOCHS} where the external batch's test accuracy beats the same batch's: "
            + ", ".join(f"K={k} {w} of {n}" for k, (w, n) in counts.items()) + f"; {wins} of {total} in all"
            + (f"; fewer than half at K={behind}" if behind else ""))


def beats_baseline_epoch1(group: str):
    def check(results, histories) -> tuple[bool, str]:
        base = _test_acc(histories[BASELINE], []).iloc[0, 0]
        runs = _test_acc(histories[group], [CANDIDATES]).iloc[0]
        losing = [int(k) for k, v in runs.items() if not v > base]
        listing = ", ".join(f"K={int(k)} {v:.2f}" for k, v in runs.items())
        return not losing, f"after epoch 1: baseline {base:.2f} %, {group} {listing}"

    return check


def total_drop(accuracy: pd.Series, last_epoch: int = REPORTED_EPOCHS) -> float:
    """Sum of the falls of test accuracy from one epoch to the next, over epochs 1 to last_epoch."""
    steps = accuracy.sort_index().loc[:last_epoch].diff().dropna()
    return float(-steps[steps < 0].sum())


def baseline_fluctuates_most(results, histories) -> tuple[bool, str]:
    base = total_drop(_test_acc(histories[BASELINE], []).iloc[:, 0])
    drops = {f"{g} K={int(k)}": total_drop(column)
             for g in ORDERERS for k, column in _test_acc(histories[g], [CANDIDATES]).items()}
    worst = max(drops, key=drops.get)
    return (bool(all(base > d for d in drops.values())),
            f"sum of epoch-to-epoch drops of test accuracy, epochs 1-{REPORTED_EPOCHS}: baseline {base:.2f} points; "
            f"largest of the orderers {drops[worst]:.2f} ({worst})")


def descending_does_not_learn(results, histories) -> tuple[bool, str]:
    final = _test_acc(histories[DESCENDING], []).iloc[-1, 0]
    chance = 100 / NUM_CLASSES
    return (bool(final <= chance + CHANCE_MARGIN),
            f"descending loss order: {final:.2f} % after the last epoch; chance {chance:.0f} %")


def _beats_baseline_claim(group: str) -> Claim:
    k = 16  # a K of every family
    return Claim(
        f"{group}-beats-baseline-epoch1", f"every K of {group} beats the baseline's test accuracy after epoch 1",
        beats_baseline_epoch1(group), histories=(BASELINE, group),
        must_fail=(lambda: orderer_histories(change={(group, k, 1): 0.39}),  # one K below the baseline
                   lambda: orderer_histories(change={(group, k, 1): 0.3926}),  # a tie is no win
                   lambda: orderer_histories(change={(BASELINE, None, 1): 0.50})),
        must_hold=(orderer_histories,))


CLAIMS = (
    Claim("perfect-ordering-spread-shrinks", "the spread of test accuracy over the orderings shrinks over the epochs",
          spread_shrinks, histories=(PERFECT,),
          # the last epoch as spread as the first
          must_fail=(lambda: perfect_history(change={(13, "test_acc1_min"): 0.70, (13, "test_acc1_max"): 0.95}),),
          must_hold=(perfect_history,)),
    Claim("perfect-ordering-best-clearly-above-mean",
          f"after epoch 1 the best ordering's accuracy exceeds the mean by at least {CLEAR_MARGIN:g} points",
          best_beats_mean, histories=(PERFECT,),
          must_fail=(lambda: perfect_history(change={(1, "test_acc1_max"): 0.80}),  # 2.4 points: not clear
                     lambda: perfect_history(change={(1, "test_acc1_max"): 0.7759})),
          must_hold=(perfect_history,)),
    Claim("perfect-ordering-best-beats-worst-of-later-epoch",
          '"An important result from this analysis is that the maximum accuracy after n epochs is greater than the '
          'minimum accuracy after n + k epochs, with k = [lost] in the most extreme case" (§2.2): for some epoch n '
          f"the best ordering's test accuracy beats the worst ordering's after epoch n + k, with k >= {MIN_LAG} "
          "(table 2.1: k = 6)", best_beats_later_worst, histories=(PERFECT,),
          must_fail=(lambda: perfect_history(layered_table(0.02)),  # best > worst within each epoch only
                     lambda: perfect_history(layered_table(0.03)),  # only the next epoch's worst is beaten: k = 1
                     # every epoch's best no higher than any later epoch's worst (ties are no win)
                     lambda: perfect_history(layered_table(0.025))),
          must_hold=(perfect_history,)),
    Claim("loss-order-raises-train-not-test-accuracy",
          '"this method seems to encourage the memorization of data since it increased the training accuracy while '
          'not affect testing" (§2.4.1): at every K the loss orderer\'s training accuracy is above the baseline\'s by '
          f"more than {NO_EFFECT:g} point and its test accuracy within {NO_EFFECT:g} point of it (means over epochs "
          f"1-{REPORTED_EPOCHS}; table 2.2's test gaps: 0.0 to -0.6)", loss_order_memorises,
          histories=(BASELINE, LOSS_ORDER),
          must_fail=(lambda: orderer_histories(train={(LOSS_ORDER, 32): 0.05}),  # training accuracy not raised
                     # testing affected: K=16 3 points above the baseline's test accuracy at every epoch
                     lambda: orderer_histories(change={(LOSS_ORDER, 16, e): row[0] + 0.03
                                                       for e, row in enumerate(TABLE2_2, start=1)})),
          must_hold=(orderer_histories,)),
    Claim("external-batch-beats-same-batch",
          '"this variation outperforms the other one for all values of K for the majority of epochs" (§2.4.2): the '
          "static external batch's test accuracy beats the same batch's in most of the (K, epoch) pairs of epochs "
          f"1-{REPORTED_EPOCHS}, and in at least half the epochs of every K (tables 2.3/2.4: 7, 5 and 5 of 10, 17 "
          "of 30)", external_beats_same, histories=(DELTA_SAME, DELTA_EXTERNAL),
          must_fail=(lambda: orderer_histories(change={(DELTA_EXTERNAL, 8, 1): 0.46, (DELTA_EXTERNAL, 8, 3): 0.65}),
                     lambda: orderer_histories(tables={**{g: t for g, t in ORDERER_TABLES.values()},  # swapped
                                                       DELTA_SAME: TABLE2_4, DELTA_EXTERNAL: TABLE2_3})),
          must_hold=(orderer_histories,)),
    *(_beats_baseline_claim(group) for group in ORDERERS),
    Claim("baseline-fluctuates-most",
          "the baseline's test accuracy falls more from epoch to epoch (sum of drops, epochs 1-10) than every "
          "orderer run's", baseline_fluctuates_most, histories=(BASELINE, *ORDERERS),
          must_fail=(lambda: orderer_histories(change={(DELTA_SAME, 16, 5): 0.40}),  # one orderer run drops further
                     lambda: orderer_histories(change={(BASELINE, None, e): 0.40 + 0.04 * e for e in range(1, 11)})),
          must_hold=(orderer_histories,)),
    Claim("descending-does-not-learn",
          f"training on the highest-loss candidate batch does not learn (final test accuracy within "
          f"{CHANCE_MARGIN:g} points of chance)", descending_does_not_learn, histories=(DESCENDING,),
          must_fail=(lambda: orderer_histories(descending=(0.10, 0.25, 0.40)),
                     lambda: orderer_histories(descending=(0.30, 0.2001))),
          must_hold=(orderer_histories,)),
)

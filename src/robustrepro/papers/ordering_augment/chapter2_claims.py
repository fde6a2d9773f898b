"""Chapter 2's claims, checked on the runs' per-epoch histories, with the numbers each must reject and accept."""

from __future__ import annotations

import pandas as pd

from robustrepro.analysis.stats import seed_mean
from robustrepro.papers.ordering_augment.cases import orderer_histories, perfect_history
from robustrepro.papers.ordering_augment.chapter2_settings import (BASELINE, CANDIDATES, DELTA_SAME, DESCENDING,
                                                                   ORDERERS, PERFECT, REPORTED_EPOCHS)
from robustrepro.papers.ordering_augment.reported import TABLE2_1_COLUMNS
from robustrepro.papers.spec import Claim

CLEAR_MARGIN = 5.0  # points of accuracy between the best ordering and the mean after epoch 1
CHANCE_MARGIN = 10.0  # points above chance that still count as "does not learn"
NUM_CLASSES = 10  # CIFAR-10 (and its synthetic stand-in)


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


def best_beats_worst(results, histories) -> tuple[bool, str]:
    h = _by_epoch(histories[PERFECT]) * 100
    gaps = h["test_acc1_max"] - h["test_acc1_min"]
    ties = [int(e) for e in gaps.index[gaps <= 0]]
    return (not ties, f"smallest max - min gap {gaps.min():.2f} points (epoch {int(gaps.idxmin())})"
            + (f"; no better than the worst after epochs {ties}" if ties else ""))


def _test_acc(history: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Mean over seeds of test accuracy (%) per epoch: one column per run (keys' values), indexed by epoch."""
    means = seed_mean(history, [*keys, "epoch"], "test_acc1", scale=100)
    return means.unstack(keys) if keys else means.to_frame(BASELINE)


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
    Claim("perfect-ordering-best-beats-worst", "the best ordering beats the worst after every epoch",
          best_beats_worst, histories=(PERFECT,),
          must_fail=(lambda: perfect_history(change={(7, "test_acc1_min"): 0.985}),  # a tie
                     lambda: perfect_history(change={(12, "test_acc1_max"): 0.98, (12, "test_acc1_min"): 0.99})),
          must_hold=(perfect_history,)),
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

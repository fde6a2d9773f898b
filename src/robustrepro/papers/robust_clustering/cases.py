"""Numbers to try robust-clustering's claims on (Claim.must_fail, Claim.must_hold): collected runs and
histories shaped as the workflow writes them, built from the paper's tables."""

from __future__ import annotations

import math

import pandas as pd

from robustrepro.papers.cases import SEEDS, collected as runs
from robustrepro.papers.robust_clustering.reported import GRAD_ROWS, T1_ACC
from robustrepro.papers.robust_clustering.settings import (CIFAR, CKPT, NOISE, RATIO, SCHEMES, SHARE, SPACE, checkpoints,
                                                           share)

SCHEME_KEYS = {label: key for key, (label, _) in SCHEMES.items()}


def robust(prefix: str, table: dict, change: dict | None = None):
    """The groups {prefix}-{scheme}: acc@1 per noise level from `table` ((label, noise) -> %), with `change` applied."""
    table = {**table, **(change or {})}
    points = {}
    for (label, noise), acc in table.items():
        points.setdefault(f"{prefix}-{SCHEME_KEYS[label]}", []).append(({NOISE: noise}, {"test_acc1": acc}))
    return {group: runs(group, p) for group, p in points.items()}, None


def setcover(group: str, clusters: dict, dataset: str, acc: dict):
    """Set-cover runs at the paper's cluster shares with acc@1 acc[r] (%)."""
    return {group: runs(group, [({SHARE: share(n, dataset)}, {"test_acc1": acc[r]})
                                for r, n in clusters.items()])}, None


def gradients(acc: dict):
    """The c10-setcover-grad runs, one per Table 2-3 gradient row, with acc@1 acc[label] (%); the
    checkpoints coordinate as the CSV spells it."""
    points = [({SPACE: space, CKPT: str(checkpoints(kind, "paper")), SHARE: share(n, CIFAR)},
               {"test_acc1": acc[label]}) for label, (space, kind, n, _, _) in GRAD_ROWS.items()]
    return {"c10-setcover-grad": runs("c10-setcover-grad", points)}, None


PAPER_GRADIENTS = {label: row[3] for label, row in GRAD_ROWS.items()}


def facility(group: str, table: dict, covered=None, acc=None):
    """Facility-location runs per ratio: data covered and acc@1 from `table` (ratio -> (covered %, acc %))."""
    points = [({RATIO: r}, {"data_covered": (covered or {}).get(r, c), "test_acc1": (acc or {}).get(r, a)})
              for r, (c, a) in table.items()]
    return {group: runs(group, points)}, None


def figure2(fl: list[float], rand: list[float], warmup: int = 1):
    """Facility location 40 % (and 20 %, which the claim must ignore) and the random 40 %, with
    per-epoch test acc@1 curves (%); data_covered is NaN during facility location's warm-up."""
    def history(curve, coords, facility_run):
        rows = []
        for seed in SEEDS:
            for epoch, acc in enumerate(curve, start=1):
                covered = (math.nan if epoch <= warmup else 0.5) if facility_run else None
                rows.append({"epoch": epoch, "test_acc1": acc / 100, **coords, "seed": seed,
                             **({"data_covered": covered} if facility_run else {})})
        return rows

    low = [a - 20 for a in fl]  # ratio 20 %: far below both, so a claim that mixes it in would fail
    fl_history = pd.DataFrame(history(fl, {RATIO: 0.4}, True) + history(low, {RATIO: 0.2}, True))
    rand_history = pd.DataFrame(history(rand, {}, False))
    results = {"c10-facility": runs("c10-facility", [({RATIO: 0.4}, {"test_acc1": fl[-1]}),
                                                     ({RATIO: 0.2}, {"test_acc1": low[-1]})]),
               "c10-random": runs("c10-random", [({}, {"test_acc1": rand[-1]})])}
    return results, {"c10-facility": fl_history, "c10-random": rand_history}


# Paper-like: FL ahead in epochs 2-3 (the first tenth of 20 after a 1-epoch warm-up), random ahead at the end.
FL_CURVE = [30, 60, 65, 70, 72, 74, 75, 76, 77, 78, 79, 80, 80, 81, 81, 82, 82, 83, 83, 84]
RANDOM_AHEAD_LATE = [30, 50, 58, 68, 72, 75, 77, 79, 80, 81, 82, 83, 84, 85, 85, 86, 86, 87, 87, 88]
RANDOM_AHEAD_ALWAYS = [40, 70, 75, 78, 80, 81, 82, 83, 84, 85, 85, 86, 86, 87, 87, 88, 88, 89, 89, 90]
RANDOM_BEHIND_ALWAYS = [25, 50, 55, 60, 62, 64, 65, 66, 67, 68, 69, 70, 70, 71, 71, 72, 72, 73, 73, 74]


def t1_acc1() -> dict:
    return {r: a for r, (a, _) in T1_ACC.items()}

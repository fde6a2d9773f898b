"""Facility location (seed 000, 5.1): greedy quality against brute force, incremental == plain, assignments."""

import itertools
import math

import numpy as np
import pytest
import torch

from robustrepro.errors import UserError
from robustrepro.selection import facility
from robustrepro.selection.facility import facility_location, per_class_ball_counts, per_class_facility_location


def distances(x):
    x = np.asarray(x, dtype=np.float64)
    return np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))


def objective(d, chosen):
    """F(S) = sum_i max_{j in S} (d0 - d_ij) with d0 the largest distance (F(empty) = 0)."""
    return float((d.max() - d[:, list(chosen)]).max(1).sum())


def tied_points(rng, n, dims=1):
    """Small integers mirrored about 1: the mean is exactly 1, so the centred coordinates, squared
    distances and (in 1-D) distances and gains are exact: many exact ties, broken by index."""
    half = rng.integers(0, 3, (n // 2, dims))
    return np.concatenate([half, 2 - half]).astype(np.float32)


def reference_greedy(x, k):
    """Textbook greedy in float64: largest marginal gain, ties to the lowest index (argmax)."""
    d = distances(x)
    nearest = np.full(len(x), d.max())
    picks = []
    for _ in range(k):
        gains = np.maximum(nearest[None, :] - d, 0).sum(1)
        gains[picks] = -1
        picks.append(int(np.argmax(gains)))
        nearest = np.minimum(nearest, d[picks[-1]])
    return np.array(picks)


def test_greedy_is_within_1_minus_1_over_e_of_the_brute_force_optimum():
    rng = np.random.default_rng(0)
    worst = 1.0
    for trial in range(60):
        n, k = int(rng.integers(4, 11)), int(rng.integers(1, 4))
        x = rng.normal(size=(n, 2)) if trial % 2 else tied_points(rng, n)
        n, d = len(x), distances(x)
        if d.max() == 0:
            continue
        best = max(objective(d, s) for s in itertools.combinations(range(n), k))
        got = objective(d, facility_location(x, k).indices)
        assert got >= (1 - 1 / math.e) * best - 1e-9
        if k == 1:  # the first greedy pick is the best single facility (a medoid)
            assert got == pytest.approx(best)
        worst = min(worst, got / best)
    assert worst < 1  # some instance where greedy is not optimal: the bound was actually exercised


def test_each_pick_has_the_largest_marginal_gain():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(80, 5))
    d = distances(x)
    picks = facility_location(x, 20).indices
    for t, j in enumerate(picks):
        gains = [objective(d, [*picks[:t], i]) - (objective(d, picks[:t]) if t else 0) for i in range(80)]
        assert gains[j] >= max(gains) - 1e-4


@pytest.mark.parametrize("refresh_rows", [1, 8])
@pytest.mark.parametrize("seed", range(6))
def test_lazy_greedy_picks_exactly_what_plain_greedy_picks(seed, refresh_rows, monkeypatch):
    monkeypatch.setitem(facility._REFRESH_ROWS, "cpu", refresh_rows)  # 1: every stale bound is tested alone
    rng = np.random.default_rng(seed)
    n = int(rng.integers(30, 150))
    x = tied_points(rng, n, dims=1 + seed % 3) if seed % 2 == 0 else rng.normal(size=(n, 4)).astype(np.float32)
    k = int(rng.integers(1, len(x) + 1))
    lazy, plain = facility_location(x, k), facility_location(x, k, lazy=False)
    np.testing.assert_array_equal(lazy.indices, plain.indices)
    np.testing.assert_array_equal(lazy.assignment, plain.assignment)


@pytest.mark.parametrize("cache_elements", [1000, 2**18])  # sums in blocks of 16 rows, or all in one
@pytest.mark.parametrize("seed", range(3))
def test_incremental_gains_bracket_the_recomputed_gains_at_every_step(seed, cache_elements, monkeypatch):
    monkeypatch.setitem(facility._CACHE_ELEMENTS, "cpu", cache_elements)
    monkeypatch.setattr(facility, "_RESCALE", 4)  # some steps recompute the bounds from scratch, most update them
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(60, 3 + seed)).astype(np.float32)
    k = 50
    greedy = facility._Greedy(facility._Distances(torch.from_numpy(x)), 8)
    d = greedy.distances.matrix.double().numpy()  # the float32 distances both greedies use
    bounds = facility._Bounds(greedy)
    widest = 0.0
    while len(greedy.picks) < k:
        j = bounds.best()
        # The exact gains, in float64 from the float32 distances and nearest distances.
        gains = np.maximum(greedy.nearest_distance.double().numpy()[:, None] - d, 0).sum(0)
        upper, lower = bounds.upper.numpy(), bounds.lower.numpy()
        left = np.setdiff1d(np.arange(len(x)), greedy.picks)
        assert np.all(lower[left] <= gains[left]) and np.all(gains[left] <= upper[left])
        assert np.all(upper[greedy.picks] == -np.inf)
        widest = max(widest, float((upper[left] - lower[left]).max() / gains[left].max()))
        bounds.pick(j)
    assert widest < 1e-4  # float32 rounding (bounds recomputed when the gains fall 4x), not drift
    np.testing.assert_array_equal(greedy.picks, facility_location(x, k, lazy=False).indices)


@pytest.mark.parametrize("refresh_rows", [1, 3, 8])
def test_exact_ties_go_to_the_lowest_index(refresh_rows, monkeypatch):
    monkeypatch.setitem(facility._REFRESH_ROWS, "cpu", refresh_rows)
    rng = np.random.default_rng(7)
    x = tied_points(rng, 120)  # 1-D: every gain is an exact integer
    k = 40
    d = distances(x)
    first_gains = (d.max() - d).sum(1)
    assert (first_gains == first_gains.max()).sum() > 1  # the very first pick is a tie
    want = reference_greedy(x, k)
    for lazy in (True, False):
        np.testing.assert_array_equal(facility_location(x, k, lazy=lazy).indices, want)
    np.testing.assert_array_equal(facility_location([[0.0], [0.0], [2.0], [2.0]], 2).indices, [0, 2])


def test_duplicates_tie_once_and_then_all_gains_are_zero(monkeypatch):
    # More facilities than distinct points: groups of exactly tied gains, then gains of 0 only.
    x = np.repeat(np.random.default_rng(8).normal(size=(10, 3)).astype(np.float32), 20, axis=0)
    for k in (10, 150):
        np.testing.assert_array_equal(facility_location(x, k).indices, facility_location(x, k, lazy=False).indices)
    batches = []
    gains = facility._Greedy.gains
    monkeypatch.setattr(facility._Greedy, "gains", lambda self, c: batches.append(c) or gains(self, c))
    assert facility_location(np.ones((400, 2)), 300).indices.tolist() == list(range(300))
    assert len(batches) < 2 * (300 + 400 / 8)  # a tie is settled once, not at every pick


def test_assignment_is_to_the_nearest_facility_and_sizes_count_it():
    rng = np.random.default_rng(2)
    for x, k in [(rng.normal(size=(200, 10)), 37), (tied_points(rng, 120), 25)]:
        f = facility_location(x, k)
        assert len(f.indices) == k == len(set(f.indices.tolist())) == len(f.sizes)
        np.testing.assert_array_equal(f.assignment[f.indices], np.arange(k))  # a facility is its own cluster
        np.testing.assert_array_equal(f.sizes, np.bincount(f.assignment, minlength=k))
        assert f.sizes.sum() == len(x) and f.sizes.min() >= 1
        d = distances(x)[:, f.indices]
        assert np.all(d[np.arange(len(x)), f.assignment] <= d.min(1) + 1e-5)


def test_blocked_distances_pick_what_the_stored_matrix_picks(monkeypatch):
    x = np.random.default_rng(3).normal(size=(300, 10)).astype(np.float32)
    dense = facility_location(x, 60)
    monkeypatch.setitem(facility._DENSE_BYTES, "cpu", 0)  # never keep the matrix: rows recomputed per request
    monkeypatch.setitem(facility._BLOCK_ELEMENTS, "cpu", 1000)  # and scan it in blocks of 3 rows
    monkeypatch.setitem(facility._CACHE_ELEMENTS, "cpu", 1000)  # and sum it in blocks of 16
    blocked = facility_location(x, 60)
    np.testing.assert_array_equal(dense.indices, blocked.indices)
    np.testing.assert_array_equal(dense.assignment, blocked.assignment)


def test_per_class_counts_order_and_assignment():
    rng = np.random.default_rng(4)
    sizes = [40, 25, 61, 3, 10]
    labels = rng.permutation(np.repeat(np.arange(5), sizes))
    x = rng.normal(size=(len(labels), 6)).astype(np.float32)
    ratio = 0.3
    f = per_class_facility_location(x, labels, ratio)
    wanted = [max(1, round(ratio * s)) for s in sizes]
    assert np.bincount(labels[f.indices], minlength=5).tolist() == wanted
    for c in range(5):
        rows = np.flatnonzero(labels == c)
        alone = facility_location(x[rows], wanted[c])
        np.testing.assert_array_equal(f.indices[labels[f.indices] == c], rows[alone.indices])  # greedy order kept
        np.testing.assert_array_equal(f.sizes[labels[f.indices] == c], alone.sizes)
        assert np.all(labels[f.indices[f.assignment[rows]]] == c)  # points join facilities of their class
    # Interleaved in proportion: the first facility of every class comes before any class's second.
    firsts = [np.flatnonzero(labels[f.indices] == c)[0] for c in range(5)]
    seconds = [np.flatnonzero(labels[f.indices] == c)[1] for c in range(5) if wanted[c] > 1]
    assert max(firsts) < min(seconds)
    assert f.sizes.sum() == len(labels)


def test_per_class_ball_counts_match_brute_force():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(150, 3)).astype(np.float32)
    labels = rng.integers(0, 3, 150)
    d = distances(x)
    same = labels[:, None] == labels[None, :]
    np.testing.assert_array_equal(per_class_ball_counts(x, labels, 1.0), ((d <= 1.0) & same).sum(1))


def test_bad_inputs_name_the_key():
    x = np.zeros((5, 2), dtype=np.float32)
    with pytest.raises(UserError, match="selection.k"):
        facility_location(x, 6)
    with pytest.raises(UserError, match="selection.k"):
        facility_location(x, 0)
    with pytest.raises(UserError, match="selection.ratio"):
        per_class_facility_location(x, np.zeros(5, dtype=int), 1.5)
    with pytest.raises(UserError, match="selection.labels"):
        per_class_facility_location(x, np.zeros(4, dtype=int), 0.5)
    with pytest.raises(UserError, match="selection.points"):
        facility_location(np.full((3, 2), np.nan), 1)

"""Set cover and radius neighbourhoods against brute force on small instances."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest
import torch

from robustrepro.errors import UserError
from robustrepro.selection.neighbours import ball_counts, radius_neighbours
from robustrepro.selection.setcover import (SetCover, lazy_greedy_set_cover, load_set_cover, plain_greedy_set_cover,
                                            save_set_cover, set_cover, set_cover_from_neighbours)


def brute_within(points: np.ndarray, radius: float) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    return ((p[:, None, :] - p[None, :, :]) ** 2).sum(-1) <= radius * radius


def grid_points(rng, n: int, d: int, side: int = 4) -> np.ndarray:
    """Integer coordinates: many exact ties in gains, pairs at exactly the radius, duplicates."""
    return rng.integers(0, side, (n, d)).astype(np.float32)


def random_instances(seed: int, count: int, max_n: int = 40):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        n, d = int(rng.integers(1, max_n + 1)), int(rng.integers(1, 5))
        if rng.random() < 0.7:
            points = grid_points(rng, n, d)
            radius = float(rng.choice([0.0, 1.0, math.sqrt(2), 2.0, math.sqrt(5), 3.0]))
        else:
            points = rng.normal(size=(n, d)).astype(np.float32)
            points[rng.integers(0, n, n // 4)] = points[rng.integers(0, n, n // 4)]  # duplicates
            radius = float(rng.uniform(0, 1.5))
        yield points, radius


def test_neighbours_equal_brute_force_at_any_block_size():
    for points, radius in random_instances(0, 60):
        want = brute_within(points, radius)
        for block in (1, 3, len(points)):
            nb = radius_neighbours(points, radius, block=block)
            assert nb.indptr.dtype == np.int64 and nb.indices.dtype == np.int32
            got = np.zeros_like(want)
            for i in range(len(points)):
                row = nb.row(i)
                assert np.all(np.diff(row) > 0) and i in row
                got[i, row] = True
            np.testing.assert_array_equal(got, want)


def test_distance_exactly_radius_counts_for_float64_and_far_from_origin():
    # 0.1 apart in float64 is exactly the radius 0.1 (same rounding): a neighbour.
    nb = radius_neighbours(np.array([[0.0], [0.1], [0.2000001]]), 0.1)
    assert nb.row(0).tolist() == [0, 1] and nb.row(1).tolist() == [0, 1]
    # Two integer grids 2000 apart: |a|^2 dwarfs r^2, so the float32 pass alone cannot decide
    # d <= r and the exact recomputation must; d == r pairs are abundant on the grid.
    rng = np.random.default_rng(1)
    points = grid_points(rng, 200, 64, side=3)
    points[:100, 0] += 1000
    points[100:, 0] -= 1000
    for radius in (0.0, 2.0, 3.0, 4.0):
        want = brute_within(points, radius)
        nb = radius_neighbours(points, radius, block=37)
        np.testing.assert_array_equal(nb.counts, want.sum(1))
        np.testing.assert_array_equal(nb.indices, np.nonzero(want)[1])


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_blocks_shared_out_to_threads_give_the_same_pairs(two_threads):
    # Blocks of 7 rows, taken by two threads as each finishes its last: the pairs, their order and
    # the process's torch settings afterwards are those of one thread walking the blocks in turn.
    rng = np.random.default_rng(3)
    points = rng.normal(size=(300, 8)).astype(np.float32)
    want = brute_within(points, 2.5)
    precision = torch.get_float32_matmul_precision()
    nb = radius_neighbours(points, 2.5, block=7)
    assert torch.get_num_threads() == 2 and torch.get_float32_matmul_precision() == precision
    np.testing.assert_array_equal(nb.counts, want.sum(1))
    np.testing.assert_array_equal(nb.indices, np.nonzero(want)[1])
    np.testing.assert_array_equal(ball_counts(points, 2.5, block=7), want.sum(1))


def test_shared_out_keeps_order_runs_each_item_on_one_thread_and_raises(two_threads):
    from robustrepro.compute.device import shared_out

    seen = list(shared_out(lambda i: (i, torch.get_num_threads()), range(20), torch.device("cpu")))
    assert seen == [(i, 1) for i in range(20)] and torch.get_num_threads() == 2

    def fails_at_5(i):
        if i == 5:
            raise ValueError("item 5")
        return i
    with pytest.raises(ValueError, match="item 5"):
        list(shared_out(fails_at_5, range(20), torch.device("cpu")))
    assert torch.get_num_threads() == 2


def test_ball_counts_equal_brute_force():
    for points, radius in random_instances(2, 30):
        want = brute_within(points, radius).sum(1)
        np.testing.assert_array_equal(ball_counts(points, radius, block=5), want)
        np.testing.assert_array_equal(set_cover(points, radius).ball_counts, want)


def exact_cover_size(within: np.ndarray) -> int:
    n = len(within)
    balls = [sum(1 << j for j in np.flatnonzero(row)) for row in within]
    everything = (1 << n) - 1
    for k in range(1, n + 1):
        for chosen in combinations(balls, k):
            union = 0
            for ball in chosen:
                union |= ball
            if union == everything:
                return k
    raise AssertionError("the balls of all points always cover")


def test_greedy_is_a_valid_cover_within_log_bound_of_the_optimum():
    rng = np.random.default_rng(3)
    gaps = []
    for _ in range(60):
        n = int(rng.integers(1, 13))
        points = grid_points(rng, n, 2, side=5)
        radius = float(rng.choice([1.0, math.sqrt(2), 2.0, math.sqrt(8)]))
        within = brute_within(points, radius)
        cover = set_cover(points, radius)
        assert within[cover.centres].any(0).all()
        best = exact_cover_size(within)
        assert best <= cover.n_clusters <= (1 + math.log(n)) * best
        gaps.append(cover.n_clusters - best)
    assert max(gaps) >= 1  # the instances are hard enough that greedy is sometimes not optimal


def test_lazy_greedy_picks_exactly_what_plain_greedy_picks():
    for points, radius in random_instances(4, 150):
        nb = radius_neighbours(points, radius)
        np.testing.assert_array_equal(lazy_greedy_set_cover(nb), plain_greedy_set_cover(nb))
    rng = np.random.default_rng(5)  # larger instances with long lazy phases and big ties
    for _ in range(5):
        points = grid_points(rng, 600, 2, side=30)
        nb = radius_neighbours(points, 2.0)
        np.testing.assert_array_equal(lazy_greedy_set_cover(nb), plain_greedy_set_cover(nb))


def test_plain_greedy_takes_the_largest_ball_lowest_index_first():
    # Points 0..4 on a line, radius 1: balls of 1, 2, 3 hold 3 points; 1 is lowest, then 3 covers 4.
    points = np.arange(5, dtype=np.float32)[:, None]
    nb = radius_neighbours(points, 1.0)
    assert plain_greedy_set_cover(nb).tolist() == [1, 3]
    assert lazy_greedy_set_cover(nb).tolist() == [1, 3]


def test_assignment_goes_to_the_earliest_chosen_covering_centre():
    for points, radius in random_instances(6, 60):
        within = brute_within(points, radius)
        cover = set_cover(points, radius)
        assert cover.centres.dtype == cover.assignment.dtype == cover.sizes.dtype == np.int64
        assert len(set(cover.centres.tolist())) == cover.n_clusters
        for i in range(len(points)):
            covering = [k for k, c in enumerate(cover.centres) if within[c, i]]
            assert cover.assignment[i] == covering[0]
        np.testing.assert_array_equal(cover.sizes, np.bincount(cover.assignment, minlength=cover.n_clusters))
        assert cover.sizes.sum() == len(points) and (cover.sizes >= 1).all()
        indptr, members = cover.members()
        for k in range(cover.n_clusters):
            assert (cover.assignment[members[indptr[k]:indptr[k + 1]]] == k).all()


def test_radius_zero_and_huge_radius():
    rng = np.random.default_rng(7)
    points = rng.normal(size=(50, 8)).astype(np.float32)
    assert set_cover(points, 0.0).n_clusters == 50
    np.testing.assert_array_equal(set_cover(points, 0.0).centres, np.arange(50))
    with_copies = np.concatenate([points, points[:10]])
    zero = set_cover(with_copies, 0)
    assert zero.n_clusters == 50 and zero.sizes.max() == 2
    huge = set_cover(points, 1e6)
    assert huge.n_clusters == 1 and huge.centres.tolist() == [0] and (huge.assignment == 0).all()


def test_lazy_flag_and_neighbours_entry_point_agree():
    rng = np.random.default_rng(8)
    points = grid_points(rng, 300, 3, side=8)
    lazy, plain = set_cover(points, 1.5), set_cover(points, 1.5, lazy=False)
    for a, b in ((lazy.centres, plain.centres), (lazy.assignment, plain.assignment)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(set_cover_from_neighbours(radius_neighbours(points, 1.5)).centres, lazy.centres)
    from_tensor = set_cover(torch.from_numpy(points), 1.5, device=torch.device("cpu"))
    np.testing.assert_array_equal(from_tensor.centres, lazy.centres)


def test_save_load_round_trip(tmp_path):
    points = grid_points(np.random.default_rng(9), 100, 2, side=12)
    cover = set_cover(points, math.sqrt(2))
    path = tmp_path / "cover" / "setcover.npz"
    save_set_cover(path, cover)
    assert not path.with_name(path.name + ".part").exists()
    back = load_set_cover(path)
    assert isinstance(back, SetCover) and back.radius == cover.radius
    for name in ("centres", "assignment", "sizes", "ball_counts"):
        np.testing.assert_array_equal(getattr(back, name), getattr(cover, name))
        assert getattr(back, name).dtype == np.int64


def test_missing_or_corrupt_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="missing"):
        load_set_cover(tmp_path / "none.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(UserError, match="unreadable"):
        load_set_cover(tmp_path / "bad.npz")


@pytest.mark.parametrize("points, radius, key", [
    (np.zeros((4, 2)), -0.5, "selection.radius"),
    (np.zeros((4, 2)), float("nan"), "selection.radius"),
    (np.zeros((4, 2)), True, "selection.radius"),
    (np.zeros((4, 2)), "1", "selection.radius"),
    (np.zeros(4), 1.0, "selection.points"),
    (np.zeros((0, 3)), 1.0, "selection.points"),
    (np.array([[0.0, 1.0], [np.nan, 0.0]]), 1.0, "selection.points"),
    (np.array([["a", "b"]]), 1.0, "selection.points"),
])
def test_bad_input_names_the_key(points, radius, key):
    with pytest.raises(UserError, match=key):
        set_cover(points, radius)


def test_bad_block_and_device_are_user_errors():
    with pytest.raises(UserError, match="selection.block"):
        radius_neighbours(np.zeros((3, 2)), 1.0, block=0)
    with pytest.raises(UserError, match="device"):
        radius_neighbours(np.zeros((3, 2)), 1.0, device="tpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_gives_the_same_cover_as_cpu():
    rng = np.random.default_rng(10)
    points = np.concatenate([grid_points(rng, 3000, 32, side=3), rng.normal(size=(3000, 32)).astype(np.float32)])
    for radius in (0.0, 2.0, 4.0):
        cpu, gpu = set_cover(points, radius), set_cover(points, radius, device="cuda")
        np.testing.assert_array_equal(cpu.centres, gpu.centres)
        np.testing.assert_array_equal(cpu.ball_counts, gpu.ball_counts)

"""Facility location (seed 000, sections 5.1 and 6.1.2): k points that represent all N.

Section 5.1 asks for the k facilities F minimising the total distance of every point to its
nearest facility, sum_i min_{f in F} ||v_i - v_f||. As in CRAIG (Mirzasoleiman et al. 2020,
the paper's [4]) this is solved as the maximisation of the monotone submodular function

    F(S) = sum_i max_{j in S} (d0 - ||v_i - v_j||),   F(empty) = 0,

with d0 the largest pairwise distance (so every similarity d0 - d is >= 0). F(S) equals
N d0 - sum_i min_{j in S} d_ij, so maximising F is minimising the paper's total distance, and
the greedy algorithm (add the point of largest marginal gain, k times) is within 1 - 1/e of
the best F. d0 only shifts the first gains by a constant: the picks do not depend on it.

Lazy greedy: adding a facility only shrinks every other point's gain (submodularity), so
stale gains are upper bounds. A max-heap of them is refreshed from the top, a few candidates
at a time, until the best refreshed gain beats every stale bound. Ties go to the lowest
index in both versions, and every gain is computed the same way (a fixed [block, N] batch
of rows of one distance matrix), so lazy greedy picks exactly what plain greedy picks.

Distances are float32 ||a||^2 + ||b||^2 - 2 a.b on mean-centred vectors (full fp32 matmul,
never TF32). The N x N matrix is kept while it fits in memory (per class, as the samplers
use it, it always does); beyond that its rows are recomputed when needed, whose last bits
may then differ between recomputations, so there the picks can differ from plain greedy's
only between candidates whose gains agree to float32 rounding.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from numbers import Real

import numpy as np
import torch

from robustrepro.compute.device import pick_device
from robustrepro.errors import UserError
from robustrepro.selection.neighbours import as_points, as_radius, ball_counts, full_fp32_matmul

# Distances held per block while scanning the matrix: ~64 MB of float32 on the CPU, ~256 MB on a GPU.
_BLOCK_ELEMENTS = {"cpu": 2**24, "cuda": 2**26}
# The whole distance matrix is kept up to this size (CPU: N <= 16k; GPU: N <= 32k).
_DENSE_BYTES = {"cpu": 2**30, "cuda": 2**32}
# Candidates whose gains are refreshed together: one host round trip per batch matters on a GPU.
_REFRESH_ROWS = {"cpu": 8, "cuda": 64}


@dataclass(frozen=True)
class Facilities:
    indices: np.ndarray  # int64 [k]: the facilities (positions in the input), in greedy order
    assignment: np.ndarray  # int64 [N]: position in `indices` of each point's nearest facility
    sizes: np.ndarray  # int64 [k]: points assigned to each facility, itself included: its weight


def facility_location(vectors, k: int, device: str | torch.device = "cpu", lazy: bool = True) -> Facilities:
    """The greedy k facilities of vectors [N, D] (L2 distance), each point assigned to its nearest.

    Assignment ties go to the earlier facility; a facility is always assigned to itself.
    lazy=False is the textbook greedy (every gain recomputed at every step): same picks, slower.
    """
    dev = _device(device)
    v = _as_vectors(vectors, dev)
    n = len(v)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
        raise UserError(f"selection.k: the number of facilities must be an integer in [1, {n}]; got {k!r}")
    greedy = _Greedy(_Distances(v), _REFRESH_ROWS[dev.type])
    (_lazy_greedy if lazy else _plain_greedy)(greedy, int(k))
    indices = np.array(greedy.picks, dtype=np.int64)
    assignment = greedy.nearest
    assignment[torch.from_numpy(indices).to(dev)] = torch.arange(len(indices), device=dev)
    assignment = assignment.cpu().numpy()
    return Facilities(indices, assignment, np.bincount(assignment, minlength=len(indices)))


def per_class_facility_location(vectors, labels, ratio: float, device: str | torch.device = "cpu",
                                lazy: bool = True) -> Facilities:
    """Facility location within each class, max(1, round(ratio * n_c)) facilities for class c.

    The classes' greedy sequences are merged keeping each one's order, interleaved in
    proportion (facility t of a class with k_c facilities sorts at t / k_c, ties by class), as
    CRAIG merges them: every stretch of the merged order holds all classes, most
    representative points first. Indices and assignment refer to the whole input.
    """
    if isinstance(ratio, bool) or not isinstance(ratio, Real) or not 0 < ratio <= 1:
        raise UserError(f"selection.ratio: the share of each class to select, in (0, 1]; got {ratio!r}")
    dev = _device(device)
    v = _as_vectors(vectors, dev)
    labels = _as_labels(labels, len(v))
    members = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    parts = [facility_location(v[torch.from_numpy(rows).to(dev)], max(1, round(ratio * len(rows))), dev, lazy)
             for rows in members]

    keys = np.concatenate([np.arange(len(p.indices)) / len(p.indices) for p in parts])
    classes = np.concatenate([np.full(len(p.indices), c) for c, p in enumerate(parts)])
    order = np.lexsort((classes, keys))
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    indices = np.concatenate([rows[p.indices] for rows, p in zip(members, parts)])[order]
    sizes = np.concatenate([p.sizes for p in parts])[order]
    assignment = np.empty(len(v), dtype=np.int64)
    offset = 0
    for rows, p in zip(members, parts):
        assignment[rows] = rank[offset + p.assignment]
        offset += len(p.indices)
    return Facilities(indices, assignment, sizes)


def per_class_ball_counts(vectors, labels, radius: float, device: str | torch.device = "cpu") -> np.ndarray:
    """int64 [N]: points of the same class within `radius` of each point, itself included (section 6.2)."""
    radius = as_radius(radius)
    points = vectors.detach().float().cpu().numpy() if isinstance(vectors, torch.Tensor) else as_points(vectors)
    labels = _as_labels(labels, len(points))
    dev = device.type if isinstance(device, torch.device) else device
    counts = np.zeros(len(points), dtype=np.int64)
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        counts[rows] = ball_counts(points[rows], radius, dev)
    return counts


def _device(device: str | torch.device) -> torch.device:
    if isinstance(device, torch.device):
        return device
    return pick_device(device)


def _as_vectors(vectors, dev: torch.device) -> torch.Tensor:
    if not isinstance(vectors, torch.Tensor):
        return torch.from_numpy(as_points(vectors)).to(dev, torch.float32)
    if vectors.ndim != 2 or vectors.shape[0] == 0 or vectors.shape[1] == 0:
        raise UserError(f"selection.points: expected a 2-D tensor [N points, D dims] with N, D >= 1; "
                        f"got shape {tuple(vectors.shape)}")
    if not torch.isfinite(vectors).all():
        raise UserError("selection.points: some vectors hold NaN or infinite values; recompute the gradients")
    return vectors.detach().to(dev, torch.float32)


def _as_labels(labels, n: int) -> np.ndarray:
    labels = labels.cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if labels.shape != (n,) or labels.dtype.kind not in "iu":
        raise UserError(f"selection.labels: expected {n} integer labels, one per point; "
                        f"got shape {labels.shape}, dtype {labels.dtype}")
    return labels


class _Distances:
    """Rows of the pairwise distance matrix: kept whole when it fits, else computed per request."""

    def __init__(self, v: torch.Tensor):
        self.n = n = len(v)
        self.device = v.device
        # Centring keeps |x|^2 small, so the expansion below cancels less.
        self.x = (v.double() - v.double().mean(0)).float()
        self.sq = self.x.square().sum(1)
        step = max(1, _BLOCK_ELEMENTS[v.device.type] // n)
        blocks = [torch.arange(s, min(s + step, n), device=v.device) for s in range(0, n, step)]
        self.matrix = None
        if 4 * n * n <= _DENSE_BYTES[v.device.type]:
            self.matrix = torch.empty((n, n), dtype=torch.float32, device=v.device)
            for rows in blocks:
                self.matrix[rows] = self._compute(rows)
            self.d0 = float(self.matrix.max())
        else:
            self.d0 = max(float(self._compute(rows).max()) for rows in blocks)

    def _compute(self, rows: torch.Tensor) -> torch.Tensor:
        with full_fp32_matmul():
            d2 = torch.addmm(self.sq[None, :], self.x[rows], self.x.T, alpha=-2.0)
        d = d2.add_(self.sq[rows, None]).clamp_(min=0).sqrt_()
        d[torch.arange(len(rows), device=self.device), rows] = 0  # exactly, whatever the rounding
        return d

    def rows(self, rows: torch.Tensor) -> torch.Tensor:
        """A new [len(rows), N] tensor (the caller may overwrite it)."""
        return torch.index_select(self.matrix, 0, rows) if self.matrix is not None else self._compute(rows)


class _Greedy:
    """The greedy's state: facilities so far, each point's distance to and index of its nearest."""

    def __init__(self, distances: _Distances, block: int):
        self.distances, self.block = distances, block
        n, dev = distances.n, distances.device
        self.nearest_distance = torch.full((n,), distances.d0, dtype=torch.float32, device=dev)
        self.nearest = torch.zeros(n, dtype=torch.int64, device=dev)
        self.picks: list[int] = []

    def gains(self, candidates: list[int]) -> list[float]:
        """F(S + j) - F(S) for at most `block` candidates j, always as one [block, N] batch.

        The fixed shape makes a candidate's gain the same bits whichever batch it is in, and
        monotone under shrinking distances: the stale-bound argument holds exactly.
        """
        padded = candidates + candidates[-1:] * (self.block - len(candidates))
        rows = self.distances.rows(torch.from_numpy(np.array(padded)).to(self.distances.device))
        return torch.sub(self.nearest_distance, rows, out=rows).clamp_(min=0).sum(1)[:len(candidates)].tolist()

    def all_gains(self, candidates: list[int]) -> list[float]:
        return [g for s in range(0, len(candidates), self.block) for g in self.gains(candidates[s:s + self.block])]

    def pick(self, j: int) -> None:
        row = self.distances.rows(torch.tensor([j], device=self.distances.device))[0]
        # Strict: ties stay with the earlier facility. torch.where, not a mask: no host sync on a GPU.
        self.nearest = torch.where(row < self.nearest_distance, len(self.picks), self.nearest)
        torch.minimum(self.nearest_distance, row, out=self.nearest_distance)
        self.picks.append(j)


def _lazy_greedy(greedy: _Greedy, k: int) -> None:
    # Heap entries are (-gain, index): the smallest is the largest gain, ties to the lowest index.
    everyone = list(range(greedy.distances.n))
    stale = [(-g, i) for g, i in zip(greedy.all_gains(everyone), everyone)]
    heapq.heapify(stale)
    fresh: list[tuple[float, int]] = []  # exact gains, refreshed since the last pick
    while len(greedy.picks) < k:
        if fresh and (not stale or fresh[0] < stale[0]):
            # No stale bound reaches the best exact gain, so no other point's gain does.
            greedy.pick(heapq.heappop(fresh)[1])
            for entry in fresh:
                heapq.heappush(stale, entry)  # exact before this pick, upper bounds after it
            fresh = []
        else:
            top = [heapq.heappop(stale)[1] for _ in range(min(greedy.block, len(stale)))]
            for g, i in zip(greedy.gains(top), top):
                heapq.heappush(fresh, (-g, i))


def _plain_greedy(greedy: _Greedy, k: int) -> None:
    left = list(range(greedy.distances.n))
    while len(greedy.picks) < k:
        _, j = min(zip((-g for g in greedy.all_gains(left)), left))
        left.remove(j)
        greedy.pick(j)

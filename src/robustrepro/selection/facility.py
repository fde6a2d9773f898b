"""Facility location (seed 000, sections 5.1 and 6.1.2): k points that represent all N.

Section 5.1 asks for the k facilities F minimising the total distance of every point to its
nearest facility, sum_i min_{f in F} ||v_i - v_f||. As in CRAIG (Mirzasoleiman et al. 2020,
the paper's [4]) this is solved as the maximisation of the monotone submodular function

    F(S) = sum_i max_{j in S} (d0 - ||v_i - v_j||),   F(empty) = 0,

with d0 the largest pairwise distance (so every similarity d0 - d is >= 0). F(S) equals
N d0 - sum_i min_{j in S} d_ij, so maximising F is minimising the paper's total distance, and
the greedy algorithm (add the point of largest marginal gain, k times) is within 1 - 1/e of
the best F. d0 only shifts the first gains by a constant: the picks do not depend on it.

The gain of candidate j is g_j = sum_i max(0, m_i - d_ij), with m_i the distance of point i
to its nearest facility so far (d0 before the first). Adding facility f lowers m_i from m to
m' = d_if only for the points i with d_if < m_i, and lowers every g_j by
sum_{those i} clamp(m - d_ij, 0, m - m'). So the gains are kept current, exactly, by one pass
over the rows of the points that changed (few, after the first picks), and each pick is the
argmax of a current gain vector: no heap, no stale bounds.

Those sums are float32, for speed, at most _GROUP terms at a time (then float64), so each gain
is known within a rigorous bound of their rounding: an interval [lower, upper] around the
exact gain, recomputed from scratch when the gains have fallen _RESCALE times below the ones it
was computed at (its width is relative to those). The candidate whose interval lies above all
others is the pick; otherwise the candidates within reach of the top get their gains the way
plain greedy computes every gain (float64, fixed [block, N] batches, ties to the lowest index)
and the best of them is the pick. So the picks are exactly plain greedy's.

Distances are float32 ||a||^2 + ||b||^2 - 2 a.b on mean-centred vectors (full fp32 matmul,
never TF32), one value per pair. The N x N matrix is kept while it fits in memory (per class,
as the samplers use it, it always does); beyond that its rows are recomputed when needed,
whose last bits may then differ between recomputations, so there the picks can differ from
plain greedy's only between candidates whose gains agree to float32 rounding.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from numbers import Real

import numpy as np
import torch

from robustrepro.compute.device import one_thread, pick_device
from robustrepro.errors import UserError
from robustrepro.selection.neighbours import as_points, as_radius, ball_counts, full_fp32_matmul

# Distances held per block while scanning the matrix: ~64 MB of float32 on the CPU, ~256 MB on a GPU.
_BLOCK_ELEMENTS = {"cpu": 2**24, "cuda": 2**26}
# Elements per block of the per-pick sums: 1 MB on the CPU, so each block's passes run in cache.
_CACHE_ELEMENTS = {"cpu": 2**18, "cuda": 2**26}
# The whole distance matrix is kept up to this size (CPU: N <= 16k; GPU: N <= 32k).
_DENSE_BYTES = {"cpu": 2**30, "cuda": 2**32}
# Candidates whose gains plain greedy computes together (one host round trip per batch matters on
# a GPU); the fixed batch shape makes a gain the same bits whichever batch it is in.
_REFRESH_ROWS = {"cpu": 8, "cuda": 64}
# Rows summed in float32 before float64: bounds a sum's relative rounding to (_GROUP + 2) units.
_GROUP = 16
_U32, _U64 = 2.0**-24, 2.0**-53  # unit roundoffs
# The bounds are recomputed whenever the top gain falls this many times below their scale.
_RESCALE = 32


@dataclass(frozen=True)
class Facilities:
    indices: np.ndarray  # int64 [k]: the facilities (positions in the input), in greedy order
    assignment: np.ndarray  # int64 [N]: position in `indices` of each point's nearest facility
    sizes: np.ndarray  # int64 [k]: points assigned to each facility, itself included: its weight


def facility_location(vectors, k: int, device: str | torch.device = "cpu", lazy: bool = True) -> Facilities:
    """The greedy k facilities of vectors [N, D] (L2 distance), each point assigned to its nearest.

    Assignment ties go to the earlier facility; a facility is always assigned to itself.
    lazy=True updates the gains after each pick where they changed (module docstring); lazy=False
    is the textbook greedy, every gain recomputed at every step: same picks, slower.
    """
    dev = _device(device)
    v = _as_vectors(vectors, dev)
    n = len(v)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
        raise UserError(f"selection.k: the number of facilities must be an integer in [1, {n}]; got {k!r}")
    with torch.inference_mode():  # no autograd bookkeeping on the greedy's thousands of small ops
        greedy = _Greedy(_Distances(v), _REFRESH_ROWS[dev.type])
        # The distance matrix above is one large product, for every thread. Over a kept matrix the
        # greedy is thousands of small ops, whose split over threads collapses when another process
        # holds a core: they run on one. Without it (large N) each pick recomputes rows, a product.
        with one_thread(dev) if greedy.distances.matrix is not None else contextlib.nullcontext():
            (_incremental_greedy if lazy else _plain_greedy)(greedy, int(k))
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
        # Rows per block of the sums: a multiple of _GROUP, within the cache where there is one.
        self.step = max(1, _CACHE_ELEMENTS[v.device.type] // n // _GROUP) * _GROUP
        self.matrix = None
        if 4 * n * n <= _DENSE_BYTES[v.device.type]:
            self.matrix = torch.empty((n, n), dtype=torch.float32, device=v.device)
            self.d0 = float(torch.stack([self._fill(s, min(s + self.step, n)) for s in range(0, n, self.step)]).max())
        else:
            blocks = [torch.arange(s, min(s + step, n), device=v.device) for s in range(0, n, step)]
            self.d0 = max(float(self._compute(rows).max()) for rows in blocks)

    def _fill(self, s: int, e: int) -> torch.Tensor:
        """Rows s:e of the matrix from column s on, mirrored into columns s:e, and their largest
        value. One value per pair (BLAS rounds blocks of rows differently): plain greedy reads a
        candidate's row, the incremental update the changed points' rows."""
        with full_fp32_matmul():
            d = torch.addmm(self.sq[s:e, None] + self.sq[None, s:], self.x[s:e], self.x[s:].T, alpha=-2.0)
        d.clamp_(min=0).sqrt_()
        corner = d[:, :e - s]
        corner.copy_(torch.triu(corner, 1) + torch.triu(corner, 1).T)  # a zero diagonal, whatever the rounding
        self.matrix[s:e, s:] = d
        self.matrix[s:, s:e] = d.T.contiguous()  # a contiguous transpose first: the fast copy
        return d.max()

    def _compute(self, rows: torch.Tensor) -> torch.Tensor:
        with full_fp32_matmul():  # |a|^2 + |b|^2 first: d_ij and d_ji then differ only if the products do
            d = torch.addmm(self.sq[rows, None] + self.sq[None, :], self.x[rows], self.x.T, alpha=-2.0)
        d.clamp_(min=0).sqrt_()
        d[torch.arange(len(rows), device=self.device), rows] = 0  # exactly, whatever the rounding
        return d

    def rows(self, rows: torch.Tensor) -> torch.Tensor:
        """A new [len(rows), N] tensor (the caller may overwrite it)."""
        return torch.index_select(self.matrix, 0, rows) if self.matrix is not None else self._compute(rows)

    def row(self, i: int) -> torch.Tensor:
        """Row i, read only."""
        return self.matrix[i] if self.matrix is not None else self._compute(torch.tensor([i], device=self.device))[0]

    def clamped_sums(self, top: torch.Tensor, cap: torch.Tensor | None = None, rows: torch.Tensor | None = None):
        """sum_i clamp(top_i - d_ij, 0, cap_i) over rows i (default all), for every j, and its relative
        error bound; top and cap are columns [rows, 1].

        The sums are float32 for at most _GROUP rows, else float64. Each float32 term is within
        one unit of the exact one (the clamp and a positive difference round monotonically), and
        at most _GROUP of them are summed in float32.
        """
        count, step = (self.n if rows is None else rows.shape[0]), self.step
        if rows is not None and count <= min(step, _GROUP):  # most picks: one float32 sum
            terms = torch.sub(top, self.rows(rows)).clamp_(min=0)
            return torch.minimum(terms, cap, out=terms).sum(0), (count + 2) * _U32
        total = torch.zeros(self.n, dtype=torch.float64, device=self.device)
        for s in range(0, count, step):
            e = min(s + step, count)
            if rows is None and self.matrix is not None:  # all rows: views of the matrix, not copies
                terms = torch.sub(top[s:e], self.matrix[s:e])
            elif rows is None:
                terms = torch.sub(top[s:e], self._compute(torch.arange(s, e, device=self.device)))
            else:
                d = self.rows(rows[s:e])
                terms = torch.sub(top[s:e], d, out=d)
            terms.clamp_(min=0)
            if cap is not None:
                torch.minimum(terms, cap[s:e], out=terms)
            whole = (e - s) // _GROUP * _GROUP
            if whole:
                total += terms[:whole].view(-1, _GROUP, self.n).sum(1).sum(0, dtype=torch.float64)
            if whole < e - s:
                total += terms[whole:].sum(0)
        return total, (min(count, _GROUP) + 2) * _U32


class _Greedy:
    """The greedy's state: facilities so far, each point's distance to and index of its nearest."""

    def __init__(self, distances: _Distances, block: int):
        self.distances, self.block = distances, block
        n, dev = distances.n, distances.device
        self.nearest_distance = torch.full((n,), distances.d0, dtype=torch.float32, device=dev)
        self.nearest_column = self.nearest_distance.view(-1, 1)
        self.nearest = torch.zeros(n, dtype=torch.int64, device=dev)
        self.picks: list[int] = []

    def gains(self, candidates: list[int]) -> list[float]:
        """F(S + j) - F(S) for at most `block` candidates j, always as one [block, N] batch.

        Float64 terms and sums: within N float64 units of the exact gain. The fixed shape makes
        a candidate's gain the same bits whichever batch it is in.
        """
        padded = candidates + candidates[-1:] * (self.block - len(candidates))
        rows = self.distances.rows(torch.from_numpy(np.array(padded)).to(self.distances.device)).double()
        gains = torch.sub(self.nearest_distance.double(), rows, out=rows).clamp_(min=0).sum(1)
        return gains[:len(candidates)].tolist()

    def all_gains(self, candidates: list[int]) -> list[float]:
        return [g for s in range(0, len(candidates), self.block) for g in self.gains(candidates[s:s + self.block])]

    def pick(self, j: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Adds facility j; returns the points now nearer to it (strictly: ties stay with the
        earlier facility), and as columns [changed, 1] their previous distances and new ones."""
        row = self.distances.row(j)
        changed = torch.nonzero(row < self.nearest_distance).view(-1)
        before, after = self.nearest_column.index_select(0, changed), row.view(-1, 1).index_select(0, changed)
        torch.minimum(self.nearest_distance, row, out=self.nearest_distance)
        self.nearest.index_fill_(0, changed, len(self.picks))
        self.picks.append(j)
        return changed, before, after


class _Bounds:
    """An interval [lower, upper] around every candidate's exact gain, kept current after each pick.

    Picked points sit at -inf. The float64 bookkeeping itself rounds by at most a few units of
    the largest first gain per pick, which `margin` covers along with plain greedy's rounding.
    """

    def __init__(self, greedy: _Greedy):
        self.greedy = greedy
        self.factors: dict[float, torch.Tensor] = {}  # per error bound: (1 - error, 1 + error)
        self.recompute()
        self.known = torch.full((greedy.distances.n,), math.inf, dtype=torch.float64, device=self.bounds.device)
        self.unit = self.scale * _U64

    def recompute(self) -> None:
        """Every candidate's bounds from scratch: their width is then relative to today's gains."""
        gains, error = self.greedy.distances.clamped_sums(self.greedy.nearest_column)
        factors = torch.tensor([[1 + error], [1 - error]], dtype=torch.float64, device=gains.device)
        self.bounds = gains.double() * factors
        self.bounds.index_fill_(1, torch.tensor(self.greedy.picks, dtype=torch.int64, device=gains.device), -math.inf)
        self.upper, self.lower = self.bounds
        self.scale = float(self.upper.max())

    def margin(self) -> float:
        return 8 * (self.greedy.distances.n + len(self.greedy.picks) + 1) * self.unit

    def best(self) -> int:
        """The candidate plain greedy would pick now."""
        top = self.lower.max().item()
        if top < self.scale / _RESCALE:
            self.recompute()
            return self.best()
        near = torch.nonzero(self.upper >= top - self.margin()).view(-1)
        if near.shape[0] == 1:
            return near.item()
        return self.settle(near.cpu().numpy())

    def settle(self, near: np.ndarray) -> int:
        """Plain greedy's pick among near-ties: their gains as plain greedy computes them, the
        most promising first, until no other can beat (or, tied, precede) the best so far.

        A gain plain greedy computed is a bound on its later ones, in its own arithmetic (each
        term only falls, and rounds monotonically), so exact ties are settled once, not at
        every pick."""
        half = self.margin() / 2
        index = torch.from_numpy(near).to(self.bounds.device)
        bound = np.minimum(self.known[index].cpu().numpy(), self.upper[index].cpu().numpy() + half)
        order = np.lexsort((near, -bound))
        near, bound = near[order], bound[order]
        best, value, block = -1, -math.inf, self.greedy.block
        for s in range(0, len(near), block):
            gains = self.greedy.gains(near[s:s + block].tolist())
            index = torch.from_numpy(near[s:s + block]).to(self.bounds.device)
            self.known[index] = exact = torch.tensor(gains, dtype=torch.float64, device=index.device)
            self.upper[index], self.lower[index] = exact + half, exact - half
            for j, g in zip(near[s:s + block].tolist(), gains):
                if g > value or (g == value and j < best):
                    best, value = j, g
            rest = s + block
            if rest < len(near) and (bound[rest] < value or (bound[rest] == value and near[rest] > best)):
                break
        return best

    def pick(self, j: int) -> None:
        changed, before, after = self.greedy.pick(j)
        drop, error = self.greedy.distances.clamped_sums(before, before - after, changed)
        if error not in self.factors:
            self.factors[error] = torch.tensor([[1 - error], [1 + error]], dtype=torch.float64, device=drop.device)
        # upper -= (1 - error) drop, lower -= (1 + error) drop
        self.bounds.addcmul_(self.factors[error], drop, value=-1)
        self.bounds[:, j] = -math.inf


def _incremental_greedy(greedy: _Greedy, k: int) -> None:
    bounds = _Bounds(greedy)
    while len(greedy.picks) < k:
        bounds.pick(bounds.best())


def _plain_greedy(greedy: _Greedy, k: int) -> None:
    left = list(range(greedy.distances.n))
    while len(greedy.picks) < k:
        _, j = min(zip((-g for g in greedy.all_gains(left)), left))
        left.remove(j)
        greedy.pick(j)

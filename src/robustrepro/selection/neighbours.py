"""Radius neighbourhoods: for each of N points, every point within L2 distance r, itself included.

These are the balls of seed 000's set cover (section 5.1) and the ball counts of its "Weighted
only" scheme (section 6.2). Distances are computed a block of rows at a time against the points
from that block on (each pair once, i <= j, then mirrored) on a torch device, so memory is
O(block * N + pairs kept), never N x N, and the work is half the full matrix.

What "within r" means, exactly: the squared distance computed in float64 from the input
coordinates is <= r * r. So d == r counts and exact duplicates are neighbours at r = 0; each
pair is decided once, so the relation is symmetric (the set cover relies on that). The fast
pass is float32 ||a||^2 + ||b||^2 - 2 a.b on mean-centred points; a pair whose float32 value
lies within a rigorous rounding-error bound of r^2 is recomputed in float64, so the float32
pass never changes the answer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from robustrepro.compute.device import pick_device, shared_out
from robustrepro.errors import UserError

# Distances held per block: ~32 MB of float32 on the CPU (measured fastest of 8-64 MB at 10k-50k
# points of 64 and 512 dims: 1.2-1.3x 64 MB), ~256 MB on a GPU; never under 32 rows. On a CPU
# at least 16 blocks a thread, so that a thread sharing its core with another process can be left
# the smaller part of the work (see shared_out).
_BLOCK_ELEMENTS = {"cpu": 2**23, "cuda": 2**26}
_MIN_BLOCK_ROWS = 32
_CPU_BLOCKS_PER_THREAD = 16
# Elements per chunk of the float64 recomputation (bounds its temporary memory).
_EXACT_ELEMENTS = 2**22


@dataclass(frozen=True)
class Neighbours:
    """Compressed sparse rows: row i is indices[indptr[i]:indptr[i + 1]], sorted, includes i."""

    indptr: np.ndarray  # int64 [N + 1]
    indices: np.ndarray  # int32 [nnz] (int64 beyond 2**31 points)
    radius: float

    @property
    def n_points(self) -> int:
        return len(self.indptr) - 1

    @property
    def counts(self) -> np.ndarray:
        """int64 [N]: points within the radius of each point, itself included."""
        return np.diff(self.indptr)

    def row(self, i: int) -> np.ndarray:
        return self.indices[self.indptr[i]:self.indptr[i + 1]]


def as_points(points) -> np.ndarray:
    """The points as a C-contiguous float array: float64 for float64 or integer input, else float32."""
    if isinstance(points, torch.Tensor):
        points = points.detach().cpu()
        points = (points if points.dtype == torch.float64 else points.float()).numpy()
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[0] == 0 or points.shape[1] == 0:
        raise UserError(f"selection.points: expected a 2-D array [N points, D dims] with N, D >= 1; "
                        f"got shape {points.shape}")
    if points.dtype.kind not in "fiu":
        raise UserError(f"selection.points: expected numbers; got dtype {points.dtype}")
    dtype = np.float64 if points.dtype == np.float64 or points.dtype.kind in "iu" else np.float32
    points = np.ascontiguousarray(points, dtype=dtype)
    bad = ~np.isfinite(points).all(axis=1)
    if bad.any():
        raise UserError(f"selection.points: {int(bad.sum())} rows hold NaN or infinite values (first: row "
                        f"{int(np.flatnonzero(bad)[0])}); recompute the features or gradients")
    return points


def as_radius(radius) -> float:
    if isinstance(radius, bool) or not isinstance(radius, (int, float, np.integer, np.floating)) \
            or not np.isfinite(radius) or radius < 0:
        raise UserError(f"selection.radius: must be a finite number >= 0; got {radius!r}")
    return float(radius)


def radius_neighbours(points, radius: float, device: str | torch.device = "cpu",
                      block: int | None = None) -> Neighbours:
    """Every pair of points at L2 distance <= radius, as CSR; see the module docstring for exactness."""
    points, radius = as_points(points), as_radius(radius)
    n = len(points)
    index = np.int32 if n < 2**31 else np.int64
    upper = [(rows.astype(index), cols.astype(index)) for rows, cols in _upper_pairs(points, radius, device, block)]
    rows, cols = (np.concatenate(a) for a in zip(*upper))
    off = rows != cols
    # Mirrored pairs first: for row i they hold the columns j < i, already ascending (the pass
    # runs row by row), then its own pairs, j >= i ascending; a stable sort by row keeps both.
    all_rows, all_cols = np.concatenate([cols[off], rows]), np.concatenate([rows[off], cols])
    order = np.argsort(all_rows, kind="stable")
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(all_rows, minlength=n), out=indptr[1:])
    return Neighbours(indptr, all_cols[order], radius)


def ball_counts(points, radius: float, device: str | torch.device = "cpu",
                block: int | None = None) -> np.ndarray:
    """int64 [N]: points within radius of each point (itself included), without keeping the pairs."""
    points, radius = as_points(points), as_radius(radius)
    counts = np.zeros(len(points), dtype=np.int64)
    for rows, cols in _upper_pairs(points, radius, device, block):
        counts += np.bincount(rows, minlength=len(points)) + np.bincount(cols[rows != cols], minlength=len(points))
    return counts


def _upper_pairs(points: np.ndarray, radius: float, device: str | torch.device,
                 block: int | None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(rows, cols) int64 of the pairs within radius with row <= col, a block of rows at a time, row-major."""
    dev = device if isinstance(device, torch.device) else pick_device(device)
    n, d = points.shape
    if block is None:
        block = _BLOCK_ELEMENTS.get(dev.type, 2**23) // n
        if dev.type == "cpu":
            block = min(block, -(-n // (_CPU_BLOCKS_PER_THREAD * torch.get_num_threads())))
        block = max(_MIN_BLOCK_ROWS, block)
    elif isinstance(block, bool) or not isinstance(block, int) or block < 1:
        raise UserError(f"selection.block: must be a positive integer (rows per distance block); got {block!r}")
    r2 = radius * radius
    # Rounding-error bound of the float32 pass, in units of (|a|^2 + |b|^2 + r^2): the dot product
    # contributes (d + 2) u, centring, casting and the additions a few u more; 4x margin on top.
    slack = (d + 8) * 2.0**-22

    orig = torch.from_numpy(points).to(dev)
    mean = orig.mean(0, dtype=torch.float64)
    x = torch.empty((n, d), dtype=torch.float32, device=dev)
    sq = torch.empty(n, dtype=torch.float64, device=dev)  # |x_i|^2 of the float32 points, in float64
    for s in range(0, n, block):
        x[s:s + block] = (orig[s:s + block].double() - mean).float()
        sq[s:s + block] = x[s:s + block].double().square().sum(1)
    del orig
    sq_row = sq.float()[None, :]
    sq_max = float(sq.max())

    def pairs_from(s: int) -> tuple[np.ndarray, np.ndarray]:
        xb, sqb = x[s:s + block], sq[s:s + block]
        part = torch.addmm(sq_row[:, s:], xb, x[s:].T, alpha=-2.0)  # |x_j|^2 - 2 x_i.x_j for j >= s
        # Candidates: every pair that could be within r (the widest bound of its row), j >= i.
        limit = (r2 - sqb + slack * (sqb + sq_max + r2)).float()[:, None]
        candidate = part <= limit
        candidate[:, :len(xb)].triu_()
        pairs = torch.nonzero(candidate)
        local, cols = pairs[:, 0], pairs[:, 1] + s
        rows = local + s
        approx = part[local, cols - s].double() + sqb[local]
        err = slack * (sq[rows] + sq[cols] + r2)
        keep = approx <= r2 - err
        unsure = (~keep & (approx <= r2 + err)).cpu().numpy()
        rows, cols, keep = rows.cpu().numpy(), cols.cpu().numpy(), keep.cpu().numpy()
        if unsure.any():
            at = np.flatnonzero(unsure)
            keep[at] = _exact_sq_distances(points, rows[at], cols[at]) <= r2
        return rows[keep], cols[keep]

    # The matmul precision is process-wide: set once here, not per block in each thread.
    with full_fp32_matmul():
        yield from shared_out(pairs_from, range(0, n, block), dev)


def _exact_sq_distances(points: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """float64 squared distances of the pairs (rows[k], cols[k]), computed on the CPU."""
    out = np.empty(len(rows))
    step = max(1, _EXACT_ELEMENTS // points.shape[1])
    for s in range(0, len(rows), step):
        diff = points[rows[s:s + step]].astype(np.float64) - points[cols[s:s + step]]
        out[s:s + step] = np.square(diff).sum(axis=1)
    return out


@contextlib.contextmanager
def full_fp32_matmul():
    """True float32 matrix products (no TF32 on a GPU, no bf16 on a CPU): the distance error
    bounds here, and the near-tie order of facility location, assume them."""
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)

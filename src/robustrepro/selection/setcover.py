"""Offline set cover clustering (seed 000, sections 5.1 and 6.1.1).

Each of the N points is the centre of a ball of radius r (L2, in feature or gradient space).
Greedy set cover repeatedly picks the ball that covers the most still-uncovered points, ties
going to the lowest point index, until every point is covered; that is within a factor
1 + ln N of the smallest cover. Training then iterates over the chosen balls (clusters) instead
of the points. Each point belongs to the earliest-chosen ball that covers it.

The paper's implementation is lazy: a ball's gain (uncovered points it covers) only shrinks as
the cover grows (submodularity), so a max-heap of stale gains needs to refresh only the top.
lazy_greedy_set_cover picks exactly what plain_greedy_set_cover (the simple reference) picks.
"""

from __future__ import annotations

import heapq
import zipfile
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch

from robustrepro.errors import UserError
from robustrepro.files import atomic_open
from robustrepro.selection.neighbours import Neighbours, radius_neighbours


@dataclass(frozen=True)
class SetCover:
    centres: np.ndarray  # int64 [C]: the chosen balls' centre points, in greedy order
    assignment: np.ndarray  # int64 [N]: index into centres of the earliest-chosen ball covering each point
    sizes: np.ndarray  # int64 [C]: points assigned to each centre
    ball_counts: np.ndarray  # int64 [N]: points within radius of each point, itself included
    radius: float

    @property
    def n_clusters(self) -> int:
        return len(self.centres)

    def members(self) -> tuple[np.ndarray, np.ndarray]:
        """Clusters as CSR (indptr int64 [C + 1], points int64 [N]): cluster k's points in index order."""
        indptr = np.zeros(len(self.sizes) + 1, dtype=np.int64)
        np.cumsum(self.sizes, out=indptr[1:])
        return indptr, np.argsort(self.assignment, kind="stable")


def set_cover(points, radius: float, device: str | torch.device = "cpu", lazy: bool = True,
              block: int | None = None) -> SetCover:
    """Greedy set cover of the radius balls around points [N, D] (L2 distance <= radius): array or tensor."""
    return set_cover_from_neighbours(radius_neighbours(points, radius, device, block), lazy)


def set_cover_from_neighbours(neighbours: Neighbours, lazy: bool = True) -> SetCover:
    centres = (lazy_greedy_set_cover if lazy else plain_greedy_set_cover)(neighbours)
    assignment = _earliest_covering(neighbours, centres)
    return SetCover(centres, assignment, np.bincount(assignment, minlength=len(centres)),
                    neighbours.counts, neighbours.radius)


def lazy_greedy_set_cover(neighbours: Neighbours) -> np.ndarray:
    """Greedy centres (int64, in selection order) with a heap of stale gains; same picks as the plain greedy."""
    n, indices = neighbours.n_points, neighbours.indices
    indptr = neighbours.indptr.tolist()
    uncovered = np.ones(n, dtype=bool)
    # One int per ball orders the heap: key = index - gain * n, smallest first = largest gain, then lowest index.
    heap = (np.arange(n) - neighbours.counts * n).tolist()
    heapq.heapify(heap)
    centres = []
    while True:
        i = heap[0] % n
        stale = (i - heap[0]) // n
        if stale <= 1:
            break
        ball = indices[indptr[i]:indptr[i + 1]]
        gain = int(np.count_nonzero(uncovered[ball]))
        if gain == stale:  # fresh and still on top: every other ball's true gain is no larger (ties: higher index)
            heapq.heappop(heap)
            centres.append(i)
            uncovered[ball] = False
        else:
            heapq.heapreplace(heap, i - gain * n)
    return np.concatenate([np.array(centres, dtype=np.int64), _last_singletons(neighbours, uncovered)])


def plain_greedy_set_cover(neighbours: Neighbours) -> np.ndarray:
    """The reference greedy: every ball's gain recomputed at every step (O(nnz) per pick)."""
    n, indptr, indices = neighbours.n_points, neighbours.indptr, neighbours.indices
    uncovered = np.ones(n, dtype=bool)
    centres = []
    while uncovered.any():
        gains = np.add.reduceat(uncovered[indices], indptr[:-1], dtype=np.int64)
        best = int(np.argmax(gains))  # first maximum: ties go to the lowest index
        centres.append(best)
        uncovered[indices[indptr[best]:indptr[best + 1]]] = False
    return np.array(centres, dtype=np.int64)


def _last_singletons(neighbours: Neighbours, uncovered: np.ndarray) -> np.ndarray:
    """The rest of the greedy once no ball covers more than one uncovered point, in one step.

    Then the next pick is the lowest-index ball holding any uncovered point u, i.e. the smallest
    min(ball(u)) (balls are symmetric); two points never share that minimum (its ball would cover
    both), so picking it leaves the others' minima unchanged: the picks are those minima, ascending.
    """
    rest = np.flatnonzero(uncovered)
    return np.sort(neighbours.indices[neighbours.indptr[rest]]).astype(np.int64)


def _earliest_covering(neighbours: Neighbours, centres: np.ndarray) -> np.ndarray:
    """int64 [N]: for each point, the position in centres of the first chosen ball containing it."""
    rank = np.full(neighbours.n_points, len(centres), dtype=np.int64)
    rank[centres] = np.arange(len(centres))
    first = np.minimum.reduceat(rank[neighbours.indices], neighbours.indptr[:-1])
    if (first == len(centres)).any():
        raise ValueError(f"centres leave {int((first == len(centres)).sum())} points uncovered")
    return first


def save_set_cover(path: str | Path, cover: SetCover) -> None:
    with atomic_open(path) as out:
        np.savez(out, **{f.name: getattr(cover, f.name) for f in fields(SetCover)})


def load_set_cover(path: str | Path) -> SetCover:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"set cover {path} is missing; build it with the workflow's clustering rule")
    try:
        with np.load(path) as z:
            arrays = {f.name: z[f.name] for f in fields(SetCover)}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        raise UserError(f"set cover {path} is unreadable ({e}); delete it and rebuild it") from None
    return SetCover(**{k: (float(v) if k == "radius" else v) for k, v in arrays.items()})

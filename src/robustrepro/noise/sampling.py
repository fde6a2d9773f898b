"""Class-aware random draws without replacement, vectorised over the whole label array."""

from __future__ import annotations

import numpy as np


def balanced_counts(available: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """How many examples of each class make n examples spread as evenly as the classes allow.

    Every class gets an equal share; a class that runs out passes the rest of its share on to the
    others; the last few (fewer than the number of classes) go to classes chosen at random.
    The caller ensures n <= available.sum().
    """
    counts = np.zeros_like(available)
    while (left := n - int(counts.sum())) > 0:
        room = available - counts
        open_classes = np.flatnonzero(room > 0)
        share = left // open_classes.size
        if share == 0:
            counts[rng.choice(open_classes, left, replace=False)] += 1
            break
        counts[open_classes] += np.minimum(share, room[open_classes])
    return counts


def stratified_counts(available: np.ndarray, fraction: float) -> np.ndarray:
    """round(fraction * total) examples split in proportion to the class sizes.

    Each class gets the floor of its share; the classes with the largest remainders get one more.
    """
    exact = available * fraction
    counts = np.floor(exact).astype(np.int64)
    extra = round(fraction * int(available.sum())) - int(counts.sum())
    counts[np.argsort(counts - exact, kind="stable")[:extra]] += 1
    return counts


def take_per_class(labels: np.ndarray, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask over `labels` choosing counts[c] examples of each class c uniformly at random."""
    # A random permutation, then a stable sort by class: each class's examples end up
    # contiguous and in random order, so "the first counts[c] of class c" is a uniform draw.
    order = rng.permutation(labels.size)
    order = order[np.argsort(labels[order], kind="stable")]
    grouped = labels[order]
    first_of_class = np.searchsorted(grouped, np.arange(counts.size))
    rank_in_class = np.arange(labels.size) - first_of_class[grouped]
    mask = np.zeros(labels.size, dtype=bool)
    mask[order[rank_in_class < counts[grouped]]] = True
    return mask

"""Dataset shaping: which of the remaining training examples a run trains on, before any label noise.

- "none": all of them.
- "per_class" {n}: n examples of every class (seed 004 trains on CIFAR subsets of 100, 500 and
  5000 images per class).
- "imbalance" {classes, proportion, size, dominant}: a class-imbalanced problem over a few classes
  (seed 001, MNIST 4 vs 9, after the PyTorch reimplementation it follows: 5000 training images,
  the dominant class 9 making up `proportion` of them, tested on every test image of 4 and 9).
  Only `classes` are kept, relabelled 0 .. len(classes) - 1 in the order given, in the training
  pool (so the clean holdout is drawn from them too) and in the test set, which keeps all of
  its examples of those classes. Of the `size` training examples, floor(proportion * size) are
  of class `dominant` (a dataset class; default the last of `classes`), the rest are spread
  evenly over the other classes.
"""

from __future__ import annotations

import numpy as np

from robustrepro.errors import UserError
from robustrepro.noise.sampling import balanced_counts, take_per_class
from robustrepro.noise.spec import REQUIRED, count, fraction, is_int

KINDS = {
    "none": {},
    "per_class": {"n": REQUIRED},
    "imbalance": {"classes": REQUIRED, "proportion": REQUIRED, "size": REQUIRED, "dominant": None},
}


def class_map(kind: str, params: dict, num_classes: int) -> np.ndarray:
    """Lookup from dataset class to view class, -1 for a dropped class (identity unless "imbalance")."""
    if kind != "imbalance":
        return np.arange(num_classes)
    classes = params["classes"]
    if (not isinstance(classes, (list, tuple)) or len(classes) < 2 or len(set(classes)) != len(classes)
            or not all(is_int(c) and 0 <= c < num_classes for c in classes)):
        raise UserError(f"shaping.classes: {classes!r} is not a list of at least 2 distinct classes; "
                        f"give classes in 0 .. {num_classes - 1}, e.g. [4, 9]")
    table = np.full(num_classes, -1, dtype=np.int64)
    table[list(classes)] = np.arange(len(classes))
    return table


def select(kind: str, params: dict, labels: np.ndarray, table: np.ndarray,
           rng: np.random.Generator) -> np.ndarray:
    """Boolean mask over the training pool (`labels`: view classes) of the examples to train on."""
    num_classes = int(table.max()) + 1
    available = np.bincount(labels, minlength=num_classes)
    if kind == "none":
        return np.ones(labels.size, dtype=bool)
    if kind == "per_class":
        n = count("shaping.n", params["n"], at_least=1)
        if n > available.min():
            raise UserError(f"shaping.n: {n} per class, but class {int(available.argmin())} has only "
                            f"{int(available.min())} examples left after the holdout; use at most that")
        return take_per_class(labels, np.full(num_classes, n), rng)
    # imbalance
    size = count("shaping.size", params["size"], at_least=1)
    proportion = fraction("shaping.proportion", params["proportion"])
    dominant = params["dominant"]
    if dominant is None:
        dominant = params["classes"][-1]
    if not is_int(dominant) or not 0 <= dominant < table.size or table[dominant] < 0:
        raise UserError(f"shaping.dominant: {dominant!r} is not one of shaping.classes {params['classes']}")
    dominant = int(table[dominant])
    counts = np.zeros(num_classes, dtype=np.int64)
    # floor, as the reference implementation; the epsilon keeps 0.57 * 100 = 56.99999999999999 at 57
    counts[dominant] = int(np.floor(proportion * size + 1e-9))
    others = np.arange(num_classes) != dominant
    rest = size - int(counts[dominant])
    if counts[dominant] > available[dominant] or rest > available[others].sum():
        raise UserError(f"shaping.size: {size} with proportion {proportion} needs {int(counts[dominant])} examples "
                        f"of the dominant class and {rest} of the others, but only {int(available[dominant])} and "
                        f"{int(available[others].sum())} are left after the holdout; lower shaping.size")
    counts[others] = balanced_counts(available[others], rest, rng)
    return take_per_class(labels, counts, rng)

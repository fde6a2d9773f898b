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

Every kind is registered in SHAPING and built from the view spec's `shaping` section,
{"kind": ..., **options}, into a `Shaping`: the view builder asks it first which classes to
keep (class_map), then, after the holdout, which examples to train on (select). Options are
checked when the kind is built, except what needs the dataset's classes.
"""

from __future__ import annotations

import numpy as np

from robustrepro.errors import UserError
from robustrepro.noise.sampling import balanced_counts, take_per_class
from robustrepro.options import integer, number
from robustrepro.registry import Registry

SHAPING = Registry("shaping", field="kind")


@SHAPING.register("none")
class Shaping:
    """Every class and every example; the other kinds override what they change."""

    def class_map(self, num_classes: int) -> np.ndarray:
        """Lookup from dataset class to view class, -1 for a dropped class."""
        return np.arange(num_classes)

    def select(self, labels: np.ndarray, table: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Boolean mask over the training pool (`labels`: view classes) of the examples to train on."""
        return np.ones(labels.size, dtype=bool)


@SHAPING.register("per_class")
class PerClass(Shaping):
    def __init__(self, *, n: int):
        self.n = integer("shaping.n", n, at_least=1)

    def select(self, labels, table, rng):
        available = np.bincount(labels, minlength=int(table.max()) + 1)
        if self.n > available.min():
            raise UserError(f"shaping.n: {self.n} per class, but class {int(available.argmin())} has only "
                            f"{int(available.min())} examples left after the holdout; use at most that")
        return take_per_class(labels, np.full(available.size, self.n), rng)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@SHAPING.register("imbalance")
class Imbalance(Shaping):
    def __init__(self, *, classes: list[int], proportion: float, size: int, dominant: int | None = None):
        self.classes = classes
        self.proportion = number("shaping.proportion", proportion, at_least=0, at_most=1)
        self.size = integer("shaping.size", size, at_least=1)
        self.dominant = dominant

    def class_map(self, num_classes):
        classes = self.classes
        if (not isinstance(classes, (list, tuple)) or len(classes) < 2 or len(set(classes)) != len(classes)
                or not all(_is_int(c) and 0 <= c < num_classes for c in classes)):
            raise UserError(f"shaping.classes: {classes!r} is not a list of at least 2 distinct classes; "
                            f"give classes in 0 .. {num_classes - 1}, e.g. [4, 9]")
        table = np.full(num_classes, -1, dtype=np.int64)
        table[list(classes)] = np.arange(len(classes))
        return table

    def select(self, labels, table, rng):
        num_classes = int(table.max()) + 1
        available = np.bincount(labels, minlength=num_classes)
        size, proportion = self.size, self.proportion
        dominant = self.classes[-1] if self.dominant is None else self.dominant
        if not _is_int(dominant) or not 0 <= dominant < table.size or table[dominant] < 0:
            raise UserError(f"shaping.dominant: {dominant!r} is not one of shaping.classes {self.classes}")
        dominant = int(table[dominant])
        counts = np.zeros(num_classes, dtype=np.int64)
        # floor, as the reference implementation; the epsilon keeps 0.57 * 100 = 56.99999999999999 at 57
        counts[dominant] = int(np.floor(proportion * size + 1e-9))
        others = np.arange(num_classes) != dominant
        rest = size - int(counts[dominant])
        if counts[dominant] > available[dominant] or rest > available[others].sum():
            raise UserError(f"shaping.size: {size} with proportion {proportion} needs {int(counts[dominant])} "
                            f"examples of the dominant class and {rest} of the others, but only "
                            f"{int(available[dominant])} and {int(available[others].sum())} are left after the "
                            "holdout; lower shaping.size")
        counts[others] = balanced_counts(available[others], rest, rng)
        return take_per_class(labels, counts, rng)

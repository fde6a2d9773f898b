"""Label noise: the labels training sees, drawn from the clean ones.

Every kind is registered in NOISE, built from the view spec's `noise` section, {"kind": ..., **options},
into a `Corrupt` function: called on the clean labels, it returns the training set as positions
into them (repeated for "alpha", whose extra examples are copies), the label each position
trains with, and facts for the view summary. An example counts as noisy exactly when its
training label differs from its true label. Options are checked when the kind is built, except
what needs the view's classes (background_class), checked when it corrupts.

- "none".
- "uniform" {rate}: round(rate * n) examples, chosen at random, get a label drawn uniformly from
  the other classes, so every one of them is wrong (seed 001's UNIFORMFLIP: "flipped to one of
  the other nine labels with probability 1/9 each").
- "uniform_incl" {rate}: round(rate * n) examples get a label drawn uniformly from all classes,
  so about 1/K of them keep their class (seed 002, section 3: "uniformly sampled from the list of
  possible classes, including the original class"; its "clean examples" are those "where the
  label was not changed", section 4.2). The realised rate is therefore about rate * (K-1)/K.
- "background" {rate, background_class}: round(rate * n) examples, chosen at random among all of
  them, are relabelled to background_class (seed 001's BACKGROUNDFLIP: "40% of all the images
  would flip to a single background class"); the chosen ones already of that class stay clean.
- "pair" {rate}: in every class i, round(rate * n_i) examples are relabelled (i + 1) mod K.
- "alpha" {alpha}: every example is followed by alpha copies of the same image, each with a label
  drawn uniformly from all classes, with replacement, so it may equal the true one (seed 003:
  "alpha (X_i, Y') pairs, where Y' is a class sampled uniformly at random with replacement",
  laid out as (X_1, Y_1), (X_1, Y'), ..., (X_2, Y_2), ...).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from robustrepro.noise.sampling import take_per_class
from robustrepro.options import integer, number
from robustrepro.registry import Registry

NOISE = Registry("noise", field="kind")

# corrupt(labels, num_classes, rng) -> (positions into labels, training labels, facts for the summary)
Corrupt = Callable[[np.ndarray, int, np.random.Generator], tuple[np.ndarray, np.ndarray, dict]]


def _rate(rate) -> float:
    return number("noise.rate", rate, at_least=0, at_most=1)


def _relabel_some(rate: float, relabel: Callable) -> Corrupt:
    """round(rate * n) examples chosen at random get relabel(their labels, num_classes, rng)."""
    def corrupt(labels, num_classes, rng):
        chosen = rng.choice(labels.size, round(rate * labels.size), replace=False)
        noisy = labels.copy()
        noisy[chosen] = relabel(labels[chosen], num_classes, rng)
        return np.arange(labels.size), noisy, {"n_selected": int(chosen.size)}

    return corrupt


@NOISE.register("none")
def none() -> Corrupt:
    return lambda labels, num_classes, rng: (np.arange(labels.size), labels.copy(), {})


@NOISE.register("uniform")
def uniform(*, rate: float) -> Corrupt:
    # Adding 1 .. K-1 modulo K is a uniform draw from the other classes.
    return _relabel_some(_rate(rate), lambda y, k, rng: (y + rng.integers(1, k, size=y.size)) % k)


@NOISE.register("uniform_incl")
def uniform_incl(*, rate: float) -> Corrupt:
    return _relabel_some(_rate(rate), lambda y, k, rng: rng.integers(0, k, size=y.size))


@NOISE.register("background")
def background(*, rate: float, background_class: int) -> Corrupt:
    rate, target = _rate(rate), integer("noise.background_class", background_class, at_least=0)

    def to_background(y, num_classes, rng):
        return integer("noise.background_class", target, at_least=0, at_most=num_classes - 1)

    return _relabel_some(rate, to_background)


@NOISE.register("pair")
def pair(*, rate: float) -> Corrupt:
    rate = _rate(rate)

    def corrupt(labels, num_classes, rng):
        available = np.bincount(labels, minlength=num_classes)
        flip = take_per_class(labels, np.round(rate * available).astype(np.int64), rng)
        noisy = labels.copy()
        noisy[flip] = (labels[flip] + 1) % num_classes
        return np.arange(labels.size), noisy, {"n_selected": int(flip.sum())}

    return corrupt


@NOISE.register("alpha")
def alpha(*, alpha: int) -> Corrupt:
    copies = integer("noise.alpha", alpha, at_least=0)

    def corrupt(labels, num_classes, rng):
        n = labels.size
        blocks = np.repeat(labels[:, None], copies + 1, axis=1)  # [n, 1 + alpha]: the clean label, then copies
        blocks[:, 1:] = rng.integers(0, num_classes, size=(n, copies))
        return np.repeat(np.arange(n), copies + 1), blocks.ravel(), {"alpha": copies, "n_clean": n,
                                                                    "n_copies": n * copies}

    return corrupt


def transition_matrix(true: np.ndarray, noisy: np.ndarray, num_classes: int) -> np.ndarray:
    """Empirical P(training label = j | true label = i); a class with no examples gets an identity row."""
    counts = np.bincount(true * num_classes + noisy, minlength=num_classes**2).reshape(num_classes, num_classes)
    totals = counts.sum(axis=1, keepdims=True)
    return np.where(totals > 0, counts / np.maximum(totals, 1), np.eye(num_classes))

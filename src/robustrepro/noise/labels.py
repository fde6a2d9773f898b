"""Label noise: the labels training sees, drawn from the clean ones.

Every kind returns the training set as positions into the clean labels (repeated for "alpha",
whose extra examples are copies) and the label each position trains with. An example counts as
noisy exactly when its training label differs from its true label.

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

import numpy as np

from robustrepro.noise.sampling import take_per_class
from robustrepro.noise.spec import REQUIRED, class_index, count, fraction

KINDS = {
    "none": {},
    "uniform": {"rate": REQUIRED},
    "uniform_incl": {"rate": REQUIRED},
    "background": {"rate": REQUIRED, "background_class": REQUIRED},
    "pair": {"rate": REQUIRED},
    "alpha": {"alpha": REQUIRED},
}


def corrupt(kind: str, params: dict, labels: np.ndarray, num_classes: int,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict]:
    """(positions into `labels`, training labels, facts for the summary)."""
    n = labels.size
    positions = np.arange(n)
    noisy = labels.copy()
    if kind == "none":
        return positions, noisy, {}
    if kind == "alpha":
        alpha = count("noise.alpha", params["alpha"])
        blocks = np.repeat(labels[:, None], alpha + 1, axis=1)  # [n, 1 + alpha]: the clean label, then copies
        blocks[:, 1:] = rng.integers(0, num_classes, size=(n, alpha))
        return np.repeat(positions, alpha + 1), blocks.ravel(), {"alpha": alpha, "n_clean": n, "n_copies": n * alpha}
    rate = fraction("noise.rate", params["rate"])
    if kind == "pair":
        available = np.bincount(labels, minlength=num_classes)
        flip = take_per_class(labels, np.round(rate * available).astype(np.int64), rng)
        noisy[flip] = (labels[flip] + 1) % num_classes
        return positions, noisy, {"n_selected": int(flip.sum())}
    chosen = rng.choice(n, round(rate * n), replace=False)
    if kind == "uniform":
        # Adding 1 .. K-1 modulo K is a uniform draw from the other classes.
        noisy[chosen] = (labels[chosen] + rng.integers(1, num_classes, size=chosen.size)) % num_classes
    elif kind == "uniform_incl":
        noisy[chosen] = rng.integers(0, num_classes, size=chosen.size)
    else:  # background
        noisy[chosen] = class_index("noise.background_class", params["background_class"], num_classes)
    return positions, noisy, {"n_selected": int(chosen.size)}


def transition_matrix(true: np.ndarray, noisy: np.ndarray, num_classes: int) -> np.ndarray:
    """Empirical P(training label = j | true label = i); a class with no examples gets an identity row."""
    counts = np.bincount(true * num_classes + noisy, minlength=num_classes**2).reshape(num_classes, num_classes)
    totals = counts.sum(axis=1, keepdims=True)
    return np.where(totals > 0, counts / np.maximum(totals, 1), np.eye(num_classes))

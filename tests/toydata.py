"""A learnable toy problem shared by the trainer tests: class k lights up its own 4x4 patch on a noisy background."""

import dataclasses

import numpy as np

from robustrepro.data.prepared import Prepared, identify, save_prepared
from robustrepro.runs import view_spec
from robustrepro.views import View, stamped, write_view

CLASSES = 10


def toy_data(n_train=400, n_test=200, n_val=100, noisy=0.2, shape=(1, 28, 28), seed=0, background=90, patch=255,
             validation=None):
    """(Prepared, View). The last n_val training images are a clean validation split (used when
    `validation` is "train", the default with n_val > 0); `noisy` of the rest get a wrong label."""
    rng = np.random.default_rng(seed)
    channels, height, width = shape

    def images(n):
        y = rng.integers(0, CLASSES, n)
        x = rng.integers(0, background, (n, channels, height, width)).astype(np.uint8)
        for k in range(CLASSES):
            r, c = divmod(k, 4)
            x[y == k, :, 3 + 6 * r:7 + 6 * r, 3 + 6 * c:7 + 6 * c] = patch
        return x, y

    train_x, train_y = images(n_train)
    test_x, test_y = images(n_test)
    prepared = Prepared("toy", train_x, train_y, test_x, test_y, tuple(map(str, range(CLASSES))))
    train = np.arange(n_train - n_val)
    val = np.arange(n_train - n_val, n_train)
    mask = rng.random(len(train)) < noisy
    labels = train_y[train].copy()
    labels[mask] = (labels[mask] + rng.integers(1, CLASSES, mask.sum())) % CLASSES
    if validation is None:
        validation = "train" if n_val else "none"
    view = View(CLASSES, train, labels, train_y[train], mask, val, train_y[val], validation,
                val, train_y[val], np.arange(n_test), test_y, np.eye(CLASSES), float(mask.mean()))
    return prepared, view


def save_toy(prepared_path, view_path, prepared, view, run=None):
    """Save toy data as a job of `run` (the default run if None) finds its files: the prepared file
    holding the run's dataset (by name), the view with its record, made for the run's view spec
    from that file (robustrepro.views.check_inputs checks both)."""
    save_prepared(prepared_path, dataclasses.replace(prepared, name=view_spec(run or {})["dataset"]))
    save_toy_view(view_path, view, prepared_path, run)


def save_toy_view(view_path, view, prepared_path, run=None):
    """Another view of a toy prepared file saved by save_toy."""
    spec = view_spec(run or {})
    write_view(view_path, stamped(view, spec, identify(prepared_path, spec["dataset"], "the toy view")))

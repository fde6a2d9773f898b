"""Build a training view (robustrepro.views.View) from a dataset's labels and a view spec.

The spec is robustrepro.runs.view_spec(run). The stages run in this order, each on what the
previous one left:

1. subsets: train_subset / test_subset keep that many examples, class-balanced;
2. classes: "imbalance" shaping keeps only its classes (train and test) and relabels them;
3. holdout: clean examples set aside, never trained on (seed 001's small clean meta set,
   e.g. {size: 10, per_class: true}; seed 002's 20 % validation split, {size: 0.2});
   an integer size is a class-balanced count (per class when per_class), a size in (0, 1) a
   fraction of the pool, stratified by class;
4. shaping: which of the remaining examples to train on (a kind of robustrepro.noise.shaping.SHAPING);
5. label noise on those (a kind of robustrepro.noise.labels.NOISE);
6. validation: "none", "holdout" (the holdout above), or "test:<n>" (n test examples,
   class-balanced, split off the test set: seed 003 validates on part of the test set).

The kinds of stages 4 and 5 are registered by the modules of this package (labels.py: NOISE,
shaping.py: SHAPING); every module of the package is imported with it, so a kind in a new file
registers itself.

Each stage draws from its own child of SeedSequence(data_seed), so changing one stage (say the
noise rate) leaves the draws of the others (the holdout, the subsets) as they were.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path

import numpy as np

from robustrepro import paths, views
from robustrepro.data.prepared import identify, load_prepared, recorded
from robustrepro.errors import UserError
from robustrepro.noise.labels import NOISE, transition_matrix
from robustrepro.noise.sampling import balanced_counts, stratified_counts, take_per_class
from robustrepro.noise.shaping import SHAPING
from robustrepro.options import integer
from robustrepro.registry import import_all
from robustrepro.views import View, complete_spec, stamped

__all__ = ["build_view", "make_view", "vet_view", "view_input", "NOISE", "SHAPING"]

_REBUILDS = "the view rule rebuilds it"
_STAGES = ("train_subset", "test_subset", "holdout", "shaping", "noise", "validation")


def build_view(spec: dict, prepared_path: str | Path) -> View:
    """The view `spec` describes over the prepared file at `prepared_path`, its summary naming both
    (robustrepro.views.stamped); UserError if the file holds another dataset than the spec's."""
    spec = complete_spec(spec)
    record = identify(prepared_path, spec["dataset"], "the view spec")
    data = load_prepared(prepared_path)
    return stamped(make_view(data.train_y, data.test_y, data.num_classes, spec), spec, record)


def view_input(view_path: str, spec: dict, prepared_folder: str, build: bool) -> str:
    """The view rule's input, the prepared file of `spec`'s dataset in `prepared_folder`. In a build (not
    a dry run, which changes no file) the view at `view_path` is vetted first (`vet_view`), before
    Snakemake may replace it, and a line says what was done."""
    prepared_path = paths.prepared(prepared_folder, spec["dataset"])
    if build and (note := vet_view(view_path, spec, prepared_path)):
        print(f"robustrepro: {note}", file=sys.stderr)
    return prepared_path


def vet_view(path: str | Path, spec: dict, prepared_path: str | Path) -> str | None:
    """The workflow's check of a view file during a build (never a dry run), before the view rule may rebuild it.

    A view that is damaged, or whose record names another spec than `spec` or other prepared data
    than the file at `prepared_path` holds now (robustrepro.views.misfit), is moved aside so that the
    view rule rebuilds it. An older robustrepro's view, without such a record, is recorded in place
    where `build_view` makes the same arrays (a rebuilt view would make Snakemake retrain every run
    on it), else moved aside too. The returned note says what was done; None if nothing was."""
    path = Path(path)
    if not path.is_file():
        return None
    record = views.read_record(path)
    if record is not None:
        fault = views.misfit(path, record, spec, recorded(prepared_path), prepared_path, "its name says")
    else:
        try:
            old = views.load_view(path, then=_REBUILDS)
        except UserError as err:  # damaged: moved aside
            return str(err)
        try:
            fresh = build_view(spec, prepared_path)
        except UserError:  # no sound prepared file to compare with: the build makes it, and so the view again
            return None
        if views.same_arrays(old, fresh):
            views.rerecord(path, dataclasses.replace(old, summary=fresh.summary))
            return (f"training view {path} predates view records: recorded in {views.record_path(path).name} the "
                    "spec and prepared data it was made from (this robustrepro makes the same view from them)")
        fault = (f"has no record of what it was made from and is not the view this robustrepro makes for its spec "
                 f"from {prepared_path}", ".old")
    if fault is None:
        return None
    why, suffix = fault
    return f"training view {path} {why}: moved it aside to {views.set_aside(path, suffix).name}; {_REBUILDS}"


def make_view(train_y: np.ndarray, test_y: np.ndarray, num_classes: int, spec: dict) -> View:
    """The training view that `spec` describes, over a dataset with these train and test labels."""
    spec = complete_spec(spec)
    train_y = _labels("train", train_y, num_classes)
    test_y = _labels("test", test_y, num_classes)
    seed = integer("data_seed", spec["data_seed"], at_least=0)
    rng = dict(zip(_STAGES, map(np.random.default_rng, np.random.SeedSequence(seed).spawn(len(_STAGES)))))
    shaping = SHAPING.build(spec["shaping"])
    corrupt = NOISE.build(spec["noise"])

    # 1. subsets (indices into the dataset's arrays)
    train = _subset(train_y, spec["train_subset"], "train_subset", num_classes, rng["train_subset"])
    test = _subset(test_y, spec["test_subset"], "test_subset", num_classes, rng["test_subset"])

    # 2. classes
    table = shaping.class_map(num_classes)
    train, test = train[table[train_y[train]] >= 0], test[table[test_y[test]] >= 0]
    view_classes = int(table.max()) + 1
    train_labels, test_labels = table[train_y[train]], table[test_y[test]]

    # 3. holdout
    held = take_per_class(train_labels, _holdout_counts(spec["holdout"], train_labels, view_classes, rng["holdout"]),
                          rng["holdout"])
    holdout, holdout_labels = train[held], train_labels[held]
    train, train_labels = train[~held], train_labels[~held]

    # 4. shaping
    kept = shaping.select(train_labels, table, rng["shaping"])
    train, train_labels = train[kept], train_labels[kept]
    if train.size == 0:
        raise UserError("the training view is empty: holdout and shaping leave no training example; "
                        "lower holdout.size or the shaping sizes")

    # 5. label noise
    positions, noisy, noise_facts = corrupt(train_labels, view_classes, rng["noise"])
    train, true = train[positions], train_labels[positions]
    noisy_mask = noisy != true

    # 6. validation
    val_source, val, val_labels, test, test_labels = _validation(spec["validation"], holdout, holdout_labels,
                                                                 test, test_labels, view_classes, rng["validation"])

    def per_class(y: np.ndarray) -> list[int]:
        return np.bincount(y, minlength=view_classes).tolist()

    noise_rate = float(noisy_mask.mean())
    summary = {
        "spec": spec,
        "source_classes": np.flatnonzero(table >= 0)[np.argsort(table[table >= 0])].tolist(),
        "n_train": int(train.size),
        "n_noisy": int(noisy_mask.sum()),
        "realised_noise_rate": noise_rate,
        "train_true_per_class": per_class(true),
        "train_label_per_class": per_class(noisy),
        "holdout_per_class": per_class(holdout_labels),
        "val_per_class": per_class(val_labels),
        "test_per_class": per_class(test_labels),
        **noise_facts,
    }
    return View(num_classes=view_classes, train_indices=train, train_labels=noisy, true_labels=true,
                noisy_mask=noisy_mask, holdout_indices=holdout, holdout_labels=holdout_labels,
                val_source=val_source, val_indices=val, val_labels=val_labels, test_indices=test,
                test_labels=test_labels, transition=transition_matrix(true, noisy, view_classes),
                noise_rate=noise_rate, summary=summary)


def _labels(split: str, y: np.ndarray, num_classes: int) -> np.ndarray:
    y = np.asarray(y)
    if num_classes < 2 or y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise UserError(f"{split} labels: expected a 1-D integer array over at least 2 classes, "
                        f"got shape {y.shape}, dtype {y.dtype}, {num_classes} classes; re-run the prepare rule")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise UserError(f"{split} labels: values outside 0 .. {num_classes - 1}; re-run the prepare rule")
    return y.astype(np.int64, copy=False)


def _subset(y: np.ndarray, size, key: str, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    if size is None:
        return np.arange(y.size)
    size = integer(key, size, at_least=1)
    if size > y.size:
        raise UserError(f"{key}: {size} is more than the {y.size} examples there are; use at most {y.size} or null")
    available = np.bincount(y, minlength=num_classes)
    return np.flatnonzero(take_per_class(y, balanced_counts(available, size, rng), rng))


def _holdout_counts(holdout: dict, labels: np.ndarray, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    for key in holdout:
        if key not in ("size", "per_class"):
            raise UserError(f"holdout.{key}: not a holdout key; holdout keys: size, per_class")
    size, per_class = holdout.get("size", 0), holdout.get("per_class", False)
    available = np.bincount(labels, minlength=num_classes)
    if not isinstance(per_class, bool):
        raise UserError(f"holdout.per_class: {per_class!r} is not true or false")
    if isinstance(size, float) and 0 < size < 1 and not per_class:
        return stratified_counts(available, size)
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise UserError(f"holdout.size: {size!r} is neither a count (an integer >= 0) nor a fraction in (0, 1)"
                        + (" (a fraction cannot be per class)" if per_class else ""))
    if per_class:
        if size > available.min():
            raise UserError(f"holdout.size: {size} per class, but class {int(available.argmin())} has only "
                            f"{int(available.min())} examples; use at most that")
        return np.full(num_classes, size)
    if size > labels.size:
        raise UserError(f"holdout.size: {size} is more than the {labels.size} training examples; lower it")
    return balanced_counts(available, size, rng)


def _validation(choice, holdout: np.ndarray, holdout_labels: np.ndarray, test: np.ndarray, test_labels: np.ndarray,
                num_classes: int, rng: np.random.Generator) -> tuple:
    """(val_source, val_indices, val_labels, test_indices, test_labels)."""
    empty = np.zeros(0, dtype=np.int64)
    if choice == "none":
        return "none", empty, empty, test, test_labels
    if choice == "holdout":
        if holdout.size == 0:
            raise UserError("validation: 'holdout' needs a clean holdout; set holdout.size above 0")
        return "train", holdout, holdout_labels, test, test_labels
    if isinstance(choice, str) and (match := re.fullmatch(r"test:([0-9]+)", choice)):
        n = int(match[1])
        if not 0 < n < test.size:
            raise UserError(f"validation: {choice!r} must leave some test examples; n must be in 1 .. {test.size - 1}")
        available = np.bincount(test_labels, minlength=num_classes)
        val = take_per_class(test_labels, balanced_counts(available, n, rng), rng)
        return "test", test[val], test_labels[val], test[~val], test_labels[~val]
    raise UserError(f"validation: unknown value {choice!r}; choose one of: none, holdout, test:<n> (e.g. test:2000)")


# Every module of this package may register noise or shaping kinds on import (they need NOISE and
# SHAPING, imported above): adding a kind is adding a file, with no list of modules to keep.
MODULES = import_all(__name__, __path__)

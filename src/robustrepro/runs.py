"""Run configurations: the unit of compute.

A run is a fully resolved training configuration. `resolve` fills every default so that two
spellings of the same run hash alike, and `run_id` names it by a readable slug plus a short
hash of the canonical JSON. Targets that need the same run therefore share one run directory.

Imports nothing heavy: Snakemake parses the workflow (and so this module) for every job.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re

# Every key a run may set, with its default. Nested dicts merge key by key; anything a
# component does not know is rejected when the component is built, naming the key.
DEFAULT_RUN: dict = {
    "dataset": "mnist",  # a name from robustrepro.data.DATASETS
    "train_subset": None,  # int: keep this many training examples (class-balanced), before shaping
    "test_subset": None,  # int: keep this many test examples (class-balanced)
    # The training view: subsets, clean holdout, shaping (imbalance/per-class), label noise (incl. alpha).
    # See robustrepro.noise for every kind and its keys.
    "holdout": {"size": 0, "per_class": False},  # clean examples kept out of training (validation/meta)
    "shaping": {"kind": "none"},  # which training examples the view keeps (robustrepro.noise.shaping)
    "noise": {"kind": "none"},  # the label noise of the view (robustrepro.noise.labels)
    "data_seed": 0,  # seeds the view (holdout, shaping, noise); separate from the training seed
    # Validation: "holdout" (the clean holdout above), "test:<n>" (n examples split off the test
    # set, the rest stays test), or "none".
    "validation": "none",
    "model": {"name": "lenet", "width": 1.0, "dropout": 0.0},  # the network (robustrepro.models); width scales its channels
    "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": False, "weight_decay": 0.0},  # the optimizer and its options
    "schedule": {"name": "constant"},  # the learning-rate schedule
    "epochs": 1,  # passes over the training view (or null with `iterations`)
    "iterations": None,  # int: budget the run in optimizer steps instead (then epochs is null)
    "batch_size": 128,  # examples per optimizer step
    "augment": {"crop": 0, "flip": False},  # crop: padding in pixels for random crops
    "sampler": {"name": "shuffle"},  # which examples form each batch (robustrepro.training.methods)
    "step": {"name": "weighted"},  # how a batch becomes an update
    "metrics": [],  # extra per-epoch metrics by name, e.g. ["model_norm"] (robustrepro.training.METRICS)
    "early_stopping": None,  # {"patience": n, "metric": "val_acc1"}: keep the best epoch's metrics
    "snapshots": [],  # epochs after which a copy of the model is kept (feature/gradient extraction)
    # Offline set-cover clusters for the sampler (seed 000): {"source": a run id, "space":
    # features|grad_fc|grad_softmax, "checkpoints": ["final"|"best"|epoch, ...], and "radius": r
    # or "share": clusters / points}. See robustrepro.selection.clustering.
    "clustering": None,
    "eval_every": 1,  # evaluate the test set every n epochs (and always at the last)
    # A per-step log, steps.csv: {"every": n, "metrics": ["batch"], "eval_steps": n, "eval_seconds": s}
    # (robustrepro.training.step_log); null: none.
    "step_log": None,
    # Seed 004's brute-force perfect ordering, {"keep": 12, "test_size": 2048, "loss_batch": 512}: trains
    # every order of the run's fixed batches in each epoch side by side instead of one model, and goes
    # on from the `keep` runs KMeans picks on their test losses (robustrepro.training.perfect_ordering).
    "orderings": None,
    "cascade": None,  # {"patience": n, "until": 1}: seed 004's k, k/2, ..., until sum groups (methods.cascade)
    "seed": 0,  # seeds the model's initialisation and the batch order (a run group repeats it per configured seed)
}


# The defaults of a set `orderings` section, filled in by `resolve` so that {} and the spelled-out
# defaults are one run (and {} is not taken for "off" by `identity`).
ORDERINGS_DEFAULTS = {"keep": 12, "test_size": 2048, "loss_batch": 512}
# The same for `cascade` (its patience has no default: robustrepro.training.methods.cascade).
CASCADE_DEFAULTS = {"metric": "test_acc1", "mode": None, "until": 1}


def _merge(base: dict, override: dict, path: str = "") -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        where = f"{path}{key}"
        if key not in base:
            raise KeyError(f"unknown run key '{where}'; known keys here: {', '.join(sorted(base))}")
        if isinstance(base[key], dict) and isinstance(value, dict):
            # Component dicts (model, schedule, ...) accept component-specific keys, so
            # only the top level is checked strictly; a `name`/`kind` change drops defaults
            # that belong to the old component.
            changes_component = any(k in value and value[k] != base[key].get(k) for k in ("name", "kind"))
            out[key] = copy.deepcopy(value) if changes_component else {**base[key], **value}
        else:
            out[key] = copy.deepcopy(value)
    return out


def resolve(partial: dict) -> dict:
    """The canonical, fully defaulted form of a run configuration."""
    run = _merge(DEFAULT_RUN, partial)
    if partial.get("iterations") is not None and "epochs" not in partial:
        run["epochs"] = None  # an iteration budget replaces the default epoch budget
    if run["model"].get("name") != DEFAULT_RUN["model"]["name"]:
        run["model"] = {"width": 1.0, "dropout": 0.0, **run["model"]}
    if isinstance(run["orderings"], dict):
        run["orderings"] = {**ORDERINGS_DEFAULTS, **run["orderings"]}
    if isinstance(run["cascade"], dict):
        run["cascade"] = {**CASCADE_DEFAULTS, **run["cascade"]}
    return run


def canonical_json(run: dict) -> str:
    return json.dumps(run, sort_keys=True, separators=(",", ":"))


def config_hash(obj: dict, length: int = 10) -> str:
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:length]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", str(text).lower()).strip("-")


def identity(run: dict) -> dict:
    """What a run's id hashes: the resolved run without the keys left empty (None, [], {}).

    An empty value means "this feature is off", so adding a new optional key to DEFAULT_RUN
    keeps every existing run id, and with it every finished result; changing a real default
    (epochs, a learning rate) still changes the ids of the runs that rely on it.
    """
    return {k: v for k, v in resolve(run).items() if v not in (None, [], {})}


def run_id(run: dict) -> str:
    """Readable slug plus a hash of the run's identity, e.g. `mnist-lenet-none-s0-3fa1c2d9e0`."""
    run = resolve(run)
    noise = run["noise"]
    noise_part = noise["kind"] if noise["kind"] == "none" else f"{noise['kind']}{noise.get('rate', noise.get('alpha', ''))}"
    parts = [run["dataset"], run["model"]["name"], noise_part, f"s{run['seed']}"]
    return "-".join(_slug(p) for p in parts) + "-" + config_hash(identity(run))


VIEW_KEYS = ("dataset", "train_subset", "test_subset", "holdout", "shaping", "noise", "validation", "data_seed")


def view_spec(run: dict) -> dict:
    """The part of a run that defines its training data view (shared by runs that differ only in training)."""
    run = resolve(run)
    return {k: run[k] for k in VIEW_KEYS}


def view_id(run: dict) -> str:
    spec = view_spec(run)
    return f"{_slug(spec['dataset'])}-{_slug(spec['noise']['kind'])}-{config_hash(spec)}"

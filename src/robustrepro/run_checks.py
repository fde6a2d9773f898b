"""The values of a resolved run that can be checked before any job runs, without torch.

The workflow checks every paper spec when it parses (robustrepro.papers.spec.Paper.validate), so
a negative learning rate or an unknown dataset stops the build in one line instead of failing
its jobs hours in. The training parts (model, optimizer, schedule, ...) check their options
again when a job builds them with torch; the view's parts (label noise, shaping) are built here
by their own registries, which need no torch. Messages use the same keys as the jobs' own.
"""

from __future__ import annotations

import re

from robustrepro.data.registry import dataset_info
from robustrepro.errors import UserError
from robustrepro.noise.labels import NOISE
from robustrepro.noise.shaping import SHAPING
from robustrepro.options import integer, number
from robustrepro.plan import dataset_sizes
from robustrepro.runs import run_id

_TEST_VALIDATION = re.compile(r"test:([0-9]+)")


def check_run(run: dict) -> None:
    """A UserError naming the first value of `run` (resolved: robustrepro.runs.resolve) that no job could train."""
    info = dataset_info(run["dataset"])
    n_train, n_test = dataset_sizes(info.name)
    epochs, iterations = run["epochs"], run["iterations"]
    if (epochs is None) == (iterations is None):
        raise UserError(f"epochs, iterations: a run is budgeted in one of them; got epochs {epochs!r} and "
                        f"iterations {iterations!r}: set the other to null")
    if iterations is None:
        integer("epochs", epochs, at_least=1)
    else:
        integer("iterations", iterations, at_least=1)
    integer("batch_size", run["batch_size"], at_least=1)
    integer("eval_every", run["eval_every"], at_least=1)
    integer("data_seed", run["data_seed"], at_least=0)
    optimizer = run["optimizer"]
    if "lr" in optimizer:
        number("optimizer.lr", optimizer["lr"], above=0)
    for key in ("momentum", "weight_decay"):
        if key in optimizer:
            number(f"optimizer.{key}", optimizer[key], at_least=0)
    for key, size in (("train_subset", n_train), ("test_subset", n_test)):
        if run[key] is not None:
            integer(key, run[key], at_least=1, at_most=size, meaning=f"examples of {info.name} to keep")
    NOISE.build(run["noise"])
    SHAPING.build(run["shaping"]).class_map(info.num_classes)


def check_evaluation(spec: dict, run: dict) -> None:
    """A UserError if an evaluation (resolved: robustrepro.evaluation.spec) asks for a split its run
    has not, or for more examples than the split holds (the job would take the whole split)."""
    size = _split_size(run, spec["split"])
    if spec["split"] == "val" and size == 0:
        raise UserError(f"evaluation key 'split': run {run_id(run)} has no 'val' split (its validation is "
                        f"{run['validation']!r}); evaluate 'test', or give the run a validation split")
    if spec["subset"] is not None and size is not None and spec["subset"] > size:
        raise UserError(f"evaluation key 'subset': {spec['subset']} is more than the {size} examples of the "
                        f"{spec['split']} split of run {run_id(run)}; use at most {size}, or null for the whole split")


def _split_size(run: dict, split: str) -> int | None:
    """At most how many examples a split of a resolved run holds (fewer where shaping drops classes);
    None where the spec alone does not say (a holdout given as a share of the training set)."""
    info = dataset_info(run["dataset"])
    n_test = dataset_sizes(info.name)[1]
    test = min(n_test, run["test_subset"] or n_test)
    taken = _TEST_VALIDATION.fullmatch(str(run["validation"]))
    if split == "test":
        return test - int(taken[1]) if taken else test
    if taken:
        return int(taken[1])
    if run["validation"] != "holdout":
        return 0
    size, per_class = run["holdout"].get("size", 0), run["holdout"].get("per_class", False)
    if isinstance(size, float):
        return None
    return size * info.num_classes if per_class else size

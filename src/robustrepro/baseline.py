"""The harness's own sanity target: a plain baseline on MNIST and on FashionMNIST.

Not a paper: it is what `make reproduce` trains until the paper targets exist, and the
smallest end-to-end check that download → prepare → view → train works at every scale.
"""

from __future__ import annotations

from robustrepro.runs import run_id
from robustrepro.scales import at_scale

BASE = {
    "model": {"name": "lenet"},
    "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4},
    "schedule": {"name": "cosine"},
    "batch_size": 128,
    "epochs": 15,
    "holdout": {"size": 5000},
    "validation": "holdout",
}

OVERRIDES = {
    "smoke": {"epochs": 5, "holdout": {"size": 200}},
    "quick": {"epochs": 3, "train_subset": 20000, "holdout": {"size": 2000}},
}

DATASETS = ("mnist", "fashion-mnist")


def runs(scale: str, seeds: list[int]) -> dict[str, dict]:
    """run id -> resolved run, for every dataset and seed."""
    out = {}
    for dataset in DATASETS:
        for seed in seeds:
            run = at_scale({**BASE, "dataset": dataset, "seed": seed}, scale, OVERRIDES)
            out[run_id(run)] = run
    return out

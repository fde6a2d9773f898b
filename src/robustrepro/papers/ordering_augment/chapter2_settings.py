"""Chapter 2's run groups as data: the brute-force perfect ordering (§2.2) and the orderers on CIFAR-10 (§2.4)."""

from __future__ import annotations

from robustrepro.papers.spec import RunGroup

CANDIDATES = "sampler.candidates"

# --- the brute-force perfect ordering (§2.2) ---------------------------------------------------
PERFECT = "perfect-ordering"
# MNIST's usual 10-way head, trained and tested on zeros and ones; plain SGD at the lr that gives the built
# run's seed (0) the seed's regime after epoch 1 (the package docstring: the measurements behind both).
PERFECT_MODEL = {"name": "tinyconv", "outputs": 10}
PERFECT_OPTIMIZER = {"name": "sgd", "lr": 0.09, "momentum": 0.0, "nesterov": False, "weight_decay": 0.0}
PERFECT_EPOCHS = 13
PERFECT_RUN = {
    "dataset": "mnist",
    "shaping": {"kind": "imbalance", "classes": [0, 1], "proportion": 0.5, "size": 48},
    "model": PERFECT_MODEL,
    "optimizer": PERFECT_OPTIMIZER,
    "batch_size": 8,
    "epochs": PERFECT_EPOCHS,
    "orderings": {"keep": 12, "test_size": 2048, "loss_batch": 512},
}
# Quick is the paper's experiment; smoke: 16 synthetic images in 4 batches (24 orderings, 3 kept).
PERFECT_SMOKE = {"shaping": {"size": 16}, "batch_size": 4, "epochs": PERFECT_EPOCHS, "model": {"width": 1.0},
                 "orderings": {"keep": 3, "test_size": 64, "loss_batch": 16}}

# --- the orderers on CIFAR-10 (§2.4) --------------------------------------------------------------
BASELINE, LOSS_ORDER, DESCENDING, LOSS_SAMPLE = "baseline", "loss-order", "loss-order-descending", "loss-sample"
DELTA_SAME, DELTA_EXTERNAL = "loss-delta-same", "loss-delta-external"
ORDERERS = (LOSS_ORDER, DELTA_SAME, DELTA_EXTERNAL)
CIFAR_EPOCHS, REPORTED_EPOCHS = 12, 10
CIFAR_RUN = {
    "dataset": "cifar10",
    "model": {"name": "preact_resnet56"},
    "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-4},
    "schedule": {"name": "step", "step_size": 30, "gamma": 0.5},
    "epochs": CIFAR_EPOCHS,
    "batch_size": 128,
    "augment": {"crop": 4, "flip": True},
}
CIFAR_QUICK = {"train_subset": 10000, "test_subset": 2000, "epochs": 10, "model": {"width": 0.5}}
CIFAR_SMOKE = {"train_subset": 256, "test_subset": 128, "epochs": 3, "batch_size": 32,
               "model": {"name": "wrn", "depth": 10, "widen": 1, "width": 0.25, "dropout": 0.0}}
CIFAR_SCALES = {"quick": CIFAR_QUICK, "smoke": CIFAR_SMOKE}
EXTERNAL_SMOKE = 32  # external batch at smoke scale (128 test images)

LOSS_ORDER_K, DELTA_K = (8, 16, 32, 64), (8, 16, 32)
SMOKE_K = (2,)  # one K per family at smoke scale: each run is a job of its own, and CI's time is short
# The candidate counts of each orderer family and the seed's label of its tables' columns.
ORDERER_K = {LOSS_ORDER: LOSS_ORDER_K, DELTA_SAME: DELTA_K, DELTA_EXTERNAL: DELTA_K}
ORDERER_LABEL = {LOSS_ORDER: "MA", DELTA_SAME: "MLD", DELTA_EXTERNAL: "MLD"}


GROUPS = (
    RunGroup(name=PERFECT, base=PERFECT_RUN, overrides={"smoke": PERFECT_SMOKE}, max_seeds=1),
    RunGroup(name=BASELINE, base={**CIFAR_RUN, "sampler": {"name": "shuffle"}}, overrides=CIFAR_SCALES),
    RunGroup(name=LOSS_ORDER, base={**CIFAR_RUN, "sampler": {"name": "loss_order", "order": "ascending"}},
             grid={CANDIDATES: list(LOSS_ORDER_K)}, grids={"smoke": {CANDIDATES: list(SMOKE_K)}},
             overrides=CIFAR_SCALES),
    RunGroup(name=DESCENDING,
             base={**CIFAR_RUN, "sampler": {"name": "loss_order", "order": "descending", "candidates": 8}},
             overrides={"quick": CIFAR_QUICK, "smoke": {**CIFAR_SMOKE, "sampler": {"candidates": SMOKE_K[0]}}}),
    RunGroup(name=LOSS_SAMPLE, base={**CIFAR_RUN, "sampler": {"name": "loss_sample", "candidates": 8}},
             grid={"sampler.weighting": ["direct", "inverse"]}, grids={"smoke": {"sampler.weighting": ["direct"]}},
             overrides={"quick": CIFAR_QUICK, "smoke": {**CIFAR_SMOKE, "sampler": {"candidates": SMOKE_K[0]}}}),
    RunGroup(name=DELTA_SAME, base={**CIFAR_RUN, "sampler": {"name": "loss_delta", "score_on": "same"}},
             grid={CANDIDATES: list(DELTA_K)}, grids={"smoke": {CANDIDATES: list(SMOKE_K)}},
             overrides=CIFAR_SCALES),
    RunGroup(name=DELTA_EXTERNAL,
             base={**CIFAR_RUN, "sampler": {"name": "loss_delta", "score_on": "external", "external_size": 512}},
             grid={CANDIDATES: list(DELTA_K)}, grids={"smoke": {CANDIDATES: list(SMOKE_K)}},
             overrides={"quick": CIFAR_QUICK,
                        "smoke": {**CIFAR_SMOKE, "sampler": {"external_size": EXTERNAL_SMOKE}}}),
)

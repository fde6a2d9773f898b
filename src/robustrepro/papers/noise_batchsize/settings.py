"""The run groups of noise-batchsize as data: the seed's Table 1 per experiment (CIFAR-10 with
ResNet-18, the FashionMNIST appendix with VGG-16-BN), each scale's Budget beside it, and the grids
(noise level x batch size, or batch size / lr configurations) of the six groups."""

from __future__ import annotations

import math
from dataclasses import dataclass

from robustrepro.papers.spec import RunGroup
from robustrepro.scales import SCALES, shrink

BATCH, LR, RATE = "batch_size", "optimizer.lr", "noise.rate"
EVERY, EVAL_STEPS = "step_log.every", "step_log.eval_steps"

# The seed's Table 1.
MAX_LR, EPOCHS, MOMENTUM, TOTAL_STEPS, VAL_FRACTION, WEIGHT_DECAY = 0.1, 64, 0.9, 5000, 0.2, 5e-4
BATCH_SIZES = (32, 64, 128, 256, 512, 1024)
NOISE_RATES = (0.0, 0.2, 0.5)
# torch 1.9.1's OneCycleLR defaults (the seed: "for other hyperparameters, we use PyTorch 1.9.1 defaults").
ONECYCLE = {"name": "onecycle", "total_steps": TOTAL_STEPS, "pct_start": 0.3, "div_factor": 25.0,
            "final_div_factor": 1e4, "anneal_strategy": "cos", "base_momentum": 0.85, "max_momentum": 0.95}
COSINE = {"name": "cosine", "total_steps": TOTAL_STEPS, "eta_min": 0.0}
CONSTANT = {"name": "constant"}
SCHEDULERS = {"onecycle": ONECYCLE, "cosine": COSINE, "constant": CONSTANT}
SCHEDULER_NAMES = {"onecycle": "one-cycle lr and momentum", "cosine": "cosine annealing", "constant": "constant lr"}
STEP_METRICS = ["batch_noise", "grad_cosine"]

# figure13/14 (module docstring): (batch size, lr); B/lr 1,280 for the first three.
RATIO_CONFIGS = ((64, 0.05), (128, 0.1), (256, 0.2), (64, 0.1), (128, 0.2), (128, 0.05), (256, 0.1))
# Smoke: two configurations of the main grid (lr 0.1) and one more, so that a ratio (320) and a batch
# size (128) each have two configurations and the ratio claims have something to compare.
SMOKE_RATIO_CONFIGS = ((32, 0.1), (128, 0.1), (128, 0.4))

CIFAR, FMNIST = "cifar", "fmnist"

# Each experiment at paper scale, every setting written out (the grids set noise.rate, batch_size, the
# step log's cadence and, in the ratio groups, the lr; each group adds its scheduler).
BASE = {
    CIFAR: {
        "dataset": "cifar10",
        "model": {"name": "resnet18"},  # the CIFAR ResNet-18 of the seed's Figure 2, full width
        "holdout": {"size": VAL_FRACTION},  # 20 % of the training set, held out before the noise: clean labels
        "validation": "holdout",
        "noise": {"kind": "uniform_incl", "rate": 0.0},  # a uniform label over all classes: may keep its own
        "optimizer": {"name": "sgd", "lr": MAX_LR, "momentum": MOMENTUM, "weight_decay": WEIGHT_DECAY},
        "epochs": EPOCHS,
        "batch_size": 128,
        # per-batch rows (noisy-example accuracy, gradient cosine) every `every` steps, and an evaluation
        # every `eval_steps` (the grids set both per batch size: Budget.rows rows and one evaluation an epoch)
        "step_log": {"every": 1, "metrics": STEP_METRICS, "eval_steps": 1},
    },
    FMNIST: {  # the appendix: the same Table 1 settings, VGG-16-BN (CIFAR-style) on FashionMNIST
        "dataset": "fashion-mnist",
        "model": {"name": "vgg16_bn"},
        "holdout": {"size": VAL_FRACTION},
        "validation": "holdout",
        "noise": {"kind": "uniform_incl", "rate": 0.0},
        "optimizer": {"name": "sgd", "lr": MAX_LR, "momentum": MOMENTUM, "weight_decay": WEIGHT_DECAY},
        "epochs": EPOCHS,
        "batch_size": 128,
        "step_log": {"every": 1, "metrics": STEP_METRICS, "eval_steps": 1},
    },
}
EXPERIMENTS = {e: {"dataset": base["dataset"], "model": base["model"]["name"]} for e, base in BASE.items()}
TRAIN_SIZE = {"cifar10": 50000, "fashion-mnist": 60000}


@dataclass(frozen=True)
class Budget:
    """What one experiment trains at one scale."""

    subset: int | None  # training images kept (class-balanced), before the 20 % validation holdout
    test_subset: int | None
    epochs: int
    width: float
    batches: tuple[int, ...]
    rates: tuple[float, ...]
    rows: int  # per-batch rows of steps.csv per epoch
    ratio_configs: tuple[tuple[int, float], ...] = RATIO_CONFIGS


# Smoke: 500 synthetic images (400 train, 100 validate), 100 test, 2 epochs; noise 0 and 50 %, two
# batch sizes and three ratio configurations, so that every claim has numbers to check: 20 runs.
SMOKE = Budget(500, 100, 2, 0.0625, (32, 128), (0.0, 0.5), 4, SMOKE_RATIO_CONFIGS)
BUDGETS = {
    CIFAR: {"paper": Budget(None, None, EPOCHS, 1.0, BATCH_SIZES, NOISE_RATES, 4),
            # Planned for one GPU (docs/papers/noise-batchsize.md: run counts and the estimate): 10,240 training images (a multiple of
            # every batch size).
            "quick": Budget(12800, 5000, EPOCHS, 0.5, (32, 128, 512), NOISE_RATES, 4),
            "smoke": SMOKE},
    FMNIST: {"paper": Budget(None, None, EPOCHS, 1.0, BATCH_SIZES, NOISE_RATES, 4),
             # Runs on a 2-core CPU, 1,024 training images (a multiple of every batch size, so that the epochs
             # keep the paper's share of the schedule at batch 512 too). Measured at 2,000 training and 1,500
             # evaluated images an epoch: VGG-16-BN at width 1/16 took 2.4-3.4 s an epoch on one thread when
             # the machine was least loaded and 10-11 s on average while another test suite loaded it 2.5-3x
             # (runs of 620 and 710 s at batch 512 and 32). 1,024 training and 756 evaluated images make it
             # about 1.7 s an epoch, 2 minutes a run, and 18 runs (2 seeds) under 20 minutes on two idle cores.
             "quick": Budget(1280, 500, EPOCHS, 0.0625, (32, 128, 512), NOISE_RATES, 2),
             "smoke": SMOKE},
}


def n_train(experiment: str, scale: str) -> int:
    """Training images after the subset and the 20 % validation holdout (noise.stratified_counts)."""
    budget = BUDGETS[experiment][scale]
    total = budget.subset if budget.subset is not None else TRAIN_SIZE[EXPERIMENTS[experiment]["dataset"]]
    return total - round(VAL_FRACTION * total)


def steps_per_epoch(experiment: str, scale: str, batch: int) -> int:
    return math.ceil(n_train(experiment, scale) / batch)


def total_steps(experiment: str, scale: str) -> int:
    """The 5,000 scheduling steps at the same share of every run as at paper scale: scaled by the
    training images x epochs (at quick scale, which keeps the 64 epochs, by the images alone, so the
    schedule ends in the same epoch as at paper scale at every batch size)."""
    here, paper = BUDGETS[experiment][scale], BUDGETS[experiment]["paper"]
    share = n_train(experiment, scale) * here.epochs / (n_train(experiment, "paper") * paper.epochs)
    return shrink(TOTAL_STEPS, share, minimum=2)


def changes(experiment: str, scale: str, scheduler: str) -> dict:
    """What a scale below paper changes in a run of the experiment: its Budget's subsets, epochs and
    model width, and a scheduler's total_steps scaled with the run."""
    budget = BUDGETS[experiment][scale]
    out = {"train_subset": budget.subset, "test_subset": budget.test_subset, "epochs": budget.epochs,
           "model": {"width": budget.width}}
    if scheduler != "constant":
        out["schedule"] = {"total_steps": total_steps(experiment, scale)}
    return out


def log_axis(experiment: str, scale: str, batch: int) -> tuple[int, int]:
    """(every, eval_steps) of a batch size: at most `rows` per-batch rows and one evaluation (at its end)
    per epoch."""
    steps = steps_per_epoch(experiment, scale, batch)
    return math.ceil(steps / BUDGETS[experiment][scale].rows), steps


def batch_axis(experiment: str, scale: str) -> dict:
    """The batch sizes of the scale, each with its step log's cadence."""
    return {(BATCH, EVERY, EVAL_STEPS): [(b, *log_axis(experiment, scale, b))
                                        for b in BUDGETS[experiment][scale].batches]}


def ratio_axis(experiment: str, scale: str) -> dict:
    """The (batch size, lr) configurations of the scale, each with its step log's cadence."""
    return {(BATCH, LR, EVERY, EVAL_STEPS): [(b, lr, *log_axis(experiment, scale, b))
                                            for b, lr in BUDGETS[experiment][scale].ratio_configs]}


def group(name: str, experiment: str, scheduler: str, axis) -> RunGroup:
    """The experiment's base with one scheduler, over the noise levels and `axis` of each scale."""
    grids = {scale: {RATE: list(BUDGETS[experiment][scale].rates), **axis(experiment, scale)} for scale in SCALES}
    return RunGroup(name=name, base={**BASE[experiment], "schedule": SCHEDULERS[scheduler]}, grid=grids["paper"],
                    overrides={scale: changes(experiment, scale, scheduler) for scale in SCALES if scale != "paper"},
                    grids=grids)


MAIN = {s: f"c10-{s}" for s in SCHEDULERS}  # scheduler -> the CIFAR batch-size x noise group
RATIO = {s: f"c10-ratio-{s}" for s in ("onecycle", "constant")}
APPENDIX = "fm-onecycle"
GROUPS = (
    *(group(MAIN[s], CIFAR, s, batch_axis) for s in SCHEDULERS),
    *(group(RATIO[s], CIFAR, s, ratio_axis) for s in RATIO),
    group(APPENDIX, FMNIST, "onecycle", batch_axis),
)
GROUP_EXPERIMENT = {**{g: CIFAR for g in (*MAIN.values(), *RATIO.values())}, APPENDIX: FMNIST}

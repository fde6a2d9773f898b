"""The runs of robust-clustering: one base dict per experiment (6.1 faster training, 6.2 robust
training), its per-scale changes beside it, and the run groups built on them.

Smaller scales keep every ratio of the schedule (milestones, warm-up, decay epoch, snapshots) and of
the clustering (shares), on fewer examples and epochs: the paper's epoch e of 200 is
`epochs(e, scale)`, scales.shrink in proportion to EPOCHS[scale].
"""

from __future__ import annotations

from robustrepro.papers.spec import RunGroup
from robustrepro.runs import run_id
from robustrepro.scales import shrink

CIFAR, FMNIST = "cifar10", "fashion-mnist"
POINTS = {CIFAR: 50000, FMNIST: 60000}
SHARE, SPACE, CKPT, RATIO, RADIUS, NOISE = ("clustering.share", "clustering.space", "clustering.checkpoints",
                                             "sampler.ratio", "sampler.radius", "noise.rate")

# The paper's radius -> number of clusters (Tables 1 and 6); each set cover asks for that count as a share.
CIFAR_CLUSTERS = {0: 50000, 1.2: 49500, 1.3: 49043, 1.5: 46078, 1.6: 43105, 1.7: 38964, 1.8: 34099, 2.0: 23346}
FMNIST_CLUSTERS = {0: 60000, 0.2: 59607, 0.4: 50020, 0.5: 37267, 0.6: 24203, 1.0: 4276, 1.5: 797}
# Tables 2 and 3, gradient rows: label -> (space, checkpoints, paper's clusters); their accuracies: reported.GRAD_ROWS.
GRADIENTS = {
    "Grad@FC": ("grad_fc", "final", 42053),
    "FC@stable": ("grad_fc", "stable", 47794),
    "FC@all": ("grad_fc", "all", 48960),
    "SM@stable": ("grad_softmax", "stable", 43334),
    "SM@stable (39.7K)": ("grad_softmax", "stable", 39715),
    "SM@all": ("grad_softmax", "all", 42939),
}
FL_RATIOS = [0.2, 0.4, 0.6, 0.8, 1.0]
ROBUST_RATIO = 0.4  # Figure 5: "FL ratio = 0.4 works best"
ROBUST_RADII = [0.2, 0.35, 0.5, 0.65]  # unit-feature space; see the package docstring
ROBUST_RADIUS = 0.5


def share(clusters: int, dataset: str) -> float:
    return round(clusters / POINTS[dataset], 4)


# ---- the schedule at each scale: the paper's 200 epochs, shrunk in proportion ----

EPOCHS = {"paper": 200, "quick": 20, "smoke": 4}


def epochs(paper_epochs, scale: str):
    """The paper's epoch (or list of epochs) of 200 at this scale."""
    return shrink(paper_epochs, EPOCHS[scale] / EPOCHS["paper"])


def every_tenth(start: int, scale: str) -> list[int]:
    """Every 10th epoch of the paper's 200 from `start`, at this scale."""
    return epochs(list(range(start, 201, 10)), scale)


def checkpoints(kind: str, scale: str) -> tuple:
    """Table 3's snapshots: "stable" every 10th epoch from 100, "all" from 10, or the final model."""
    return {"final": ("final",), "stable": tuple(every_tenth(100, scale)), "all": tuple(every_tenth(10, scale))}[kind]


# ---- the two experiments ----

AUGMENT = {"crop": 4, "flip": True}  # 6.2 (He et al.), and "the same scheme" for FashionMNIST (6.3)

# Data and model below the paper scale (epochs and milestones: `overrides`). Quick FashionMNIST runs on a
# 2-core CPU in under half an hour: LeNet (no batch norm) takes a 10x smaller lr than the paper's ResNets
# (0.01 at batch 32, scaled with the batch) and no augmentation, which it cannot fit within 20 epochs.
SMOKE = {"train_subset": 600, "test_subset": 200, "model": {"name": "lenet", "width": 0.5}}
QUICK_CIFAR = {"train_subset": 10000, "test_subset": 2000, "model": {"width": 0.5}}
QUICK_FMNIST = {"train_subset": 8000, "test_subset": 2000, "model": {"name": "lenet"},
                "augment": {"crop": 0, "flip": False}}

# 6.1: ResNet-18, batch 32, SGD lr 0.1 times 0.3 at epochs 60, 90, 120 and 160 of 200 (momentum, weight
# decay and augmentation borrowed from 6.2: see the package docstring).
FAST = {
    "model": {"name": "resnet18"},
    "batch_size": 32,
    "epochs": 200,
    "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 2e-4},
    "schedule": {"name": "multistep", "milestones": [60, 90, 120, 160], "gamma": 0.3},
    "augment": AUGMENT,
    "eval_every": 1,
}
# Below the paper scale, per dataset (the epochs and milestones shrink in `overrides`).
FAST_SIZES = {CIFAR: {"quick": QUICK_CIFAR, "smoke": SMOKE},
              FMNIST: {"quick": {**QUICK_FMNIST, "optimizer": {"lr": 0.01}}, "smoke": SMOKE}}

# 6.2: ResNet-32 on labels 40 % (or 20 %) flipped, batch 128, lr 0.1 decayed to 0.01 and 0.001 at 120 and 160.
ROBUST = {
    "model": {"name": "resnet32"},
    "batch_size": 128,
    "epochs": 200,
    "noise": {"kind": "uniform", "rate": 0.4},
    "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 2e-4},
    "schedule": {"name": "multistep", "milestones": [120, 160], "gamma": 0.1},
    "augment": AUGMENT,
    "eval_every": 1,
}
ROBUST_SIZES = {CIFAR: {"quick": QUICK_CIFAR, "smoke": SMOKE},
                FMNIST: {"quick": {**QUICK_FMNIST, "optimizer": {"lr": 0.04}}, "smoke": SMOKE}}


def overrides(base: dict, sizes: dict, extra=None) -> dict:
    """A group's per-scale changes to `base`: sizes[scale], the epochs and lr milestones shrunk, and
    extra(scale), the group's own epochs shrunk alike (warm-ups, snapshots) or its clustering source."""
    return {scale: {**sizes[scale], "epochs": EPOCHS[scale],
                    "schedule": {"milestones": epochs(base["schedule"]["milestones"], scale)},
                    **(extra(scale) if extra else {})}
            for scale in ("quick", "smoke")}


# ---- 6.1 and 6.3: faster training ----

def _pretrain(prefix: str, dataset: str) -> RunGroup:
    """The full-data run: Table 2's "No clustering", Figure 2's full data, and the source of every
    clustering (its snapshots every 10th epoch give the gradients of Table 3)."""
    return RunGroup(name=f"{prefix}-pretrain", base={"dataset": dataset, **FAST, "snapshots": every_tenth(10, "paper")},
                    overrides=overrides(FAST, FAST_SIZES[dataset], lambda scale: {"snapshots": every_tenth(10, scale)}))


def _source(pretrain: RunGroup, scale: str) -> str:
    """The id of the seed-0 pretrained run at this scale: every seed clusters on its vectors."""
    return run_id(pretrain.points(scale, [0])[0][1])


def _setcover(name: str, dataset: str, pretrain: RunGroup, grid: dict, grids: dict, clustering: dict) -> RunGroup:
    """Set-cover runs: one random member per cluster each epoch, weighted by cluster size (5.3)."""
    base = {"dataset": dataset, **FAST, "sampler": {"name": "clusters", "weighting": "size"},
            "clustering": {"source": _source(pretrain, "paper"), **clustering}}
    return RunGroup(name=name, base=base, grid=grid, grids=grids,
                    overrides=overrides(FAST, FAST_SIZES[dataset],
                                        lambda scale: {"clustering": {"source": _source(pretrain, scale)}}))


def _grad_rows(scale: str) -> list[tuple]:
    """Table 2's Grad@FC and Table 3's gradient rows: (space, checkpoints, share of the paper's clusters)."""
    return [(space, checkpoints(kind, scale), share(n, CIFAR)) for space, kind, n in GRADIENTS.values()]


def _warmup(paper_epochs: int):
    """Per-scale changes of a sampler that starts after `paper_epochs` of the paper's 200."""
    return lambda scale: {"sampler": {"warmup_epochs": epochs(paper_epochs, scale)}}


def _facility(name: str, dataset: str, ratios: dict) -> RunGroup:
    """6.1.2: 5 full-data epochs, then facility location re-selected every epoch, cluster-size weights."""
    base = {"dataset": dataset, **FAST, "sampler": {"name": "facility_location", "ratio": 0.4, "warmup_epochs": 5},
            "metrics": ["data_covered"]}
    return RunGroup(name=name, base=base, grid={RATIO: FL_RATIOS}, grids=ratios,
                    overrides=overrides(FAST, FAST_SIZES[dataset], _warmup(5)))


# ---- 6.2 and 6.3: robust training ----

SCHEMES = {
    "full": ("Full", {"name": "shuffle"}),
    "fl": ("FL only", {"name": "facility_location", "ratio": ROBUST_RATIO, "reselect": False, "weights": "equal"}),
    "weighted": ("Weighted only", {"name": "ball_weighted", "radius": ROBUST_RADIUS, "space": "features"}),
    "flw": ("FL Weighted", {"name": "facility_location", "ratio": ROBUST_RATIO, "reselect": False, "weights": "ball",
                            "radius": ROBUST_RADIUS, "space": "features"}),
}


def _robust(prefix: str, dataset: str, scheme: str, grid: dict, grids: dict | None = None) -> RunGroup:
    """6.2: selection and weights start at the first lr decay (epoch 120 of 200); named {prefix}-{scheme}."""
    sampler = SCHEMES[scheme][1] if scheme == "full" else {**SCHEMES[scheme][1], "warmup_epochs": 120}
    return RunGroup(name=f"{prefix}-{scheme}", base={"dataset": dataset, **ROBUST, "sampler": sampler},
                    grid=grid, grids=grids or {},
                    overrides=overrides(ROBUST, ROBUST_SIZES[dataset], None if scheme == "full" else _warmup(120)))


NOISES = {NOISE: [0.2, 0.4]}
SMOKE_NOISE = {"smoke": {NOISE: [0.4]}}

C10_PRETRAIN = _pretrain("c10", CIFAR)
FM_PRETRAIN = _pretrain("fm", FMNIST)
GROUPS = (
    C10_PRETRAIN,
    _setcover("c10-setcover", CIFAR, C10_PRETRAIN, {SHARE: [share(n, CIFAR) for n in CIFAR_CLUSTERS.values()]},
              {"smoke": {SHARE: [share(CIFAR_CLUSTERS[r], CIFAR) for r in (0, 1.6, 2.0)]}},
              {"space": "features", "checkpoints": ["final"]}),
    _setcover("c10-setcover-grad", CIFAR, C10_PRETRAIN, {(SPACE, CKPT, SHARE): _grad_rows("paper")},
              {s: {(SPACE, CKPT, SHARE): _grad_rows(s)} for s in ("quick", "smoke")},
              {"space": "grad_fc", "checkpoints": ["final"]}),
    _facility("c10-facility", CIFAR, {"smoke": {RATIO: [0.4, 1.0]}}),
    # Figure 2's random 40 %, with the same full-data warm-up as the facility-location run it is drawn against.
    RunGroup(name="c10-random",
             base={"dataset": CIFAR, **FAST, "sampler": {"name": "fixed_subset", "fraction": 0.4, "warmup_epochs": 5}},
             overrides=overrides(FAST, FAST_SIZES[CIFAR], _warmup(5))),
    *(_robust("c10", CIFAR, scheme, NOISES, SMOKE_NOISE) for scheme in SCHEMES),
    _robust("c10-radius", CIFAR, "flw", {RADIUS: ROBUST_RADII}, {"smoke": {RADIUS: [0.35, 0.65]}}),
    _robust("c10-ratio", CIFAR, "flw", {RATIO: [0.2, 0.4, 0.6, 0.8]}, {"smoke": {RATIO: [0.2, 0.8]}}),
    FM_PRETRAIN,
    _setcover("fm-setcover", FMNIST, FM_PRETRAIN, {SHARE: [share(n, FMNIST) for n in FMNIST_CLUSTERS.values()]},
              {"smoke": {SHARE: [share(FMNIST_CLUSTERS[r], FMNIST) for r in (0, 0.5, 1.0)]}},
              {"space": "features", "checkpoints": ["final"]}),
    _facility("fm-facility", FMNIST, {"smoke": {RATIO: [0.4, 1.0]}}),
    *(_robust("fm", FMNIST, scheme, NOISES, SMOKE_NOISE) for scheme in ("full", "flw")),
)
# _robust names its groups {prefix}-{scheme}: c10-full, ..., c10-radius-flw, c10-ratio-flw, fm-full, fm-flw.

"""Contract tests: every registered part of every kind, run on a tiny input and held to its kind's contract.

The cases come from the registries themselves, and EXAMPLES gives each registered name a small
config. A part registered without an example fails test_every_registered_part_has_an_example
(and its own contract case), so nothing new goes untested; a registry that no kind here covers
fails test_every_registry_is_a_kind_here.

Adding a kind: its registry in KINDS, an example per name in EXAMPLES, a check in CHECKS.
A check gets (name, options, toy) and tests what every part of the kind must do, through the
public entry points (the registry's build, build_model, Trainer.fit_epoch, make_view).
"""

from __future__ import annotations

import copy
import importlib
import math
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import robustrepro
from robustrepro.errors import UserError
from robustrepro.evaluation.attacks import ATTACKS
from robustrepro.evaluation.defences import DEFENCES
from robustrepro.models import MODELS, build_model
from robustrepro.noise import NOISE, SHAPING, make_view
from robustrepro.runs import resolve, view_spec
from robustrepro.selection.setcover import SetCover, save_set_cover
from robustrepro.training import METRICS, OPTIMIZERS, SAMPLERS, SCHEDULES, STEPS, Plan, StepResult, Trainer
from robustrepro.training.step_log import STEP_METRICS
from robustrepro.training.trainer import TEST_COLUMNS, VAL_COLUMNS

from toydata import CLASSES, toy_data

CPU = torch.device("cpu")

KINDS = {
    "sampler": SAMPLERS,
    "step": STEPS,
    "schedule": SCHEDULES,
    "optimizer": OPTIMIZERS,
    "metric": METRICS,
    "model": MODELS,
    "noise": NOISE,
    "shaping": SHAPING,
    "attack": ATTACKS,
    "defence": DEFENCES,
    "step_metric": STEP_METRICS,
}

EPS = 8 / 255
EXAMPLES: dict[str, dict[str, dict]] = {
    "sampler": {
        "shuffle": {},
        "sequential": {},
        "fixed_subset": {"fraction": 0.5, "warmup_epochs": 1},
        "clusters": {"weighting": "confidence"},  # the set cover of the `toy` fixture
        "facility_location": {"ratio": 0.3, "warmup_epochs": 1, "weights": "ball", "radius": 0.5},
        "ball_weighted": {"warmup_epochs": 1, "radius": 0.5},
        "loss_order": {"candidates": 3, "order": "descending"},
        "loss_sample": {"candidates": 2, "weighting": "inverse"},
        "loss_delta": {"candidates": 2, "score_on": "external", "external_size": 16},
    },
    "step": {"weighted": {}, "reweight": {"clean_batch": 8}, "reweight_gated": {"clean_batch": 8},
             "sum_augment": {"k": 4}, "gradual_sum": {"k": 4, "epochs": 1}, "mixup": {"alpha": 0.4},
             "sample_pairing": {"until_epoch": 1}},
    "schedule": {
        "constant": {},
        "step": {"step_size": 1, "gamma": 0.5},
        "multistep": {"milestones": [1, 3], "gamma": 0.5},
        "cosine": {"warmup_epochs": 1, "eta_min": 0.001},
        "onecycle": {"max_lr": 0.2, "pct_start": 0.25},
        "plateau": {"metric": "val_loss", "patience": 0, "factor": 0.5},
    },
    "optimizer": {
        "sgd": {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4},
        "adadelta": {"lr": 0.5},
        "adam": {"lr": 0.01, "betas": [0.8, 0.99]},
    },
    "metric": {"train": {}, "data_covered": {}, "model_norm": {}},
    "model": {
        **{name: {"width": 0.125} for name in ("resnet20", "resnet32", "resnet56", "resnet18", "vgg16_bn",
                                               "wrn28_10", "wrn40_4", "lenet", "mlp1", "mlp2", "mlp4", "conv4")},
        "preact_resnet56": {"width": 0.125, "dropout": 0.1},
        "wrn": {"width": 0.25, "dropout": 0.1, "depth": 10, "widen": 2},
        "perceptron": {},
        "tinyconv": {"width": 2.0},
    },
    "noise": {
        "none": {},
        "uniform": {"rate": 0.4},
        "uniform_incl": {"rate": 0.5},
        "background": {"rate": 0.3, "background_class": 2},
        "pair": {"rate": 0.3},
        "alpha": {"alpha": 2},
    },
    "shaping": {
        "none": {},
        "per_class": {"n": 10},
        "imbalance": {"classes": [2, 7, 5], "proportion": 0.6, "size": 40, "dominant": 7},
    },
    "attack": {
        "fgsm": {"eps": EPS},
        "bim": {"eps": EPS, "step_size": 2 / 255, "iterations": 3},
        "mifgsm": {"eps": EPS, "step_size": 2 / 255, "iterations": 3},
        "pgd": {"eps": EPS, "step_size": 2 / 255, "iterations": 3},
    },
    "defence": {"sum_augment": {"k": 2, "samples": 3}, "random_crop_flip": {"padding": 2, "samples": 3}},
    "step_metric": {"batch": {}, "batch_noise": {}, "example_weights": {}, "grad_cosine": {}},
}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tensors this small gain nothing from threads; on a busy 2-core machine they lose."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A 100-example, 10-class toy problem with a clean validation split, and a set cover of its training view."""
    prepared, view = toy_data(n_train=120, n_test=40, n_val=20)
    n = len(view.train_indices)
    assignment = np.arange(n) % 25
    cover = tmp_path_factory.mktemp("contracts") / "cover.npz"
    save_set_cover(cover, SetCover(np.arange(25), assignment, np.bincount(assignment),
                                   np.random.default_rng(0).integers(1, 9, n), 1.0))
    return SimpleNamespace(prepared=prepared, view=view, n=n, cover=cover)


# --- which parts there are ---------------------------------------------------------------------

CASES = [pytest.param(kind, name, id=f"{kind}-{name}") for kind, registry in KINDS.items() for name in registry]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_registered_part_has_an_example(kind):
    registered, examples = set(KINDS[kind]), set(EXAMPLES.get(kind, {}))
    assert not registered - examples, f"{kind}: no example config in EXAMPLES for {sorted(registered - examples)}"
    assert not examples - registered, f"{kind}: EXAMPLES has configs for unregistered {sorted(examples - registered)}"


def test_every_registry_is_a_kind_here():
    """Each `NAME = Registry(...)` in the package is one of KINDS, so a new kind of part cannot skip these tests."""
    src = Path(robustrepro.__file__).parent
    uncovered = []
    for path in sorted(src.rglob("*.py")):
        module = ".".join(path.relative_to(src.parent).with_suffix("").parts).removesuffix(".__init__")
        for attribute in re.findall(r"^(\w+)\s*=\s*Registry\(", path.read_text(), flags=re.M):
            registry = getattr(importlib.import_module(module), attribute)
            if not any(registry is covered for covered in KINDS.values()):
                uncovered.append(f"{module}.{attribute}")
    assert not uncovered, f"registries with no contract kind in tests/test_contracts.py: {uncovered}"


@pytest.mark.parametrize("kind,name", CASES)
def test_contract(kind, name, toy):
    if name not in EXAMPLES.get(kind, {}):
        pytest.fail(f"{kind} {name!r} has no example config in EXAMPLES; add one")
    options = EXAMPLES[kind][name]
    registry = KINDS[kind]
    # Options are checked against the builder's signature before it is called, so no arguments are needed.
    with pytest.raises(UserError, match=rf"^{re.escape(registry.key)}\.no_such_option: "):
        registry.build({registry.field: name, **options, "no_such_option": 1})
    CHECKS[kind](name, options, toy)


# --- training parts ------------------------------------------------------------------------------

BASE_RUN = {"model": {"name": "mlp1", "width": 0.125}, "epochs": 2, "batch_size": 16,
            "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9}}
TRAINER_COLUMNS = {"epoch", "lr", "time_s", *TEST_COLUMNS, *VAL_COLUMNS}


def trainer_for(toy, kind: str, name: str, options: dict) -> Trainer:
    """A Trainer of BASE_RUN with this one part swapped in."""
    section = {"name": name, **options}
    change = {"metrics": [name] if not options else [section]} if kind == "metric" else {kind: section}
    run = resolve({**BASE_RUN, **change})
    return Trainer(run, toy.prepared, toy.view, CPU, clustering=str(toy.cover))


def train(trainer: Trainer) -> list[dict]:
    while not trainer.finished:
        trainer.fit_epoch(progress=False)
    return trainer.history


def assert_same_training(kind: str, name: str, options: dict, toy, first: Trainer | None = None) -> Trainer:
    """Two trainings with the part and the same seed give the same numbers and weights (CPU); returns one."""
    a = first or trainer_for(toy, kind, name, options)
    b = trainer_for(toy, kind, name, options)
    rows_a, rows_b = train(a), train(b)
    assert len(rows_a) == 2 and all(math.isfinite(row["train_loss"]) for row in rows_a)
    assert [{k: v for k, v in r.items() if k != "time_s"} for r in rows_a] == \
           [{k: v for k, v in r.items() if k != "time_s"} for r in rows_b]
    for (key, pa), pb in zip(a.ctx.model.state_dict().items(), b.ctx.model.state_dict().values()):
        assert torch.equal(pa, pb), key
    return a


def check_sampler(name, options, toy):
    trainer = trainer_for(toy, "sampler", name, options)
    epochs = []  # (batches the sampler planned for the epoch, batches it gave)
    own_batches = trainer.sampler.batches

    def recorded(ctx):
        planned, given = trainer.sampler.steps_per_epoch(), []
        epochs.append((planned, given))
        for batch in own_batches(ctx):
            given.append(batch)
            yield batch

    trainer.sampler.batches = recorded
    assert_same_training("sampler", name, options, toy, first=trainer)
    assert len(epochs) == 2
    for planned, given in epochs:
        assert len(given) == planned >= 1
        for batch in given:
            idx = batch.indices
            assert idx.dtype == torch.int64 and idx.dim() == 1 and 1 <= len(idx) <= BASE_RUN["batch_size"]
            assert int(idx.min()) >= 0 and int(idx.max()) < toy.n  # positions in the training view
            if batch.weights is not None:
                w = batch.weights
                assert w.is_floating_point() and w.shape == idx.shape
                assert torch.isfinite(w).all() and (w >= 0).all()
    assert isinstance(trainer.sampler.summary(), dict)


def check_step(name, options, toy):
    trainer = trainer_for(toy, "step", name, options)
    ctx = trainer.ctx
    ctx.epoch = 1  # the parts' generators are per epoch
    batch = next(iter(trainer.sampler.batches(ctx)))
    x, y = ctx.data.inputs("train", batch.indices), ctx.data.labels("train", batch.indices)
    before = {k: v.clone() for k, v in ctx.model.state_dict().items()}
    result = trainer.step(ctx, batch, x, y)
    assert isinstance(result, StepResult)
    # One row per example trained on: a step that mixes examples (sum augmentation) trains on fewer.
    size = len(result.indices)
    assert 1 <= size <= len(batch.indices)
    assert result.losses.shape == (size,) and result.losses.dtype == torch.float32
    assert torch.isfinite(result.losses).all() and (result.losses >= 0).all()
    assert result.logits.shape == (size, CLASSES)
    assert result.labels.shape == result.indices.shape == (size,)
    assert result.labels.dtype == result.indices.dtype == torch.int64
    assert int(result.labels.min()) >= 0 and int(result.labels.max()) < CLASSES
    assert set(result.indices.tolist()) <= set(batch.indices.tolist())
    for field, tensor in result._asdict().items():
        if tensor is None and field == "weights":  # a plain mean
            continue
        assert not tensor.requires_grad and tensor.grad_fn is None, f"StepResult.{field} is not detached"
    if result.weights is not None:
        assert result.weights.shape == (size,) and (result.weights >= 0).all()
    assert any(not torch.equal(before[k], v) for k, v in ctx.model.state_dict().items()), "the step updated nothing"
    assert_same_training("step", name, options, toy)


def check_schedule(name, options, toy):
    plan = Plan(base_lr=0.1, steps_per_epoch=5, epochs=4)

    def curve(schedule, epochs=range(1, plan.epochs + 2)):
        """(lr, momentum) at every step of the plan and one epoch past it, the epoch ends fed a flat metric."""
        values = []
        for epoch in epochs:
            for step in range((epoch - 1) * plan.steps_per_epoch, epoch * plan.steps_per_epoch):
                values.append((schedule.lr(step), schedule.momentum(step)))
            schedule.end_epoch(epoch, {} if schedule.tracker is None else {schedule.tracker.metric: 1.0})
        return values

    schedule = SCHEDULES.build({"name": name, **options}, plan)
    for lr, momentum in curve(schedule):
        assert math.isfinite(lr) and lr > 0
        assert momentum is None or (math.isfinite(momentum) and 0 <= momentum <= 1)
    # Restored from its state after two epochs, a schedule goes on as the original does.
    original = SCHEDULES.build({"name": name, **options}, plan)
    curve(original, range(1, 3))
    restored = SCHEDULES.build({"name": name, **options}, plan)
    restored.load_state_dict(original.state_dict())
    assert curve(restored, range(3, 6)) == curve(original, range(3, 6))
    assert_same_training("schedule", name, options, toy)


def check_optimizer(name, options, toy):
    def one_step(opt, p):
        opt.zero_grad()
        (p - 1).pow(2).sum().backward()
        opt.step()

    p = nn.Parameter(torch.arange(4.0))
    optimizer = OPTIMIZERS.build({"name": name, **options}, [p])
    assert isinstance(optimizer, torch.optim.Optimizer)
    lr = optimizer.defaults["lr"]  # schedules are planned on it
    assert math.isfinite(lr) and lr > 0
    start = p.detach().clone()
    one_step(optimizer, p)
    assert torch.isfinite(p).all() and not torch.equal(p.detach(), start)
    # Its state carries over to a fresh optimizer: the next step is the same.
    q = nn.Parameter(p.detach().clone())
    fresh = OPTIMIZERS.build({"name": name, **options}, [q])
    fresh.load_state_dict(copy.deepcopy(optimizer.state_dict()))  # as from a checkpoint: no shared tensors
    one_step(optimizer, p)
    one_step(fresh, q)
    assert torch.equal(p.detach(), q.detach())
    assert_same_training("optimizer", name, options, toy)


def check_metric(name, options, toy):
    trainer = assert_same_training("metric", name, options, toy)
    declared = METRICS.build({"name": name, **options}, trainer.ctx).columns
    assert declared and len(set(declared)) == len(declared)
    assert not set(declared) & TRAINER_COLUMNS, "a metric column would overwrite one the trainer writes"
    (metric,) = [m for m in trainer.metrics if m.columns == declared]
    values = metric.result(trainer.ctx)
    assert set(values) == set(declared)
    assert all(isinstance(v, float) for v in values.values())
    for row in trainer.history:
        assert set(declared) <= set(row)


def check_step_metric(name, options, toy):
    trainer = trainer_for(toy, "step", "weighted", {})
    ctx = trainer.ctx
    ctx.epoch = 1
    batch = next(iter(trainer.sampler.batches(ctx)))
    metric = STEP_METRICS.build({"name": name, **options}, ctx)
    # A gradient metric measures the step it probes, as the trainer lets it (ctx.probe).
    ctx.probe = metric.probe if metric.needs_probe else None
    result = trainer.step(ctx, batch, ctx.data.inputs("train", batch.indices), ctx.data.labels("train", batch.indices))
    ctx.probe = None
    ctx.global_step += 1
    values = metric.values(ctx, batch, result)
    # Raw values on the device (as many as the metric's width), one per column once finished on the host.
    assert metric.columns and values.shape == (metric.width or len(metric.columns),) and values.device == ctx.device
    assert not values.requires_grad
    finished = metric.finish(values.float().tolist())
    assert len(finished) == len(metric.columns) and all(isinstance(v, float) for v in finished)
    assert all(math.isfinite(v) for v in finished)  # this batch has noisy and clean examples alike


# --- models --------------------------------------------------------------------------------------

MODEL_SHAPES = [(1, 28), (3, 32)]  # (channels, image size): MNIST-like and CIFAR-like inputs


def check_model(name, options, toy):
    for channels, size in MODEL_SHAPES:
        torch.manual_seed(0)
        model = build_model(name, channels, 5, size, **options).eval()
        x = torch.rand(2, channels, size, size, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            logits, features = model(x), model.embed(x)
        assert logits.shape == (2, 5) and torch.isfinite(logits).all(), (channels, size)
        assert isinstance(model.head, nn.Linear) and model.head.out_features == 5
        assert features.shape == (2, model.head.in_features)
        torch.testing.assert_close(model.head(features), logits)
        torch.manual_seed(0)
        again = build_model(name, channels, 5, size, **options)
        assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


# --- the training view -----------------------------------------------------------------------------

K = 10
TRAIN_Y = np.random.default_rng(0).permutation(np.repeat(np.arange(K), 30))
TEST_Y = np.random.default_rng(1).permutation(np.repeat(np.arange(K), 10))


def assert_view_is_consistent(v):
    assert v.num_classes >= 2
    for labels in (v.train_labels, v.true_labels, v.test_labels):
        assert labels.dtype == np.int64 and labels.min() >= 0 and labels.max() < v.num_classes
    np.testing.assert_array_equal(v.noisy_mask, v.train_labels != v.true_labels)
    assert v.noise_rate == pytest.approx(v.noisy_mask.mean())


def check_noise(name, options, toy):
    corrupt = NOISE.build({"kind": name, **options})
    positions, labels, facts = corrupt(TRAIN_Y, K, np.random.default_rng(3))
    assert positions.dtype == labels.dtype == np.int64 and positions.shape == labels.shape
    assert positions.min() >= 0 and positions.max() < TRAIN_Y.size
    assert np.isin(np.arange(TRAIN_Y.size), positions).all()  # noise relabels or copies, it never drops
    assert labels.min() >= 0 and labels.max() < K and isinstance(facts, dict)
    again = corrupt(TRAIN_Y, K, np.random.default_rng(3))
    np.testing.assert_array_equal(again[0], positions)
    np.testing.assert_array_equal(again[1], labels)
    view = make_view(TRAIN_Y, TEST_Y, K, view_spec({"noise": {"kind": name, **options}}))
    assert_view_is_consistent(view)
    np.testing.assert_array_equal(view.true_labels, TRAIN_Y[view.train_indices])


def check_shaping(name, options, toy):
    shaping = SHAPING.build({"kind": name, **options})
    table = shaping.class_map(K)
    assert table.shape == (K,) and table.dtype.kind == "i"
    kept = table[table >= 0]
    assert sorted(kept.tolist()) == list(range(kept.size)) and kept.size >= 2  # view classes 0 .. k-1, once each
    pool = TRAIN_Y[table[TRAIN_Y] >= 0]
    mask = shaping.select(table[pool], table, np.random.default_rng(0))
    assert mask.dtype == bool and mask.shape == pool.shape and mask.any()
    view = make_view(TRAIN_Y, TEST_Y, K, view_spec({"shaping": {"kind": name, **options},
                                                    "noise": {"kind": "uniform", "rate": 0.2}}))
    assert view.num_classes == kept.size
    assert_view_is_consistent(view)
    np.testing.assert_array_equal(view.true_labels, table[TRAIN_Y[view.train_indices]])
    np.testing.assert_array_equal(view.test_labels, table[TEST_Y[view.test_indices]])


# --- evaluation ------------------------------------------------------------------------------------

def tiny_classifier() -> nn.Module:
    torch.manual_seed(0)
    return build_model("lenet", 1, CLASSES, 28, width=0.25)


def check_attack(name, options, toy):
    model = tiny_classifier().train()
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    y = torch.arange(4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    attack = ATTACKS.build({"name": name, **options})
    x_adv = attack(model, x, y, generator=torch.Generator().manual_seed(2))
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype and not x_adv.requires_grad
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert (x_adv - x).abs().max() <= options["eps"] + 1e-6
    assert not torch.equal(x_adv, x)
    again = attack(model, x, y, generator=torch.Generator().manual_seed(2))
    assert torch.equal(again, x_adv)
    # The model leaves as it came: weights, mode, no gradients written.
    assert model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None and p.requires_grad for p in model.parameters())
    model.eval()
    with torch.no_grad():
        assert F.cross_entropy(model(x_adv), y) > F.cross_entropy(model(x), y)


def check_defence(name, options, toy):
    model = tiny_classifier().eval()
    pool = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    x = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(2))

    def defended():
        return DEFENCES.build({"name": name, **options}, model, pool, torch.Generator().manual_seed(3))

    with torch.no_grad():
        log_probs = defended()(x)
        assert log_probs.shape == (3, CLASSES) and torch.isfinite(log_probs).all()
        torch.testing.assert_close(log_probs.logsumexp(1), torch.zeros(3))  # log-probabilities
        assert torch.equal(defended()(x), log_probs)  # equally seeded generators, the same predictions


CHECKS = {
    "sampler": check_sampler,
    "step": check_step,
    "schedule": check_schedule,
    "optimizer": check_optimizer,
    "metric": check_metric,
    "step_metric": check_step_metric,
    "model": check_model,
    "noise": check_noise,
    "shaping": check_shaping,
    "attack": check_attack,
    "defence": check_defence,
}


def test_every_kind_has_a_check():
    assert set(CHECKS) >= set(KINDS)

"""robustrepro.packs: which runs may pack is an allow-list of run keys and the values a pack implements."""

import subprocess
import sys

import pytest

from robustrepro.packs import ALLOWED, OPTIMIZERS, packable, packs, why_not_packable
from robustrepro.runs import DEFAULT_RUN, resolve

BASE = {"model": {"name": "mlp1", "width": 0.25}, "batch_size": 32, "epochs": 2,
        "optimizer": {"name": "adadelta", "lr": 0.5}}


def test_every_key_of_a_resolved_run_is_on_the_allow_list_and_nothing_else_is():
    # A key added to DEFAULT_RUN fails here: decide whether a pack implements it, and list it in ALLOWED.
    assert set(resolve({})) == set(DEFAULT_RUN)
    assert set(ALLOWED) == set(DEFAULT_RUN), "packs.ALLOWED and runs.DEFAULT_RUN name different keys"
    assert why_not_packable({}) is None  # every default is a value the pack implements


def test_the_allowed_optimizer_options_are_the_builders_own():
    from robustrepro.training.optim import OPTIMIZERS as BUILDERS

    for name, options in OPTIMIZERS.items():
        assert set(options) <= set(BUILDERS.options(name)), name
    assert set(DEFAULT_RUN["optimizer"]) - {"name"} <= set(OPTIMIZERS[DEFAULT_RUN["optimizer"]["name"]])


def test_a_run_key_added_later_never_packs_silently(monkeypatch):
    monkeypatch.setitem(DEFAULT_RUN, "label_smoothing", 0.0)
    run = resolve(BASE)
    assert run["label_smoothing"] == 0.0
    why = why_not_packable(run)
    assert "'label_smoothing'" in why and "allow-list" in why and "add it there once the pack implements it" in why
    assert not packable([run, {**run, "seed": 1}])
    assert packs({"a": run, "b": {**run, "seed": 1}}) == {}


def test_an_unlisted_option_of_an_allowed_optimizer_does_not_pack():
    why = why_not_packable({**BASE, "optimizer": {"name": "sgd", "lr": 0.1, "maximize": True}})
    assert "optimizer.maximize of sgd" in why and "robustrepro.packs.OPTIMIZERS" in why


@pytest.mark.parametrize("change, why", [
    ({"step": {"name": "reweight"}}, "step reweight"),
    ({"step": {"name": "weighted", "k": 2}}, "step weighted with options k"),
    ({"sampler": {"name": "facility_location", "ratio": 0.5}}, "sampler facility_location"),
    ({"sampler": {"name": "shuffle", "drop_last": True}}, "sampler shuffle with options drop_last"),
    ({"optimizer": {"name": "adam", "lr": 0.1}}, "optimizer adam (packs implement sgd, adadelta)"),
    ({"optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "dampening": 0.1}}, "SGD dampening"),
    ({"iterations": 10}, "an iteration budget"),
    ({"metrics": ["model_norm"]}, "extra epoch metrics"),
    ({"step_log": {"every": 1, "metrics": ["batch"]}}, "a step log"),
    ({"orderings": {}}, "orderings"),
    ({"cascade": {"patience": 2}}, "a cascade"),
    ({"clustering": {"source": "x", "space": "features", "checkpoints": ["final"], "radius": 1.0}}, "a clustering"),
    ({"model": {"name": "mlp1", "dropout": 0.5}}, "dropout (vmap draws no randomness inside the model)"),
])
def test_each_value_a_pack_does_not_implement_is_refused_with_its_reason(change, why):
    run = resolve({**BASE, **change})
    assert why in why_not_packable(run)
    assert not packable([run, {**run, "seed": 1}])
    assert packs({"a": run, "b": {**run, "seed": 1}}) == {}


@pytest.mark.parametrize("change", [
    {"augment": {"crop": 2, "flip": True}},
    {"schedule": {"name": "cosine"}},
    {"early_stopping": {"patience": 1, "metric": "test_acc1"}},
    {"snapshots": [1, 2]},
    {"eval_every": 2},
    {"noise": {"kind": "uniform", "rate": 0.2}, "validation": "test:50", "data_seed": 3},
    {"optimizer": {"name": "adadelta", "lr": 1.0, "rho": 0.95, "eps": 1e-7, "weight_decay": 1e-4}},
    {"optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4,
                   "dampening": 0}},
    {"model": {"name": "resnet20", "width": 0.5}},
])
def test_what_each_run_carries_through_packs(change):
    run = resolve({**BASE, **change})
    assert why_not_packable(run) is None
    assert packable([run, {**run, "seed": 1, "optimizer": {**run["optimizer"], "lr": 0.25}}])


def test_every_reason_is_given_at_once():
    why = why_not_packable({**BASE, "iterations": 10, "step_log": {"every": 1}})
    assert "an iteration budget" in why and "a step log" in why


def test_packs_imports_no_torch():
    code = "import sys, robustrepro.packs; assert 'torch' not in sys.modules, 'packs imported torch'"
    subprocess.run([sys.executable, "-c", code], check=True)

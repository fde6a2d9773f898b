"""Run ids, defaults and scales: the same run always gets the same id, different runs never do."""

import pytest

from robustrepro.runs import DEFAULT_RUN, identity, resolve, run_id, view_id, view_spec
from robustrepro.scales import at_scale


def test_resolve_fills_defaults_and_is_idempotent():
    run = resolve({"dataset": "cifar10", "optimizer": {"lr": 0.2}})
    assert run["optimizer"] == {**DEFAULT_RUN["optimizer"], "lr": 0.2}
    assert resolve(run) == run


def test_same_run_same_id_however_spelled():
    a = run_id({"dataset": "mnist", "seed": 3})
    b = run_id({"seed": 3, "dataset": "mnist", "epochs": DEFAULT_RUN["epochs"]})
    assert a == b and a.startswith("mnist-lenet-none-s3-")


def test_any_change_changes_the_id():
    base = run_id({"dataset": "mnist"})
    assert run_id({"dataset": "mnist", "seed": 1}) != base
    assert run_id({"dataset": "mnist", "optimizer": {"lr": 0.011}}) != base
    assert run_id({"dataset": "mnist", "noise": {"kind": "uniform", "rate": 0.4}}).startswith("mnist-lenet-uniform0.4-")


def test_unknown_key_is_rejected_by_name():
    with pytest.raises(KeyError, match="epoch"):
        resolve({"epoch": 3})


def test_component_change_drops_old_component_keys():
    run = resolve({"optimizer": {"name": "adadelta", "lr": 0.1}})
    assert run["optimizer"] == {"name": "adadelta", "lr": 0.1}


def test_view_is_shared_by_runs_that_differ_only_in_training():
    a = {"dataset": "mnist", "noise": {"kind": "uniform", "rate": 0.2}}
    b = {**a, "optimizer": {"lr": 0.5}, "seed": 4}
    assert view_spec(a) == view_spec(b) and view_id(a) == view_id(b)
    assert view_id({**a, "data_seed": 1}) != view_id(a)


def test_smoke_swaps_in_synthetic_data_and_tiny_models():
    run = at_scale({"dataset": "cifar10", "model": {"name": "resnet32"}, "epochs": 200}, "smoke")
    assert run["dataset"] == "synthetic-cifar10"
    assert run["model"]["width"] == 0.25 and run["epochs"] == 1
    assert at_scale({"dataset": "cifar10", "epochs": 200}, "paper")["epochs"] == 200


def test_group_overrides_apply_per_scale():
    over = {"quick": {"epochs": 5}, "smoke": {"epochs": 2}}
    assert at_scale({"epochs": 200}, "quick", over)["epochs"] == 5
    assert at_scale({"epochs": 200}, "smoke", over)["epochs"] == 2



def test_empty_optional_keys_do_not_change_the_id():
    run = resolve({"dataset": "mnist", "seed": 2})
    assert "snapshots" not in identity(run) and "early_stopping" not in identity(run)
    assert run_id(run) == run_id({**run, "snapshots": []})
    assert run_id({**run, "snapshots": [5]}) != run_id(run)
    assert run_id({**run, "epochs": run["epochs"] + 1}) != run_id(run)

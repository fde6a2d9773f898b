"""The recipe a job computes with (robustrepro.compute.recipe): what `auto` picks on each device, that
a CPU run in channels_last keeps same seed -> same numbers, and that config's keys reach the jobs."""

from __future__ import annotations

import re

import pytest
import torch

from conftest import smoke_config, snakemake
from robustrepro.compute.recipe import CPU_CHANNELS_LAST, Recipe, pick_recipe
from robustrepro.errors import UserError
from robustrepro.runs import resolve
from robustrepro.training import Trainer

from toydata import toy_data

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


@pytest.mark.parametrize("model, expected", [
    ({"name": "conv4", "width": 1.0}, True),  # measured 1.17x a step on the CPU
    ({"name": "lenet", "width": 0.25}, True),
    ({"name": "resnet32", "width": 0.5}, True),
    ({"name": "resnet32", "width": 0.25}, False),  # measured 0.85x at this width
    ({"name": "resnet18", "width": 1.0}, False),  # strided 1x1 convolutions: never picked on the CPU
    ({"name": "mlp1", "width": 1.0}, False),
])
def test_auto_on_a_cpu_picks_fp32_and_the_measured_layout(model, expected):
    assert pick_recipe(CPU, model) == Recipe("fp32", expected, False)


@pytest.mark.parametrize("name", ["mlp1", "resnet18", "conv4"])
def test_auto_on_cuda_is_bf16_autocast_in_channels_last(name):
    assert pick_recipe(CUDA, {"name": name}) == Recipe("bf16", True, False)


def test_forced_settings_hold_on_any_device():
    assert pick_recipe(CPU, {"name": "mlp1"}, "bf16", True, True) == Recipe("bf16", True, True)
    assert pick_recipe(CUDA, {"name": "conv4"}, "fp32", False) == Recipe("fp32", False, False)


@pytest.mark.parametrize("args, message", [
    (("half",), r"^precision: unknown value 'half'; choose one of: auto, bf16, fp32$"),
    (("auto", "yes"), r"^channels_last: auto, true or false; got 'yes'"),
    (("auto", "auto", "true"), r"^compile: true or false; got 'true'"),
])
def test_a_bad_setting_is_named(args, message):
    with pytest.raises(UserError, match=message):
        pick_recipe(CPU, {"name": "conv4"}, *args)


def test_every_listed_model_exists():
    from robustrepro.models import MODELS

    assert set(CPU_CHANNELS_LAST) <= set(MODELS)


def test_bf16_autocast_applies_on_the_cpu_too():
    layer = torch.nn.Linear(4, 2)
    with Recipe("bf16", False, False).autocast(CPU):
        assert layer(torch.ones(1, 4)).dtype == torch.bfloat16
    with Recipe("fp32", False, False).autocast(CPU):
        assert layer(torch.ones(1, 4)).dtype == torch.float32


RUN = {"model": {"name": "lenet", "width": 0.5}, "epochs": 2, "batch_size": 16,
       "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9}, "augment": {"crop": 2, "flip": True}}


def test_a_channels_last_cpu_run_gives_the_same_numbers_twice():
    """The CPU's auto recipe trains lenet in channels_last: same seed, same history and weights, bit for bit."""
    torch.set_num_threads(1)
    prepared, view = toy_data(n_train=136, n_test=40, n_val=40)
    trainers = [Trainer(resolve(RUN), prepared, view, CPU) for _ in range(2)]
    for trainer in trainers:
        assert trainer.ctx.recipe.channels_last
        conv = next(m for m in trainer.ctx.model.modules() if isinstance(m, torch.nn.Conv2d))
        assert conv.weight.is_contiguous(memory_format=torch.channels_last)
        while not trainer.finished:
            trainer.fit_epoch()
    a, b = trainers
    assert [{k: v for k, v in r.items() if k != "time_s"} for r in a.history] == \
           [{k: v for k, v in r.items() if k != "time_s"} for r in b.history]
    for (key, pa), pb in zip(a.ctx.model.state_dict().items(), b.ctx.model.state_dict().values()):
        assert torch.equal(pa, pb), key


@pytest.mark.parametrize("entries, train_flags, eval_flags", [
    ([], "--channels-last auto --precision auto", "--channels-last auto"),
    (["precision=bf16", "channels_last=false", "compile=true"], "--channels-last false --precision bf16 --compile",
     "--channels-last false --compile"),
])
def test_config_recipe_reaches_training_and_evaluation_jobs(tmp_path, entries, train_flags, eval_flags):
    target = "results/smoke/ordering-augment/table3_3.tex"  # trains runs and evaluates them under attacks
    args = ["-n", "-p", target] + (["--config", *entries] if entries else [])
    proc = snakemake(tmp_path, smoke_config(tmp_path, pack="false"), *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    train = re.findall(r"python -m robustrepro train .*", proc.stdout)
    evaluate = re.findall(r"python -m robustrepro evaluate .*", proc.stdout)
    assert train and evaluate
    assert all(train_flags in line for line in train)
    assert all(eval_flags in line and "--precision" not in line for line in evaluate)

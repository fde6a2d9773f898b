"""The training engine: schedules, device augmentation, samplers, the step, and whole tiny runs."""

import csv
import json
import logging
import math
import os

import numpy as np
import pytest
import torch

from robustrepro.errors import UserError
from robustrepro.models import build_model
from robustrepro.runs import resolve
from robustrepro.training import (SAMPLERS, STEPS, Batch, DeviceData, Plan, TrainContext, build_optimizer,
                                  build_schedule, lr_curve, pick_device, train_run, weighted_mean)
from robustrepro.compute.device_data import channel_stats, crop_flip
from robustrepro.training.schedules import set_hyperparameters
from robustrepro.views import View

from toydata import CLASSES, save_toy, toy_data


@pytest.fixture(scope="module")
def toy_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("toy")
    prepared, view = toy_data()
    save_toy(folder / "toy.npz", folder / "view.npz", prepared, view)
    return folder / "toy.npz", folder / "view.npz"


TINY_RUN = {"model": {"name": "mlp1", "width": 0.25}, "epochs": 4, "batch_size": 32,
            "optimizer": {"name": "sgd", "lr": 0.02, "momentum": 0.9}, "augment": {"crop": 2, "flip": False}}


def run_tiny(toy_files, out, **changes):
    run = {**TINY_RUN, **changes}
    return train_run(run, *toy_files, out, out / "last.pt", device="cpu", progress=False)


def read_history(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def without(rows, column):
    return [{k: v for k, v in row.items() if k != column} for row in rows]


def context(prepared, view, run=None, model=None, seed=0):
    run = resolve(run or TINY_RUN)
    data = DeviceData(prepared, view, torch.device("cpu"), run["augment"])
    model = model or build_model("mlp1", 1, CLASSES, 28, width=0.25)
    return TrainContext(run, seed, torch.device("cpu"), data, view, model, model)


# --- schedules ---

def test_onecycle_peaks_at_pct_start_and_cycles_momentum_inversely():
    curve = lr_curve({"name": "onecycle", "max_lr": 0.1, "pct_start": 0.3}, 0.05, steps_per_epoch=10, epochs=10)
    lr, momentum = curve["lr"], curve["momentum"]
    assert lr.argmax() == 29  # 30 % of 100 steps
    assert lr.max() == pytest.approx(0.1)
    assert lr[0] == pytest.approx(0.1 / 25) and lr[-1] == pytest.approx(0.1 / 25 / 1e4)
    assert momentum[0] == pytest.approx(0.95) and momentum[29] == pytest.approx(0.85) and momentum[-1] == pytest.approx(0.95)
    assert np.all(np.sign(np.diff(lr)) == -np.sign(np.diff(momentum)))


def test_onecycle_and_cosine_hold_their_final_values_after_total_steps():
    one = lr_curve({"name": "onecycle", "total_steps": 40}, 0.1, steps_per_epoch=10, epochs=10)
    assert np.all(one["lr"][39:] == one["lr"][39]) and np.all(one["momentum"][39:] == 0.95)
    cos = lr_curve({"name": "cosine", "eta_min": 0.001, "total_steps": 50}, 0.1, steps_per_epoch=10, epochs=10)
    assert cos["lr"][0] == pytest.approx(0.1)
    assert np.all(np.diff(cos["lr"][:51]) < 0)
    assert np.allclose(cos["lr"][50:], 0.001)  # ends at eta_min
    assert np.all(np.isnan(cos["momentum"]))


def test_cosine_warmup_rises_linearly_then_anneals():
    lr = lr_curve({"name": "cosine", "warmup_epochs": 2}, 0.1, steps_per_epoch=5, epochs=10)["lr"]
    assert np.allclose(lr[:10], 0.1 * np.arange(1, 11) / 10)
    assert np.all(np.diff(lr[10:]) < 0)


def test_multistep_and_step_drop_at_epoch_boundaries():
    lr = lr_curve({"name": "multistep", "milestones": [2, 5], "gamma": 0.1}, 1.0, steps_per_epoch=4, epochs=7)["lr"]
    assert np.allclose(lr.reshape(7, 4), np.array([1, 1, 0.1, 0.1, 0.1, 0.01, 0.01])[:, None])
    lr = lr_curve({"name": "step", "step_size": 3, "gamma": 0.5}, 1.0, steps_per_epoch=2, epochs=7)["lr"]
    assert np.allclose(lr[::2], [1, 1, 1, 0.5, 0.5, 0.5, 0.25])
    assert np.all(lr_curve({"name": "constant"}, 0.3, 3, 2)["lr"] == 0.3)


def test_plateau_reduces_after_patience_and_restores_from_state():
    plan = Plan(base_lr=1.0, steps_per_epoch=1, epochs=20)
    schedule = build_schedule({"name": "plateau", "metric": "val_loss", "patience": 2, "factor": 0.5}, plan)
    lrs = []
    for epoch, loss in enumerate([1.0, 0.9, 0.95, 0.95, 0.95, 0.8, 0.9], start=1):
        schedule.end_epoch(epoch, {"val_loss": loss})
        lrs.append(schedule.lr(epoch))
    assert lrs == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5]  # the third epoch in a row without a new best reduces
    restored = build_schedule({"name": "plateau", "metric": "val_loss", "patience": 2, "factor": 0.5}, plan)
    restored.load_state_dict(schedule.state_dict())
    for s in (schedule, restored):
        s.end_epoch(8, {"val_loss": 0.9})
        s.end_epoch(9, {"val_loss": 0.9})
    assert restored.lr(0) == schedule.lr(0) == 0.25
    with pytest.raises(UserError, match="no curve"):
        lr_curve({"name": "plateau"}, 0.1, 10, 10)


@pytest.mark.parametrize("steps_per_epoch, epochs", [(8, 38), (391, 1), (300, 1), (100, 3)])
def test_plateau_patience_in_steps_is_rounded_up_to_epochs(steps_per_epoch, epochs):
    plan = Plan(base_lr=1.0, steps_per_epoch=steps_per_epoch, epochs=100)
    assert build_schedule({"name": "plateau", "patience_steps": 300}, plan).patience == epochs
    assert build_schedule({"name": "plateau"}, plan).patience == 10  # the epochs default, as before


@pytest.mark.parametrize("options", [{"patience": 3, "patience_steps": 300}, {"patience_steps": -1},
                                     {"patience_steps": 2.5}])
def test_plateau_patience_in_steps_errors_name_the_key(options):
    with pytest.raises(UserError, match=r"schedule\.patience_steps"):
        build_schedule({"name": "plateau", **options}, Plan(1.0, 8, 10))


def test_schedule_config_errors_name_the_key():
    with pytest.raises(UserError, match=r"schedule\.name"):
        lr_curve({"name": "triangle"}, 0.1, 10, 10)
    with pytest.raises(UserError, match=r"schedule\.milestone"):
        lr_curve({"name": "multistep", "milestone": [3]}, 0.1, 10, 10)
    with pytest.raises(UserError, match=r"schedule\.step_size"):
        lr_curve({"name": "step"}, 0.1, 10, 10)
    with pytest.raises(UserError, match="cycle_momentum"):
        build_schedule({"name": "onecycle"}, Plan(0.1, 10, 10, has_momentum=False))


def test_momentum_is_set_on_sgd_and_as_beta1_on_adam():
    params = [torch.nn.Parameter(torch.zeros(2))]
    sgd = build_optimizer({"name": "sgd", "lr": 0.1, "momentum": 0.9}, params)
    adam = build_optimizer({"name": "adam", "lr": 0.1}, params)
    set_hyperparameters(sgd, 0.2, 0.8)
    set_hyperparameters(adam, 0.3, 0.7)
    assert sgd.param_groups[0]["lr"] == 0.2 and sgd.param_groups[0]["momentum"] == 0.8
    assert adam.param_groups[0]["lr"] == 0.3 and adam.param_groups[0]["betas"] == (0.7, 0.999)
    delta = build_optimizer({"name": "adadelta", "lr": 0.05}, params)
    assert isinstance(delta, torch.optim.Adadelta) and delta.defaults["lr"] == 0.05
    with pytest.raises(UserError, match=r"optimizer\.momentum"):
        build_optimizer({"name": "adadelta", "lr": 0.05, "momentum": 0.9}, params)


# --- device data and augmentation ---

def test_crop_flip_keeps_shape_pads_with_zeros_and_varies_per_sample():
    x = torch.full((64, 3, 8, 8), 200, dtype=torch.uint8)
    out = crop_flip(x, crop=2, flip=False, generator=torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == torch.uint8
    zeros = (out == 0).flatten(1).sum(1)
    assert zeros.max() > 0 and (zeros == 0).any()  # some crops reach into the padding, some do not
    assert len(set(zeros.tolist())) > 3  # offsets differ between samples
    assert set(out.unique().tolist()) == {0, 200}


def test_crop_is_a_window_of_the_padded_image():
    x = torch.randint(1, 256, (16, 2, 6, 7), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    out = crop_flip(x, crop=3, flip=False, generator=torch.Generator().manual_seed(2))
    padded = torch.nn.functional.pad(x, (3, 3, 3, 3))
    offsets = set()
    for i in range(len(x)):
        hits = [(dy, dx) for dy in range(7) for dx in range(7) if torch.equal(out[i], padded[i, :, dy:dy + 6, dx:dx + 7])]
        assert len(hits) == 1
        offsets.add(hits[0])
    assert len(offsets) > 8


def test_flip_flips_some_samples_and_is_deterministic_per_seed():
    x = torch.randint(0, 256, (32, 1, 5, 5), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    out = crop_flip(x, crop=0, flip=True, generator=torch.Generator().manual_seed(4))
    flipped = [torch.equal(out[i], x[i].flip(-1)) for i in range(32)]
    kept = [torch.equal(out[i], x[i]) for i in range(32)]
    assert all(f or k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)
    again = crop_flip(x, crop=2, flip=True, generator=torch.Generator().manual_seed(4))
    same = crop_flip(x, crop=2, flip=True, generator=torch.Generator().manual_seed(4))
    other = crop_flip(x, crop=2, flip=True, generator=torch.Generator().manual_seed(5))
    assert torch.equal(again, same) and not torch.equal(again, other)


def test_device_data_normalises_with_training_statistics_and_stores_each_image_once():
    prepared, view = toy_data(n_val=0)
    # alpha-style view: every training image three times
    view = View(CLASSES, np.repeat(view.train_indices, 3), np.repeat(view.train_labels, 3),
                np.repeat(view.true_labels, 3), np.repeat(view.noisy_mask, 3), view.holdout_indices,
                view.holdout_labels, "none", view.val_indices, view.val_labels, view.test_indices,
                view.test_labels, view.transition, view.noise_rate)
    data = DeviceData(prepared, view, torch.device("cpu"), {"crop": 0, "flip": False})
    assert len(data) == 3 * len(prepared.train_x) and len(data.images["train"]) == len(prepared.train_x)
    x = data.inputs("train", torch.arange(0, len(data), 3))  # each image once
    assert x.dtype == torch.float32 and x.shape == (len(prepared.train_x), 1, 28, 28)
    assert x.mean().item() == pytest.approx(0, abs=1e-5) and x.std(unbiased=False).item() == pytest.approx(1, abs=1e-4)
    assert torch.equal(data.labels("train", torch.tensor([0, 1, 2])), torch.as_tensor(view.train_labels[:3]))
    assert not data.has("val") and data.has("test")
    mean, std = channel_stats(np.array([[[[0, 255]]]], dtype=np.uint8))
    assert mean[0] == pytest.approx(0.5) and std[0] == pytest.approx(0.5)


def test_augment_config_is_checked():
    prepared, view = toy_data()
    with pytest.raises(UserError, match=r"augment\.rotate"):
        DeviceData(prepared, view, torch.device("cpu"), {"crop": 0, "rotate": 10})
    with pytest.raises(UserError, match=r"augment\.crop"):
        DeviceData(prepared, view, torch.device("cpu"), {"crop": -1})


# --- samplers ---

def epoch_batches(sampler, ctx, epoch):
    ctx.epoch = epoch
    return list(sampler.batches(ctx))


def test_shuffle_covers_every_example_once_per_epoch_in_new_orders():
    prepared, view = toy_data(n_train=133, n_val=30)  # 103 training examples
    ctx = context(prepared, view, {**TINY_RUN, "batch_size": 10})
    sampler = SAMPLERS.build({"name": "shuffle"}, ctx)
    assert sampler.steps_per_epoch() == 11
    orders = []
    for epoch in (1, 2):
        batches = epoch_batches(sampler, ctx, epoch)
        assert [len(b.indices) for b in batches] == [10] * 10 + [3]  # last partial batch kept
        assert all(b.weights is None for b in batches)
        order = torch.cat([b.indices for b in batches])
        assert torch.equal(order.sort().values, torch.arange(103))
        orders.append(order)
    assert not torch.equal(orders[0], orders[1])
    assert torch.equal(torch.cat([b.indices for b in epoch_batches(sampler, ctx, 1)]), orders[0])
    sequential = SAMPLERS.build({"name": "sequential"}, ctx)
    assert torch.equal(torch.cat([b.indices for b in epoch_batches(sequential, ctx, 1)]), torch.arange(103))


def test_fixed_subset_is_fixed_across_epochs_and_reshuffled():
    prepared, view = toy_data(n_train=300, n_val=100)
    ctx = context(prepared, view, {**TINY_RUN, "batch_size": 16})
    sampler = SAMPLERS.build({"name": "fixed_subset", "fraction": 0.4}, ctx)
    first = torch.cat([b.indices for b in epoch_batches(sampler, ctx, 1)])
    second = torch.cat([b.indices for b in epoch_batches(sampler, ctx, 2)])
    assert len(first) == 80 and len(first.unique()) == 80
    assert torch.equal(first.sort().values, second.sort().values) and not torch.equal(first, second)
    rebuilt = SAMPLERS.build({"name": "fixed_subset", "fraction": 0.4}, ctx)
    assert torch.equal(torch.cat([b.indices for b in epoch_batches(rebuilt, ctx, 1)]), first)
    other_seed = context(prepared, view, {**TINY_RUN, "batch_size": 16}, seed=1)
    other = SAMPLERS.build({"name": "fixed_subset", "fraction": 0.4}, other_seed)
    assert not torch.equal(other.positions, sampler.positions)
    with pytest.raises(UserError, match=r"sampler\.fraction"):
        SAMPLERS.build({"name": "fixed_subset", "fraction": 1.5}, ctx)
    with pytest.raises(UserError, match=r"sampler\.warmup_epochs"):
        SAMPLERS.build({"name": "fixed_subset", "fraction": 0.4, "warmup_epochs": -1}, ctx)
    with pytest.raises(UserError, match=r"sampler\.name"):
        SAMPLERS.build({"name": "sorted"}, ctx)


def test_fixed_subset_after_a_full_data_warm_up():
    prepared, view = toy_data(n_train=300, n_val=100)
    ctx = context(prepared, view, {**TINY_RUN, "batch_size": 16})
    plain = SAMPLERS.build({"name": "fixed_subset", "fraction": 0.4}, ctx)
    warm = SAMPLERS.build({"name": "fixed_subset", "fraction": 0.4, "warmup_epochs": 2}, ctx)
    assert warm.steps_per_epoch() == math.ceil(200 / 16)  # the schedule is planned on the full epochs
    for epoch in (1, 2):
        ctx.epoch = epoch
        warm.start_epoch(ctx)
        assert len(torch.cat([b.indices for b in warm.batches(ctx)]).unique()) == 200
    ctx.epoch = 3
    warm.start_epoch(ctx)
    after = torch.cat([b.indices for b in warm.batches(ctx)])
    assert torch.equal(after.sort().values, plain.positions) and warm.steps_per_epoch() == 5


# --- the step ---

def test_weighted_step_with_unit_weights_equals_the_unweighted_step():
    prepared, view = toy_data()
    results = []
    for weights in (None, torch.ones(32)):
        torch.manual_seed(0)
        ctx = context(prepared, view)
        ctx.optimizer = build_optimizer({"name": "sgd", "lr": 0.1, "momentum": 0.9}, ctx.model.parameters())
        step = STEPS.build({"name": "weighted"}, ctx)
        idx = torch.arange(32)
        for _ in range(2):
            result = step(ctx, Batch(idx, weights), ctx.data.inputs("train", idx), ctx.data.labels("train", idx))
        results.append((result, [p.detach().clone() for p in ctx.model.parameters()]))
    (first, params_a), (second, params_b) = results
    torch.testing.assert_close(first.losses, second.losses)
    for a, b in zip(params_a, params_b):
        torch.testing.assert_close(a, b)
    assert not first.losses.requires_grad and torch.equal(first.indices, torch.arange(32))


def test_weighted_mean():
    losses = torch.tensor([1.0, 2.0, 4.0])
    assert weighted_mean(losses, None).item() == pytest.approx(7 / 3)
    assert weighted_mean(losses, torch.tensor([1.0, 0.0, 3.0])).item() == pytest.approx(13 / 4)
    assert weighted_mean(losses, torch.zeros(3)).item() == 0.0


# --- whole runs ---

def test_tiny_run_writes_all_outputs_and_learns(toy_files, tmp_path):
    metrics = run_tiny(toy_files, tmp_path)
    rows = read_history(tmp_path / "history.csv")
    assert list(rows[0]) == ["epoch", "lr", "train_loss", "train_acc", "noisy_acc", "clean_acc", "val_acc1",
                             "val_loss", "test_acc1", "test_acc5", "test_loss", "time_s"]
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert all(v != "" for r in rows for v in r.values())
    train_acc = [float(r["train_acc"]) for r in rows]
    assert train_acc[-1] > train_acc[0] + 0.3 and float(rows[-1]["clean_acc"]) > 0.9
    assert float(rows[-1]["test_acc1"]) > 0.8
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["test_acc1"] == metrics["test_acc1"] == float(rows[-1]["test_acc1"])
    assert saved["epochs_done"] == 4 and saved["best_epoch"] is None and saved["stopped_early"] is False
    provenance = saved["provenance"]
    assert provenance["run"] == resolve(TINY_RUN)
    assert set(provenance["data"]) == {"prepared", "view"} and set(provenance["code"]) == {"robustrepro", "source_sha256"}
    [session] = provenance["sessions"]
    assert {"python", "torch", "numpy", "robustrepro", "device", "threads", "host", "pid", "started",
            "ended"} <= set(session)
    assert session["pid"] == os.getpid() and (session["first_epoch"], session["last_epoch"]) == (1, 4)
    assert saved["run_id"].startswith("mnist-mlp1-") and saved["seed"] == 0 and saved["wall_time_s"] > 0
    assert (tmp_path / "last.pt").exists() and not list(tmp_path.glob("*.part"))


def test_same_run_twice_gives_identical_numbers(toy_files, tmp_path):
    run = {"schedule": {"name": "onecycle"}, "augment": {"crop": 2, "flip": True}, "epochs": 3,
           "model": {"name": "mlp1", "width": 0.25, "dropout": 0.2}}
    first = run_tiny(toy_files, tmp_path / "a", **run)
    second = run_tiny(toy_files, tmp_path / "b", **run)
    history = [without(read_history(tmp_path / d / "history.csv"), "time_s") for d in ("a", "b")]
    assert history[0] == history[1]
    # Every number alike; of the provenance, what it was computed from (its sessions' clock times differ).
    numbers = [{k: v for k, v in m.items() if k not in ("wall_time_s", "provenance")} for m in (first, second)]
    assert numbers[0] == numbers[1]
    assert [{k: v for k, v in m["provenance"].items() if k != "sessions"} for m in (first, second)] == \
        [{k: v for k, v in first["provenance"].items() if k != "sessions"}] * 2
    changed = run_tiny(toy_files, tmp_path / "c", **run, seed=1)
    assert changed["train_loss"] != first["train_loss"]


def test_early_stopping_stops_and_reports_the_best_epoch(toy_files, tmp_path):
    # train_loss falls every epoch, so "maximise train_loss" has its best at epoch 1
    metrics = run_tiny(toy_files, tmp_path, epochs=10, eval_every=5,
                       early_stopping={"patience": 2, "metric": "train_loss", "mode": "max"})
    rows = read_history(tmp_path / "history.csv")
    losses = [float(r["train_loss"]) for r in rows]
    best = int(np.argmax(losses)) + 1
    assert metrics["stopped_early"] is True and metrics["epochs_done"] == len(rows) == best + 2 < 10
    assert metrics["best_epoch"] == best and metrics["epoch"] == best
    assert metrics["train_loss"] == losses[best - 1] and metrics["test_acc1"] == float(rows[best - 1]["test_acc1"])
    assert all(r["test_acc1"] != "" for r in rows)  # early stopping evaluates the test set every epoch


def test_early_stopping_on_a_missing_validation_set_fails_early(tmp_path):
    prepared, view = toy_data(n_val=0)
    save_toy(tmp_path / "p.npz", tmp_path / "v.npz", prepared, view)
    with pytest.raises(UserError, match=r"early_stopping\.metric: 'val_acc1'"):
        train_run({**TINY_RUN, "early_stopping": {"patience": 2}}, tmp_path / "p.npz", tmp_path / "v.npz",
                  tmp_path / "out", tmp_path / "out" / "last.pt", device="cpu", progress=False)


def test_eval_every_leaves_test_columns_empty_between_evaluations(toy_files, tmp_path):
    run_tiny(toy_files, tmp_path, epochs=3, eval_every=2)
    rows = read_history(tmp_path / "history.csv")
    assert [r["test_acc1"] != "" for r in rows] == [False, True, True]  # and always the last epoch
    assert all(r["val_acc1"] != "" for r in rows)


def test_checkpoint_of_another_config_is_refused_and_a_finished_one_is_kept(toy_files, tmp_path, caplog):
    first = run_tiny(toy_files, tmp_path, epochs=1)
    with pytest.raises(UserError, match=r"last\.pt.*different run config.*optimizer.*delete it"):
        run_tiny(toy_files, tmp_path, epochs=1, optimizer={"name": "sgd", "lr": 0.5})
    # A job that finds its run finished with the same run, data and code (an orphan's, a forced rebuild)
    # writes its results again from the checkpoint: training again would give the same numbers.
    with caplog.at_level(logging.INFO, logger="robustrepro"):
        again = run_tiny(toy_files, tmp_path, epochs=1)
    assert "keeping its results" in caplog.text and "epoch 1: lr" not in caplog.text
    assert {k: v for k, v in again.items() if k not in ("wall_time_s", "provenance")} == \
        {k: v for k, v in first.items() if k not in ("wall_time_s", "provenance")}
    (tmp_path / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="cannot be read.*delete it"):
        run_tiny(toy_files, tmp_path, epochs=1)


def test_bad_run_values_are_user_errors(toy_files, tmp_path):
    with pytest.raises(UserError, match=r"sampler\.name"):
        run_tiny(toy_files, tmp_path, sampler={"name": "craig"})
    with pytest.raises(UserError, match=r"step\.alpha"):
        run_tiny(toy_files, tmp_path, step={"name": "weighted", "alpha": 1.0})
    with pytest.raises(UserError, match="epochs"):
        run_tiny(toy_files, tmp_path, epochs=0)
    with pytest.raises(UserError, match="learning_rate"):
        run_tiny(toy_files, tmp_path, learning_rate=0.1)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_asking_for_cuda_without_a_gpu_is_a_user_error():
    with pytest.raises(UserError, match="cuda"):
        pick_device("cuda")
    assert pick_device("auto").type == "cpu"

"""The grad_cosine step metric (seed 002): the clean examples' gradient against the whole batch's."""

import csv
import math

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, vmap

from robustrepro.errors import UserError
from robustrepro.runs import resolve
from robustrepro.training import Batch, Trainer, train_run

from toydata import save_toy, toy_data

RUN = {"model": {"name": "lenet", "width": 0.5}, "batch_size": 32, "iterations": 12,
       "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
       "step_log": {"every": 1, "metrics": ["grad_cosine"]}}


def per_sample_cosine(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, clean: torch.Tensor) -> float:
    """The reference: every example's own gradient (torch.func), averaged over the clean ones and over all."""
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss(p, xi, yi):
        return F.cross_entropy(functional_call(model, p, (xi[None],)), yi[None])

    grads = vmap(grad(loss), in_dims=(None, 0, 0))(params, x, y)
    flat = torch.cat([g.reshape(len(x), -1) for g in grads.values()], dim=1).double()
    return F.cosine_similarity(flat[clean].mean(0), flat.mean(0), dim=0).item()


def measured_step(trainer: Trainer, indices: torch.Tensor) -> float:
    """One step through the trainer's step with the metric's probe, as the trainer takes it."""
    ctx = trainer.ctx
    ctx.epoch = 1
    ctx.probe = trainer.step_log.probe_for(ctx.global_step + 1)
    batch = Batch(indices, None)
    result = trainer.step(ctx, batch, ctx.data.inputs("train", indices), ctx.data.labels("train", indices))
    ctx.global_step += 1
    return trainer.step_log.metrics[0].values(ctx, batch, result).item()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grad_cosine_equals_the_per_sample_reference(seed):
    prepared, view = toy_data(n_train=200, n_test=50, n_val=0, noisy=0.4, seed=seed)
    trainer = Trainer(resolve({**RUN, "seed": seed}), prepared, view, torch.device("cpu"))
    ctx = trainer.ctx
    indices = torch.arange(32)
    clean = ~ctx.data.noisy_mask[indices]
    assert 0 < clean.sum() < 32  # both kinds in the batch
    x, y = ctx.data.inputs("train", indices), ctx.data.labels("train", indices)
    expected = per_sample_cosine(ctx.model, x, y, clean)  # before the step's update
    assert measured_step(trainer, indices) == pytest.approx(expected, abs=1e-5)
    assert -1 <= expected < 0.999  # noisy labels turn the batch's gradient away from the clean one


def test_a_batch_without_noisy_examples_has_cosine_one_and_one_without_clean_ones_nan():
    prepared, view = toy_data(n_train=200, n_test=50, n_val=0, noisy=0.4)
    trainer = Trainer(resolve(RUN), prepared, view, torch.device("cpu"))
    noisy = trainer.ctx.data.noisy_mask
    assert measured_step(trainer, torch.nonzero(~noisy).flatten()[:16]) == pytest.approx(1.0, abs=1e-6)
    assert math.isnan(measured_step(trainer, torch.nonzero(noisy).flatten()[:16]))


def _history(run: dict) -> list[dict]:
    prepared, view = toy_data(n_train=200, n_test=50, n_val=0, noisy=0.4)
    trainer = Trainer(resolve(run), prepared, view, torch.device("cpu"))
    while not trainer.finished:
        trainer.fit_epoch()
    return [{k: v for k, v in row.items() if k != "time_s"} for row in trainer.history]


def test_measuring_leaves_the_training_exactly_as_it_was():
    assert _history(RUN) == _history({**RUN, "step_log": {"every": 1, "metrics": ["batch"]}})


def test_steps_csv_carries_the_cosine_on_the_every_rows_only(tmp_path):
    prepared, view = toy_data(n_train=200, n_test=50, n_val=0, noisy=0.4)
    save_toy(tmp_path / "toy.npz", tmp_path / "view.npz", prepared, view)
    run = {**RUN, "step_log": {"every": 4, "eval_steps": 3, "metrics": ["grad_cosine", "batch_noise"]}}
    train_run(run, tmp_path / "toy.npz", tmp_path / "view.npz", tmp_path / "out", tmp_path / "c.pt", device="cpu",
              progress=False)
    with open(tmp_path / "out" / "steps.csv") as f:
        rows = {int(r["step"]): r for r in csv.DictReader(f)}
    assert sorted(rows) == [3, 4, 6, 8, 9, 12]
    for step, row in rows.items():
        value = float(row["grad_cosine"] or "nan")  # an empty cell is NaN
        assert (-1 <= value <= 1) if step % 4 == 0 else math.isnan(value), step


def test_clear_errors_without_a_cadence_or_with_a_step_that_has_its_own_update():
    prepared, view = toy_data(n_train=200, n_test=50, n_val=20, noisy=0.4)
    with pytest.raises(UserError, match="step_log.every: grad_cosine is measured on the rows written every"):
        Trainer(resolve({**RUN, "step_log": {"eval_steps": 5, "metrics": ["grad_cosine"]}}), prepared, view,
                torch.device("cpu"))
    with pytest.raises(UserError, match="grad_cosine measures the plain step's gradients; step 'reweight'"):
        Trainer(resolve({**RUN, "step": {"name": "reweight"}}), prepared, view, torch.device("cpu"))

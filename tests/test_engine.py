"""The engine pieces later methods build on: per-step hooks, scoring and rollback on the context,
step-cadence logs (steps.csv), iteration budgets, and resuming within an epoch (in process and
after a real SIGKILL)."""

import copy
import csv
import json
import math
import subprocess
import sys
import time

import pytest
import torch

from robustrepro.errors import UserError
from robustrepro.runs import identity, resolve, run_id
from robustrepro.training import Batch, Trainer, train_run
from robustrepro.training.checkpoint import load_checkpoint, save_checkpoint
from robustrepro.training.context import Part

from toydata import save_toy, toy_data

CPU = torch.device("cpu")
# Momentum, weight decay, dropout, crops and flips: state an interrupted epoch must carry over.
RUN = {"model": {"name": "lenet", "width": 0.5, "dropout": 0.2}, "batch_size": 32,
       "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4},
       "augment": {"crop": 2, "flip": True}, "iterations": 40,
       "schedule": {"name": "multistep", "milestones": [15, 30], "unit": "steps"},
       "step_log": {"every": 3, "metrics": ["batch", "batch_noise"], "eval_steps": 10}}
# 300 training examples in batches of 32: 10 steps per epoch, so 40 iterations are 4 epochs.


@pytest.fixture(scope="module")
def toy():
    prepared, view = toy_data(n_train=400, n_test=100, n_val=100)
    return prepared, view


@pytest.fixture(scope="module")
def toy_files(tmp_path_factory, toy):
    folder = tmp_path_factory.mktemp("engine")
    save_toy(folder / "toy.npz", folder / "view.npz", *toy)
    return folder


def trainer(toy, **changes) -> Trainer:
    return Trainer(resolve({**RUN, **changes}), *toy, CPU)


def fit(t: Trainer) -> None:
    while not t.finished:
        t.fit_epoch()


def weights(t: Trainer) -> dict:
    return {k: v.clone() for k, v in t.ctx.model.state_dict().items()}


def same_tensors(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def without_time(rows):
    """Rows without wall times, NaN as None (NaN equals nothing, itself included)."""
    def value(v):
        return None if isinstance(v, float) and math.isnan(v) else v

    return [{k: value(v) for k, v in row.items() if k != "time_s"} for row in rows]


# --- per-step hooks ---

class Spy(Part):
    """Records what after_step is handed."""

    columns = ()

    def __init__(self):
        self.seen = []

    def after_step(self, ctx, batch, result):
        self.seen.append((ctx.global_step, len(batch.indices), result))

    def result(self, ctx):
        return {}


def test_every_part_sees_each_steps_losses_without_a_second_forward_pass(toy):
    t = trainer(toy, iterations=None, epochs=1, step_log=None)
    calls = []
    t.ctx.model.register_forward_hook(lambda *args: calls.append(1))
    spy = Spy()
    t.metrics.append(spy)
    t.fit_epoch()
    steps = t.ctx.steps_per_epoch
    assert [s for s, _, _ in spy.seen] == list(range(1, steps + 1))
    # One forward pass per training step; the rest are the end-of-epoch evaluations.
    evaluation_batches = 2  # val (100) and test (100), one batch each
    assert len(calls) == steps + evaluation_batches
    _, size, result = spy.seen[0]
    assert result.losses.shape == (size,) and result.logits.shape == (size, 10) and not result.losses.requires_grad
    assert torch.allclose(result.losses, torch.nn.functional.cross_entropy(result.logits, result.labels,
                                                                           reduction="none"))


def test_rollback_restores_model_and_optimizer_bit_for_bit(toy):
    t = trainer(toy, iterations=None, epochs=1, step_log=None)
    t.fit_epoch()  # momentum buffers exist now
    before_model, before_opt = weights(t), copy.deepcopy(t.ctx.optimizer.state_dict())  # state_dict() holds live tensors
    batch = Batch(torch.arange(32), None)
    with t.ctx.rollback():
        for _ in range(3):
            t.ctx.update(batch)
        assert not same_tensors(weights(t), before_model)  # the trial updates did change the model
    assert same_tensors(weights(t), before_model)
    after_opt = t.ctx.optimizer.state_dict()
    assert after_opt["param_groups"] == before_opt["param_groups"]
    for key, state in before_opt["state"].items():
        assert same_tensors(state, after_opt["state"][key])
    # The saved state survives restoring: it can be restored again.
    state = t.ctx.save_state()
    t.ctx.update(batch)
    t.ctx.restore_state(state)
    t.ctx.update(batch)
    t.ctx.restore_state(state)
    assert same_tensors(weights(t), before_model)


def test_a_run_with_trial_updates_rolled_back_trains_exactly_like_one_without(toy):
    plain = trainer(toy, iterations=None, epochs=2, step_log=None)
    fit(plain)
    tried = trainer(toy, iterations=None, epochs=2, step_log=None)

    class TrialEveryStep(Part):
        def after_step(self, ctx, batch, result):
            with ctx.rollback():
                ctx.update(batch)

        def result(self, ctx):
            return {}

    tried.metrics.append(TrialEveryStep())
    fit(tried)
    assert same_tensors(weights(plain), weights(tried))
    assert without_time(plain.history) == without_time(tried.history)


def test_score_is_a_no_grad_eval_mode_forward_that_changes_nothing(toy):
    t = trainer(toy, iterations=None, epochs=1, step_log=None, model={"name": "resnet20", "width": 0.25})
    before = weights(t)  # batch norm running statistics included
    t.ctx.model.train()
    indices = torch.tensor([3, 1, 4, 1, 5])
    scored = t.ctx.score(indices)
    assert t.ctx.model.training and same_tensors(weights(t), before)
    assert not scored.losses.requires_grad and scored.losses.shape == (5,)
    t.ctx.model.eval()
    with torch.no_grad():
        logits = t.ctx.model(t.ctx.data.inputs("train", indices))
    assert torch.allclose(scored.logits, logits)
    assert torch.equal(scored.labels, t.ctx.data.labels("train", indices))


# --- step-cadence logs ---

def test_steps_csv_has_a_row_every_n_steps_and_evaluations_at_their_points(toy_files, tmp_path):
    train_run(RUN, toy_files / "toy.npz", toy_files / "view.npz", tmp_path, tmp_path / "c.pt", device="cpu",
              progress=False)
    rows = read_csv(tmp_path / "steps.csv")
    assert list(rows[0]) == ["step", "epoch", "time_s", "lr", "momentum", "batch_loss", "batch_acc",
                             "batch_noisy_acc", "batch_clean_acc", "test_acc1", "test_acc5", "test_loss",
                             "val_acc1", "val_loss"]
    steps = [int(r["step"]) for r in rows]
    assert steps == sorted(set(range(3, 41, 3)) | {10, 20, 30, 40})
    evaluated = [int(r["step"]) for r in rows if r["test_acc1"]]
    assert evaluated == [10, 20, 30, 40]
    assert all(r["val_acc1"] for r in rows if r["test_acc1"])
    assert [int(r["epoch"]) for r in rows] == [(s - 1) // 10 + 1 for s in steps]
    # lr as scheduled in steps: 0.05 for steps 1-15, then 0.005 to step 30, then 0.0005.
    for r in rows:
        expected = 0.05 * 0.1 ** ((int(r["step"]) - 1 >= 15) + (int(r["step"]) - 1 >= 30))
        assert float(r["lr"]) == pytest.approx(expected)
    assert all(float(r["momentum"]) == 0.9 for r in rows)
    assert all(0 <= float(r["batch_acc"]) <= 1 and float(r["batch_loss"]) > 0 for r in rows)
    times = [float(r["time_s"]) for r in rows]
    assert times == sorted(times)
    # The last evaluation point is the run's end: its test accuracy is the one metrics.json reports.
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert float(rows[-1]["test_acc1"]) == pytest.approx(metrics["test_acc1"])
    assert metrics["steps_done"] == 40 and metrics["epochs_done"] == 4


def test_step_metric_values_wait_on_the_device_until_a_flush(toy):
    t = trainer(toy, step_log={"every": 1, "metrics": ["batch"]}, iterations=None, epochs=1)
    t.start_epoch()
    batches = t.sampler.batches(t.ctx)
    t.train_steps([next(batches) for _ in range(4)])
    assert len(t.step_log.pending) == 4 and t.step_log.rows == []
    assert all(isinstance(values, torch.Tensor) for _, values in t.step_log.pending)
    rows = t.step_log.flush()
    assert [r["step"] for r in rows] == [1, 2, 3, 4] and t.step_log.pending == []
    assert all(isinstance(r["batch_loss"], float) for r in rows)


def test_a_run_without_a_step_log_writes_no_steps_csv_and_keeps_its_id(toy_files, tmp_path):
    run = {**RUN, "step_log": None, "iterations": None, "epochs": 1}
    train_run(run, toy_files / "toy.npz", toy_files / "view.npz", tmp_path, tmp_path / "c.pt", device="cpu",
              progress=False)
    assert (tmp_path / "history.csv").is_file() and not (tmp_path / "steps.csv").exists()
    # The new keys left at their defaults are not part of a run's identity: ids of older runs stand.
    assert "step_log" not in identity(run) and "iterations" not in identity(run)
    assert run_id({"dataset": "mnist"}) == run_id({"dataset": "mnist", "iterations": None, "step_log": None})


@pytest.mark.parametrize("step_log, key", [
    ({"every": 0}, "step_log.every"), ({"evry": 3}, "step_log.evry"), ({"metrics": ["batch"]}, "step_log"),
    ({"every": 1, "metrics": ["nope"]}, "step_log.metrics"), ({"eval_seconds": -1}, "step_log.eval_seconds"),
])
def test_bad_step_logs_name_their_key(toy, step_log, key):
    with pytest.raises(UserError, match=key.replace(".", r"\.")):
        trainer(toy, step_log=step_log)


# --- iteration budgets ---

def test_an_iteration_budget_cuts_the_last_epoch_short(toy):
    t = trainer(toy, iterations=25, schedule={"name": "onecycle"}, step_log=None)
    fit(t)
    assert t.ctx.global_step == 25 and [r["epoch"] for r in t.history] == [1, 2, 3]
    assert not math.isnan(t.history[-1]["test_acc1"])
    # The one-cycle plan spans the 25 iterations: its last step is the last one trained.
    assert t.schedule.last_step == 24


def test_epochs_and_iterations_are_one_budget(toy):
    with pytest.raises(UserError, match="epochs, iterations"):
        trainer(toy, epochs=3, iterations=10)
    with pytest.raises(UserError, match="iterations: must be an integer >= 1"):
        trainer(toy, iterations=0)
    assert resolve({"iterations": 10})["epochs"] is None and resolve({})["epochs"] == 1


def test_early_stopping_works_under_an_iteration_budget(toy):
    t = trainer(toy, iterations=200, step_log=None, early_stopping={"patience": 1, "metric": "val_loss"},
                optimizer={"name": "sgd", "lr": 0.5, "momentum": 0.9})
    fit(t)
    assert t.stopped_early and t.ctx.global_step < 200 and t.ctx.global_step % 10 == 0


# --- resuming within an epoch ---

class Interrupt(Exception):
    pass


def interrupted_at(toy, step, path):
    """Train until `step` optimizer steps are done, checkpoint there as train_run does, and stop."""
    t = trainer(toy)

    def stop():
        if t.ctx.global_step == step:
            save_checkpoint(path, t.state_dict())
            raise Interrupt

    t.on_step = stop
    with pytest.raises(Interrupt):
        fit(t)


@pytest.mark.parametrize("step", [7, 13, 20])
def test_resumed_within_an_epoch_ends_exactly_like_an_uninterrupted_run(toy, tmp_path, step):
    whole = trainer(toy)
    fit(whole)
    path = tmp_path / "c.pt"
    interrupted_at(toy, step, path)
    resumed = trainer(toy)
    state = load_checkpoint(path, resumed.run)
    # Step 20 ends epoch 2: checkpointed after its last step, before its end-of-epoch work.
    assert state["global_step"] == step and state["step_in_epoch"] == (step - 1) % 10 + 1
    resumed.load_state_dict(state)
    fit(resumed)
    assert same_tensors(weights(resumed), weights(whole))
    assert without_time(resumed.history) == without_time(whole.history)
    assert without_time(resumed.step_log.flush()) == without_time(whole.step_log.flush())


TRAIN = ("import json, logging, sys; from robustrepro.training import train_run; "
         "logging.basicConfig(level=logging.INFO); "
         "train_run(json.loads(sys.argv[1]), *sys.argv[2:], device='cpu', threads=1, progress=False, "
         "checkpoint_seconds=0)")


def start(folder, out, run):
    return subprocess.Popen([sys.executable, "-c", TRAIN, json.dumps(run), str(folder / "toy.npz"),
                             str(folder / "view.npz"), str(out), str(out / "c.pt")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def checkpoint_at(path):
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (FileNotFoundError, EOFError, RuntimeError):
        return 0, 0
    return state["global_step"], state.get("step_in_epoch", 0)


@pytest.mark.slow
def test_an_iteration_run_killed_mid_epoch_resumes_to_the_same_numbers(toy_files, tmp_path):
    run = {**RUN, "iterations": 150, "step_log": {"every": 20, "metrics": ["batch"], "eval_steps": 50}}
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    uninterrupted = start(toy_files, whole, run)
    victim = start(toy_files, killed, run)
    deadline = time.monotonic() + 180
    while True:
        step, within = checkpoint_at(killed / "c.pt")
        if step >= 55 and within:
            break
        assert victim.poll() is None, victim.communicate()[0]
        assert time.monotonic() < deadline, "no mid-epoch checkpoint after step 55 within 180 s"
        time.sleep(0.01)
    victim.kill()  # SIGKILL: no cleanup, no flush
    victim.wait()
    step, within = checkpoint_at(killed / "c.pt")
    assert within and step < 150 and not (killed / "metrics.json").exists()

    resumed = start(toy_files, killed, run)
    for proc in (uninterrupted, resumed):
        output = proc.communicate(timeout=300)[0]
        assert proc.returncode == 0, output
    assert f"step {within} of epoch {(step - within) // 10 + 1}" in output
    for name in ("history.csv", "steps.csv"):
        assert without_time(read_csv(killed / name)) == without_time(read_csv(whole / name))
    numbers = [{k: v for k, v in json.loads((out / "metrics.json").read_text()).items()
                if k not in ("wall_time_s", "provenance")} for out in (killed, whole)]
    assert numbers[0] == numbers[1] and numbers[0]["steps_done"] == 150


def test_step_metrics_report_the_batch_they_were_given(toy):
    from robustrepro.training.context import StepResult
    from robustrepro.training.step_log import StepLog

    t = trainer(toy, iterations=None, epochs=1)
    log = StepLog({"every": 1, "metrics": ["batch", "batch_noise"]}, t.ctx, ())
    indices = torch.arange(40)
    labels = t.ctx.data.labels("train", indices)
    logits = torch.nn.functional.one_hot(labels, 10).float()
    logits[:10] = logits[:10].roll(1, dims=1)  # the first 10 predicted wrong
    result = StepResult(torch.full((40,), 0.5), logits, labels, indices)
    t.ctx.global_step, t.ctx.epoch = 1, 1
    log.after_step(t.ctx, Batch(indices, None), result, 0.1, 0.0)
    (row,) = log.flush()
    noisy = t.ctx.data.noisy_mask[indices]
    right = torch.arange(40) >= 10
    assert row["batch_loss"] == 0.5 and row["batch_acc"] == 0.75
    assert row["batch_noisy_acc"] == pytest.approx((right & noisy).sum().item() / noisy.sum().item())
    assert row["batch_clean_acc"] == pytest.approx((right & ~noisy).sum().item() / (~noisy).sum().item())


def test_an_evaluation_point_at_an_epochs_end_is_not_evaluated_twice(toy):
    t = trainer(toy, iterations=None, epochs=1, step_log={"eval_steps": 10})  # 10 steps per epoch
    calls = []
    t.ctx.model.register_forward_hook(lambda *args: calls.append(1))
    t.fit_epoch()
    assert len(calls) == 10 + 2  # the steps, then val (100) and test (100) once each, for both uses
    (row,) = t.step_log.flush()
    assert row["test_acc1"] == t.history[0]["test_acc1"] and row["val_loss"] == t.history[0]["val_loss"]


def test_a_sampler_drawing_its_next_batch_sees_that_steps_lr(toy):
    """A sampler that tries updates on candidates (seed 004's loss_delta) tries them at the lr of the
    step they compete for, also on the first step after a milestone."""
    t = trainer(toy, step_log=None)  # multistep milestones at steps 15 and 30
    seen = []

    def drawing(batches):
        for batch in batches:
            seen.append(t.ctx.optimizer.param_groups[0]["lr"])
            yield batch

    for _ in range(4):
        t.start_epoch()
        t.train_steps(drawing(t.sampler.batches(t.ctx)))
        t.end_epoch()
    assert len(seen) == 40
    assert seen == [t.schedule.lr(step) for step in range(40)]
    assert seen[14] == 0.05 and seen[15] == pytest.approx(0.005) and seen[30] == pytest.approx(0.0005)


def test_model_norm_is_the_parameters_l2_norm_after_each_epoch(toy):
    t = trainer(toy, iterations=None, epochs=2, step_log=None, metrics=["model_norm"])
    norms = []
    while not t.finished:
        t.fit_epoch()
        params = torch.cat([p.detach().flatten() for p in t.ctx.model.parameters()])
        norms.append(params.norm().item())
    assert [row["model_norm"] for row in t.history] == pytest.approx(norms, rel=1e-6)
    assert norms[0] != norms[1]  # it moves with training; buffers (none counted) would not be parameters

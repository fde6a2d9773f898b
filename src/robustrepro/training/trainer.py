"""The training loop, composed from the parts: device data, sampler, step, schedule, metrics.

The Trainer trains one run epoch by epoch and holds all it needs to resume (state_dict);
robustrepro.training.run_job runs it as a job (lock, resume, checkpoints, the files it writes).
A run is budgeted in `epochs` or in `iterations` (optimizer steps; the last epoch is then cut
short). Beside the checkpoint it keeps model snapshots (see checkpoint.py): the epochs listed in
the run's `snapshots`, the best epoch and the final weights; `load_model_snapshot` reads one back.
Every random draw of an epoch comes from generators derived from (seed, epoch, purpose), so a
run resumed at an epoch boundary ends with the same numbers as an uninterrupted one (on a CPU).
Within an epoch a checkpoint is also written every `checkpoint_seconds`; it adds the random
generators' states and the parts' running sums, and a resume replays the sampler's epoch up
to that step, so a run killed mid-epoch ends with the same numbers too.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from typing import Callable, Iterable

import torch
from tqdm import tqdm

from robustrepro.data.prepared import Prepared
from robustrepro.errors import UserError
from robustrepro.models import build_model
from robustrepro.provenance import now
from robustrepro.runs import canonical_json, run_id
from robustrepro.training.checkpoint import load_snapshot, save_snapshot, snapshot_path
from robustrepro.compute.device import device_name
from robustrepro.compute.recipe import Recipe, pick_recipe
from robustrepro.options import integer
from robustrepro.training.context import Batch, StepResult, TrainContext
from robustrepro.compute.device_data import DeviceData
from robustrepro.training.early_stopping import Tracker, build_early_stopping
from robustrepro.training.metrics import build_metrics, evaluate
from robustrepro.training.optim import build_optimizer
from robustrepro.training.methods.cascade import build_cascade
from robustrepro.training.outputs import new_session
from robustrepro.training.samplers import SAMPLERS
from robustrepro.training.schedules import Plan, build_schedule, set_hyperparameters
from robustrepro.training.seeding import derive_seed
from robustrepro.training.step_log import StepLog
from robustrepro.training.steps import STEPS
from robustrepro.views import View

log = logging.getLogger(__name__)

EVAL_BATCH_SIZE = 1024
TEST_COLUMNS = ("test_acc1", "test_acc5", "test_loss")
VAL_COLUMNS = ("val_acc1", "val_loss")


def _budget(run: dict) -> tuple[int | None, int | None]:
    """(epochs, iterations): exactly one of them is set."""
    epochs, iterations = run["epochs"], run["iterations"]
    if (epochs is None) == (iterations is None):
        raise UserError(f"epochs, iterations: a run is budgeted in one of them; got epochs {epochs!r} and "
                        f"iterations {iterations!r}: set the other to null")
    if iterations is not None:
        return None, integer("iterations", iterations, at_least=1)
    return integer("epochs", epochs, at_least=1), None


def _snapshot_epochs(value, epochs: int) -> frozenset[int]:
    if not isinstance(value, (list, tuple)) or any(
            isinstance(e, bool) or not isinstance(e, int) or not 1 <= e <= epochs for e in value):
        raise UserError(f"snapshots: a list of epochs between 1 and epochs ({epochs}) after which to keep the model; "
                        f"got {value!r}")
    return frozenset(value)


class Trainer:
    """One run's parts and progress. fit_epoch = start_epoch + train_steps + end_epoch."""

    def __init__(self, run: dict, prepared: Prepared, view: View, device: torch.device, recipe: Recipe | None = None,
                 clustering: str | None = None, inputs: dict | None = None, data: DeviceData | None = None):
        self.run = run
        self.inputs = inputs or {"data": None, "code": None}  # what train_run digested (robustrepro.provenance)
        epochs, self.iterations = _budget(run)
        self.eval_every = integer("eval_every", run["eval_every"], at_least=1)
        seed = integer("seed", run["seed"], at_least=0)
        recipe = pick_recipe(device, run["model"]) if recipe is None else recipe
        # Runs of one view and augmentation may share their device data (a pack: robustrepro.training.pack).
        data = DeviceData(prepared, view, device, run["augment"], recipe.channels_last) if data is None else data

        torch.manual_seed(derive_seed(seed, "init"))  # model initialisation draws from torch's global RNG
        model = recipe.place(_build_model(run["model"], prepared, view).to(device))
        self.ctx = ctx = TrainContext(run, seed, device, data, view, model, torch.compile(model) if recipe.compile
                                      else model, recipe, clustering=None if clustering is None else str(clustering))
        if run.get("clustering") and clustering is None:
            raise UserError("clustering: this run reads set-cover clusters; pass their file (train --clustering), "
                            "which the workflow builds from the run's clustering key")

        self.sampler = SAMPLERS.build(run["sampler"], ctx)
        # Schedules are planned on the first epoch's length; a sampler whose epochs change length
        # (facility location after its warm-up) is mapped onto that plan by `schedule_step`.
        self.planned_steps = ctx.steps_per_epoch = self.sampler.steps_per_epoch()
        # An iteration budget runs as many epochs as it takes; snapshots and the schedule plan
        # count them from the first epoch's length.
        self.epochs = epochs if epochs is not None else math.ceil(self.iterations / max(self.planned_steps, 1))
        self.snapshots = _snapshot_epochs(run["snapshots"], self.epochs)
        ctx.optimizer = build_optimizer(run["optimizer"], model.parameters())
        has_momentum = "momentum" in ctx.optimizer.defaults or "betas" in ctx.optimizer.defaults
        self.schedule = build_schedule(run["schedule"], Plan(ctx.optimizer.defaults["lr"], self.planned_steps,
                                                             self.epochs, has_momentum, self.iterations))
        self.step = STEPS.build(run["step"], ctx)
        ctx.update = self.trial_update
        self.metrics = build_metrics(run.get("metrics", []), ctx)
        self.stopper = build_early_stopping(run["early_stopping"])
        # Seed 004's cascading sum augmentation: the step's k halves at every plateau (methods/cascade.py).
        self.cascade = build_cascade(run, ctx, self.step, self.schedule)
        # The `best` snapshot: early stopping's best epoch, else the best validation accuracy, else
        # (seed 000's "checkpoint with the best test set performance") the best test accuracy of
        # the epochs that evaluate the test set. A cascade's run follows the cascade's tracker instead
        # (best_tracker), the epoch its metrics.json reports.
        if self.stopper is not None:
            self.best = Tracker("early_stopping", self.stopper.metric, self.stopper.mode)
        else:
            self.best = Tracker("snapshots", "val_acc1" if data.has("val") else "test_acc1", "max")
        # Early stopping reports its best epoch, which may be any epoch: test them all.
        self.test_every_epoch = self.stopper is not None or self.eval_every == 1 or (
            self.cascade is not None and self.cascade.metric in TEST_COLUMNS)  # so does a cascade on a test column
        every_epoch = [c for m in self.metrics for c in m.columns] + list(VAL_COLUMNS if data.has("val") else [])
        every_epoch += list(TEST_COLUMNS if self.test_every_epoch else [])
        for tracker in (self.stopper, self.schedule.tracker, self.cascade and self.cascade.tracker):
            if tracker is not None:
                tracker.require(every_epoch)
        eval_columns = TEST_COLUMNS + (VAL_COLUMNS if data.has("val") else ())
        self.step_log = None if run["step_log"] is None else StepLog(run["step_log"], ctx, eval_columns)
        if self.step_log is not None and self.step_log.probes and not self.step.takes_probe:
            raise UserError(f"step_log.metrics: grad_cosine measures the plain step's gradients; step "
                            f"{run['step']['name']!r} computes its own update. Use step weighted, or drop the metric")
        if recipe.compile and self.step_log is not None and self.step_log.probes:
            # A probe backpropagates the step's graph twice (retain_graph), which a compiled backward
            # refuses once it donates its saved buffers; torch's own message names this switch.
            torch._functorch.config.donated_buffer = False

        self.history: list[dict] = []
        self.epoch = 0  # epochs completed
        self.step_in_epoch = 0  # steps done of the epoch being trained (0 between epochs)
        self.epoch_lr = math.nan  # the lr at the start of the epoch being trained, for history.csv
        self.evaluated: tuple[int, dict] = (-1, {})  # (global step, split numbers) of the last evaluation
        # Called after every step (train_run: a checkpoint within the epoch when one is due).
        self.on_step: Callable[[], None] | None = None
        self.stopped_early = False
        self.earlier_s = 0.0  # wall time of the sessions before a resume
        self.session_start = time.perf_counter()
        self.sessions: list[dict] = []  # the earlier sessions that contributed epochs, from the checkpoint
        self.session = new_session(device_name(device), recipe)

    @property
    def parts(self) -> list:
        # The cascade first: a new phase sets the step's k before the other parts start the epoch.
        return [*([self.cascade] if self.cascade else []), self.sampler, self.step, *self.metrics]

    @property
    def budget_spent(self) -> bool:
        if self.iterations is not None:
            return self.ctx.global_step >= self.iterations
        return self.epoch >= self.epochs

    @property
    def finished(self) -> bool:
        return self.stopped_early or (self.step_in_epoch == 0 and self.budget_spent)

    @property
    def elapsed_s(self) -> float:
        return self.earlier_s + time.perf_counter() - self.session_start

    def start_epoch(self) -> None:
        ctx = self.ctx
        ctx.epoch = self.epoch + 1
        # Dropout and anything else that draws from torch's global RNG restart from the epoch's seed.
        torch.manual_seed(derive_seed(ctx.seed, ctx.epoch, "torch"))
        self.augment = ctx.generator("augment")
        ctx.model.train()
        for part in self.parts:
            part.start_epoch(ctx)
        ctx.steps_per_epoch = self.sampler.steps_per_epoch()
        self.epoch_lr = self.schedule.lr(self.schedule_step(0))

    def schedule_step(self, step_in_epoch: int) -> int:
        """The planned step at this point of the epoch: epoch milestones and annealing follow the
        share of the epoch done, not a count of optimizer steps that a shorter epoch would skew.
        Under an iteration budget the schedule is planned in steps: it is the global step."""
        ctx = self.ctx
        if self.iterations is not None:
            return ctx.global_step
        within = step_in_epoch * self.planned_steps // max(ctx.steps_per_epoch, 1)
        return (ctx.epoch - 1) * self.planned_steps + within

    def trial_update(self, batch: Batch) -> StepResult:
        """ctx.update: one update on `batch` (unaugmented) through the run's step, counted nowhere."""
        data = self.ctx.data
        return self.step(self.ctx, batch, data.inputs("train", batch.indices), data.labels("train", batch.indices))

    def train_steps(self, batches: Iterable[Batch], bar: tqdm | None = None) -> None:
        """The hot loop: no host sync here except a progress-bar refresh about once a second
        (and the step log's evaluation points, when the run asks for them)."""
        ctx, schedule, data = self.ctx, self.schedule, self.ctx.data
        shown = time.monotonic()
        batches = iter(batches)
        while self.step_in_epoch < ctx.steps_per_epoch:
            if self.iterations is not None and ctx.global_step >= self.iterations:
                break
            planned = self.schedule_step(self.step_in_epoch)
            lr = schedule.lr(planned)
            # Before the sampler draws the batch: one that tries updates on candidates (loss_delta)
            # tries them at this step's lr and momentum.
            set_hyperparameters(ctx.optimizer, lr, schedule.momentum(planned))
            batch = next(batches, None)
            if batch is None:
                break
            x = data.inputs("train", batch.indices, self.augment)
            ctx.probe = None if self.step_log is None else self.step_log.probe_for(ctx.global_step + 1)
            try:
                result = self.step(ctx, batch, x, data.labels("train", batch.indices))
            finally:
                ctx.probe = None  # trial updates (ctx.update) and other callers never probe
            ctx.global_step += 1
            self.step_in_epoch += 1
            for part in self.parts:
                part.after_step(ctx, batch, result)
            if self.step_log is not None and self.step_log.after_step(ctx, batch, result, lr, self.elapsed_s):
                self.step_log.evaluated(self.evaluate_splits())
            if self.on_step is not None:
                self.on_step()
            if bar is not None and not bar.disable:
                bar.update()
                if time.monotonic() - shown > 1.0:
                    bar.set_postfix(self.metrics[0].running())
                    shown = time.monotonic()

    def evaluate_splits(self, test: bool = True) -> dict:
        """The validation split's numbers (if any) and, when `test`, the test split's.

        Kept for the step they were taken at: an epoch end right after a step-log evaluation
        point (same weights) reuses them rather than evaluating the splits again."""
        ctx = self.ctx
        step, done = self.evaluated
        if step != ctx.global_step:
            done = {}
        if ctx.data.has("val") and "val_acc1" not in done:
            val = evaluate(ctx, "val", EVAL_BATCH_SIZE)
            done.update(val_acc1=val["acc1"], val_loss=val["loss"])
        if test and "test_acc1" not in done:
            result = evaluate(ctx, "test", EVAL_BATCH_SIZE)
            done.update(test_acc1=result["acc1"], test_acc5=result["acc5"], test_loss=result["loss"])
        self.evaluated = (ctx.global_step, done)
        return {k: v for k, v in done.items() if test or not k.startswith("test_")}

    def end_epoch(self) -> dict:
        ctx = self.ctx
        for part in self.parts:
            part.end_epoch(ctx)
        row = {"epoch": ctx.epoch, "lr": self.epoch_lr}
        for metric in self.metrics:
            row.update(metric.result(ctx))
        self.epoch, self.step_in_epoch = ctx.epoch, 0
        last = self.budget_spent
        row.update(self.evaluate_splits(test=self.test_every_epoch or ctx.epoch % self.eval_every == 0 or last))
        row.update({c: row.get(c, math.nan) for c in TEST_COLUMNS})
        row["time_s"] = self.elapsed_s
        if self.step_log is not None:
            self.step_log.flush()

        self.schedule.end_epoch(ctx.epoch, row)
        if self.stopper is not None:
            self.stopper.update(ctx.epoch, row)
            self.stopped_early = self.stopper.should_stop() and not last
        self.best.update(ctx.epoch, row)
        if self.cascade is not None:
            self.cascade.after_evaluation(ctx, row)
            self.stopped_early = self.cascade.finished and not last
        self.history.append(row)
        if self.session["first_epoch"] is None:
            self.session["first_epoch"] = self.epoch
        self.session.update(last_epoch=self.epoch, ended=now())
        return row

    def fit_epoch(self, progress: bool = False) -> dict:
        """Train the next epoch, or the rest of the one a mid-epoch checkpoint was taken in."""
        if self.step_in_epoch == 0:
            self.start_epoch()
            batches = self.sampler.batches(self.ctx)
        else:
            batches = self.sampler.resume_batches(self.ctx, self.step_in_epoch)
        # In a job's log file (not a terminal) a bar redrawn many times a second buries the
        # epoch lines: there it writes a line every 30 s, enough to see a long epoch move.
        interactive = sys.stderr.isatty()
        total = self.ctx.steps_per_epoch
        if self.iterations is not None:
            total = min(total, self.step_in_epoch + self.iterations - self.ctx.global_step)
        with tqdm(total=total, initial=self.step_in_epoch, desc=f"epoch {self.ctx.epoch}/{self.epochs}",
                  unit="batch", file=sys.stderr, disable=not progress, leave=False,
                  mininterval=0.1 if interactive else 30, ascii=not interactive) as bar:
            self.train_steps(batches, bar)
        return self.end_epoch()

    def all_sessions(self) -> list[dict]:
        """Every session that trained epochs of these weights, this one included once it has."""
        mine = [dict(self.session)] if self.session["first_epoch"] is not None else []
        return [dict(s) for s in self.sessions] + mine

    def provenance(self) -> dict:
        """What the current weights were computed from, and by which processes."""
        return {"data": self.inputs["data"], "code": self.inputs["code"], "sessions": self.all_sessions()}

    def save_snapshot(self, checkpoint_path, tag: int | str) -> None:
        save_snapshot(snapshot_path(checkpoint_path, tag), self.ctx.model, self.run, self.epoch, self.provenance())

    def save_epoch_snapshots(self, checkpoint_path) -> None:
        """The model copies the epoch just trained calls for: a listed epoch, a new best."""
        if self.epoch in self.snapshots:
            self.save_snapshot(checkpoint_path, self.epoch)
        if self.best_tracker.best_epoch == self.epoch:
            self.save_snapshot(checkpoint_path, "best")

    @property
    def best_tracker(self) -> Tracker:
        """What the `best` snapshot follows: the cascade's current phase (updated at the epoch's end), else `best`."""
        return self.cascade.tracker if self.cascade is not None else self.best

    def state_dict(self) -> dict:
        state = {
            "run_json": canonical_json(self.run), "epoch": self.epoch, "global_step": self.ctx.global_step,
            "stopped_early": self.stopped_early, "elapsed_s": self.elapsed_s, "history": self.history,
            "model": self.ctx.model.state_dict(), "optimizer": self.ctx.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(), "sampler": self.sampler.state_dict(),
            "step": self.step.state_dict(), "metrics": [m.state_dict() for m in self.metrics],
            "early_stopping": None if self.stopper is None else self.stopper.state_dict(),
            "best": self.best.state_dict(), "inputs": self.inputs, "sessions": self.all_sessions(),
            "step_log": None if self.step_log is None else self.step_log.state_dict(),
            "step_in_epoch": self.step_in_epoch,
            "cascade": None if self.cascade is None else self.cascade.state_dict(),
        }
        if self.step_in_epoch:  # within an epoch: where its random draws have got to
            state.update(epoch_lr=self.epoch_lr, rng=self._rng_state())
        return state

    def _rng_state(self) -> dict:
        rng = {"torch": torch.get_rng_state(), "augment": self.augment.get_state()}
        if self.ctx.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.ctx.device)
        return rng

    def load_state_dict(self, state: dict) -> None:
        self.ctx.model.load_state_dict(state["model"])
        self.ctx.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        if self.stopper is not None:
            self.stopper.load_state_dict(state["early_stopping"])
        self.best.load_state_dict(state["best"])
        if self.cascade is not None:  # before the epoch is started again: it sets the step's k
            self.cascade.load_state_dict(state["cascade"])
        self.epoch = self.ctx.epoch = state["epoch"]
        self.ctx.global_step = state["global_step"]
        self.stopped_early = state["stopped_early"]
        self.history = list(state["history"])
        self.earlier_s = state["elapsed_s"]
        self.session_start = time.perf_counter()
        self.sessions = [dict(s) for s in state.get("sessions", [])]
        if self.step_log is not None:
            self.step_log.load_state_dict(state["step_log"])
        self.step_in_epoch = state.get("step_in_epoch", 0)
        self._load_parts(state)
        if self.step_in_epoch:
            # Back inside the epoch: start it as it was started, then put back what the parts
            # had accumulated and the generators had drawn by then.
            self.start_epoch()
            self._load_parts(state)
            self.epoch_lr = state["epoch_lr"]
            torch.set_rng_state(state["rng"]["torch"])
            self.augment.set_state(state["rng"]["augment"])
            if "cuda" in state["rng"]:
                torch.cuda.set_rng_state(state["rng"]["cuda"], self.ctx.device)

    def _load_parts(self, state: dict) -> None:
        self.sampler.load_state_dict(state["sampler"])
        self.step.load_state_dict(state["step"])
        for metric, metric_state in zip(self.metrics, state["metrics"]):
            metric.load_state_dict(metric_state)

    def summary(self) -> dict:
        """metrics.json: the reported epoch's numbers (the best one under early stopping or of a cascade's last
        phase) and provenance."""
        best = self.stopper.best_epoch if self.stopper is not None else None
        if self.cascade is not None:  # the best epoch of the last phase: the seed's best checkpoint
            best = self.cascade.best_epoch
        reported = self.history[best - 1] if best else self.history[-1]
        return {
            **{k: v for k, v in reported.items() if k != "time_s"}, **self.sampler.summary(),
            "epochs_done": self.epoch, "steps_done": self.ctx.global_step, "best_epoch": best, "stopped_early": self.stopped_early,
            "wall_time_s": self.history[-1]["time_s"], "run_id": run_id(self.run), "seed": self.ctx.seed,
            "provenance": {"run": self.run, **self.provenance()},
        }


def _build_model(config: dict, prepared: Prepared, view: View) -> torch.nn.Module:
    options = dict(config)
    channels, height, _ = prepared.shape
    return build_model(options.pop("name"), channels, view.num_classes, height, **options)


def load_model_snapshot(path, prepared: Prepared, view: View, device: torch.device | str = "cpu",
                        recipe: Recipe | None = None) -> torch.nn.Module:
    """The model of snapshot `path`, built as its run built it, on `device` in `recipe`'s layout (by default
    the device's for that model) and in eval mode."""
    state = load_snapshot(path)
    run = json.loads(state["run_json"])
    device = torch.device(device)
    recipe = pick_recipe(device, run["model"]) if recipe is None else recipe
    with torch.random.fork_rng(devices=[]):  # building draws initial weights: leave the caller's RNG alone
        model = _build_model(run["model"], prepared, view)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise UserError(f"model snapshot {path} does not fit this data ({view.num_classes} classes, inputs "
                        f"{prepared.shape}): extract with the dataset and view its run trained on") from exc
    return recipe.place(model.to(device)).eval()

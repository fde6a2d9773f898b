"""The training loop, composed from the parts: device data, sampler, step, schedule, metrics.

`train_run` is one whole run: take the run's lock, build the parts, resume from the checkpoint
if it was computed from the same data and code and is not of a finished run, train epoch by
epoch (checkpoint and history.csv after each), then write metrics.json.
Beside the checkpoint it keeps model snapshots (see checkpoint.py): the epochs listed in the
run's `snapshots`, the best epoch and the final weights; `load_model_snapshot` reads one back.
Every random draw of an epoch comes from generators derived from (seed, epoch, purpose), so a
run resumed at any epoch boundary ends with the same numbers as an uninterrupted one (on a CPU).
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from pathlib import Path
from typing import Iterable

import torch
from tqdm import tqdm

from robustrepro.data.prepared import Prepared, load_prepared
from robustrepro.errors import UserError
from robustrepro.models import build_model
from robustrepro.provenance import code_fingerprint, input_digests, now
from robustrepro.runs import canonical_json, resolve, run_id
from robustrepro.training.checkpoint import (load_checkpoint, load_snapshot, save_checkpoint, save_snapshot,
                                             snapshot_path, stale_because)
from robustrepro.training.context import Batch, TrainContext
from robustrepro.compute.device import device_name, pick_device, set_threads
from robustrepro.compute.device_data import DeviceData
from robustrepro.training.early_stopping import Tracker, build_early_stopping
from robustrepro.training.metrics import build_metrics, evaluate
from robustrepro.training.optim import build_optimizer
from robustrepro.training.lock import run_lock
from robustrepro.training.outputs import new_session, write_history, write_metrics
from robustrepro.training.samplers import SAMPLERS
from robustrepro.training.schedules import Plan, build_schedule, set_hyperparameters
from robustrepro.training.seeding import derive_seed
from robustrepro.training.steps import STEPS
from robustrepro.views import View, load_view

log = logging.getLogger(__name__)

EVAL_BATCH_SIZE = 1024
TEST_COLUMNS = ("test_acc1", "test_acc5", "test_loss")
VAL_COLUMNS = ("val_acc1", "val_loss")


def _integer(key: str, value, at_least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < at_least:
        raise UserError(f"{key}: must be an integer >= {at_least}; got {value!r}")
    return value


def _snapshot_epochs(value, epochs: int) -> frozenset[int]:
    if not isinstance(value, (list, tuple)) or any(
            isinstance(e, bool) or not isinstance(e, int) or not 1 <= e <= epochs for e in value):
        raise UserError(f"snapshots: a list of epochs between 1 and epochs ({epochs}) after which to keep the model; "
                        f"got {value!r}")
    return frozenset(value)


class Trainer:
    """One run's parts and progress. fit_epoch = start_epoch + train_steps + end_epoch."""

    def __init__(self, run: dict, prepared: Prepared, view: View, device: torch.device, compile: bool = False,
                 clustering: str | None = None, inputs: dict | None = None):
        self.run = run
        self.inputs = inputs or {"data": None, "code": None}  # what train_run digested (robustrepro.provenance)
        self.epochs = _integer("epochs", run["epochs"], 1)
        self.eval_every = _integer("eval_every", run["eval_every"], 1)
        seed = _integer("seed", run["seed"], 0)
        self.snapshots = _snapshot_epochs(run["snapshots"], self.epochs)
        data = DeviceData(prepared, view, device, run["augment"])

        torch.manual_seed(derive_seed(seed, "init"))  # model initialisation draws from torch's global RNG
        model = _place(_build_model(run["model"], prepared, view), device)
        self.ctx = ctx = TrainContext(run, seed, device, data, view, model, torch.compile(model) if compile else model,
                                      clustering=None if clustering is None else str(clustering))
        if run.get("clustering") and clustering is None:
            raise UserError("clustering: this run reads set-cover clusters; pass their file (train --clustering), "
                            "which the workflow builds from the run's clustering key")

        self.sampler = SAMPLERS.build(run["sampler"], ctx)
        # Schedules are planned on the first epoch's length; a sampler whose epochs change length
        # (facility location after its warm-up) is mapped onto that plan by `schedule_step`.
        self.planned_steps = ctx.steps_per_epoch = self.sampler.steps_per_epoch()
        ctx.optimizer = build_optimizer(run["optimizer"], model.parameters())
        has_momentum = "momentum" in ctx.optimizer.defaults or "betas" in ctx.optimizer.defaults
        self.schedule = build_schedule(run["schedule"], Plan(ctx.optimizer.defaults["lr"], self.planned_steps,
                                                             self.epochs, has_momentum))
        self.step = STEPS.build(run["step"], ctx)
        self.metrics = build_metrics(run.get("metrics", []), ctx)
        self.stopper = build_early_stopping(run["early_stopping"])
        # The `best` snapshot: early stopping's best epoch, else the best validation accuracy, else
        # (seed 000's "checkpoint with the best test set performance") the best test accuracy of
        # the epochs that evaluate the test set.
        if self.stopper is not None:
            self.best = Tracker("early_stopping", self.stopper.metric, self.stopper.mode)
        else:
            self.best = Tracker("snapshots", "val_acc1" if data.has("val") else "test_acc1", "max")
        # Early stopping reports its best epoch, which may be any epoch: test them all.
        self.test_every_epoch = self.stopper is not None or self.eval_every == 1
        every_epoch = [c for m in self.metrics for c in m.columns] + list(VAL_COLUMNS if data.has("val") else [])
        every_epoch += list(TEST_COLUMNS if self.test_every_epoch else [])
        for tracker in (self.stopper, self.schedule.tracker):
            if tracker is not None:
                tracker.require(every_epoch)

        self.history: list[dict] = []
        self.epoch = 0  # epochs completed
        self.stopped_early = False
        self.earlier_s = 0.0  # wall time of the sessions before a resume
        self.session_start = time.perf_counter()
        self.sessions: list[dict] = []  # the earlier sessions that contributed epochs, from the checkpoint
        self.session = new_session(device_name(device))

    @property
    def parts(self) -> list:
        return [self.sampler, self.step, *self.metrics]

    @property
    def finished(self) -> bool:
        return self.stopped_early or self.epoch >= self.epochs

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

    def schedule_step(self, step_in_epoch: int) -> int:
        """The planned step at this point of the epoch: epoch milestones and annealing follow the
        share of the epoch done, not a count of optimizer steps that a shorter epoch would skew."""
        ctx = self.ctx
        within = step_in_epoch * self.planned_steps // max(ctx.steps_per_epoch, 1)
        return (ctx.epoch - 1) * self.planned_steps + within

    def train_steps(self, batches: Iterable[Batch], bar: tqdm | None = None) -> None:
        """The hot loop: no host sync here except a progress-bar refresh about once a second."""
        ctx, schedule, data = self.ctx, self.schedule, self.ctx.data
        shown = time.monotonic()
        for i, batch in enumerate(batches):
            planned = self.schedule_step(i)
            set_hyperparameters(ctx.optimizer, schedule.lr(planned), schedule.momentum(planned))
            x = data.inputs("train", batch.indices, self.augment)
            result = self.step(ctx, batch, x, data.labels("train", batch.indices))
            for metric in self.metrics:
                metric.update(ctx, batch, result)
            ctx.global_step += 1
            if bar is not None and not bar.disable:
                bar.update()
                if time.monotonic() - shown > 1.0:
                    bar.set_postfix(self.metrics[0].running())
                    shown = time.monotonic()

    def end_epoch(self, lr: float) -> dict:
        ctx = self.ctx
        for part in self.parts:
            part.end_epoch(ctx)
        row = {"epoch": ctx.epoch, "lr": lr}
        for metric in self.metrics:
            row.update(metric.result(ctx))
        if ctx.data.has("val"):
            val = evaluate(ctx, "val", EVAL_BATCH_SIZE)
            row.update(val_acc1=val["acc1"], val_loss=val["loss"])
        if self.test_every_epoch or ctx.epoch % self.eval_every == 0 or ctx.epoch == self.epochs:
            test = evaluate(ctx, "test", EVAL_BATCH_SIZE)
            row.update(test_acc1=test["acc1"], test_acc5=test["acc5"], test_loss=test["loss"])
        else:
            row.update(dict.fromkeys(TEST_COLUMNS, math.nan))
        row["time_s"] = self.elapsed_s

        self.schedule.end_epoch(ctx.epoch, row)
        if self.stopper is not None:
            self.stopper.update(ctx.epoch, row)
            self.stopped_early = self.stopper.should_stop() and ctx.epoch < self.epochs
        self.best.update(ctx.epoch, row)
        self.history.append(row)
        self.epoch = ctx.epoch
        if self.session["first_epoch"] is None:
            self.session["first_epoch"] = self.epoch
        self.session.update(last_epoch=self.epoch, ended=now())
        return row

    def fit_epoch(self, progress: bool = False) -> dict:
        self.start_epoch()
        lr = self.schedule.lr(self.schedule_step(0))
        # In a job's log file (not a terminal) a bar redrawn many times a second buries the
        # epoch lines: there it writes a line every 30 s, enough to see a long epoch move.
        interactive = sys.stderr.isatty()
        with tqdm(total=self.ctx.steps_per_epoch, desc=f"epoch {self.ctx.epoch}/{self.epochs}", unit="batch",
                  file=sys.stderr, disable=not progress, leave=False, mininterval=0.1 if interactive else 30,
                  ascii=not interactive) as bar:
            self.train_steps(self.sampler.batches(self.ctx), bar)
        return self.end_epoch(lr)

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
        if self.best.best_epoch == self.epoch:
            self.save_snapshot(checkpoint_path, "best")

    def state_dict(self) -> dict:
        return {
            "run_json": canonical_json(self.run), "epoch": self.epoch, "global_step": self.ctx.global_step,
            "stopped_early": self.stopped_early, "elapsed_s": self.elapsed_s, "history": self.history,
            "model": self.ctx.model.state_dict(), "optimizer": self.ctx.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(), "sampler": self.sampler.state_dict(),
            "step": self.step.state_dict(), "metrics": [m.state_dict() for m in self.metrics],
            "early_stopping": None if self.stopper is None else self.stopper.state_dict(),
            "best": self.best.state_dict(), "inputs": self.inputs, "sessions": self.all_sessions(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.ctx.model.load_state_dict(state["model"])
        self.ctx.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.sampler.load_state_dict(state["sampler"])
        self.step.load_state_dict(state["step"])
        for metric, metric_state in zip(self.metrics, state["metrics"]):
            metric.load_state_dict(metric_state)
        if self.stopper is not None:
            self.stopper.load_state_dict(state["early_stopping"])
        self.best.load_state_dict(state["best"])
        self.epoch = self.ctx.epoch = state["epoch"]
        self.ctx.global_step = state["global_step"]
        self.stopped_early = state["stopped_early"]
        self.history = list(state["history"])
        self.earlier_s = state["elapsed_s"]
        self.session_start = time.perf_counter()
        self.sessions = [dict(s) for s in state.get("sessions", [])]

    def summary(self) -> dict:
        """metrics.json: the reported epoch's numbers (the best one under early stopping) and provenance."""
        best = self.stopper.best_epoch if self.stopper is not None else None
        reported = self.history[best - 1] if best else self.history[-1]
        return {
            **{k: v for k, v in reported.items() if k != "time_s"}, **self.sampler.summary(),
            "epochs_done": self.epoch, "best_epoch": best, "stopped_early": self.stopped_early,
            "wall_time_s": self.history[-1]["time_s"], "run_id": run_id(self.run), "seed": self.ctx.seed,
            "provenance": {"run": self.run, **self.provenance()},
        }


def _build_model(config: dict, prepared: Prepared, view: View) -> torch.nn.Module:
    options = dict(config)
    channels, height, _ = prepared.shape
    return build_model(options.pop("name"), channels, view.num_classes, height, **options)


def _place(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    model = model.to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    return model


def load_model_snapshot(path, prepared: Prepared, view: View, device: torch.device | str = "cpu") -> torch.nn.Module:
    """The model of snapshot `path`, built as its run built it, on `device` and in eval mode."""
    state = load_snapshot(path)
    run = json.loads(state["run_json"])
    with torch.random.fork_rng(devices=[]):  # building draws initial weights: leave the caller's RNG alone
        model = _build_model(run["model"], prepared, view)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise UserError(f"model snapshot {path} does not fit this data ({view.num_classes} classes, inputs "
                        f"{prepared.shape}): extract with the dataset and view its run trained on") from exc
    return _place(model, torch.device(device)).eval()


def _describe(row: dict) -> str:
    shown = ["lr", "train_loss", "train_acc", "noisy_acc", "val_acc1", "test_acc1"]
    parts = [f"{k} {row[k]:.4g}" for k in shown if k in row and not math.isnan(row[k])]
    return f"epoch {row['epoch']}: " + " ".join(parts) + f" ({row['time_s']:.1f} s)"


def train_run(run: dict, prepared_path, view_path, out_dir, checkpoint_path, device: str = "auto",
              threads: int | None = None, progress: bool = True, compile: bool = False,
              clustering: str | None = None, lock_timeout: float | None = None) -> dict:
    """Train one run (resuming from `checkpoint_path` when it may); returns metrics.json's content.

    Another process training the same run is waited for (see lock.py): forever, or at most
    `lock_timeout` seconds.
    """
    try:
        run = resolve(run)
    except KeyError as exc:
        raise UserError(exc.args[0]) from None
    set_threads(threads)
    code = code_fingerprint()  # now, before any wait: the code this process imported at its start
    checkpoint_path, out_dir = Path(checkpoint_path), Path(out_dir)
    before = _file_state(checkpoint_path)
    with run_lock(checkpoint_path, run_id(run), lock_timeout) as lock:
        # Whether the checkpoint changed while we waited: then the holder wrote it, and a finished
        # run it leaves is one this job asked for, not the leftover of a build that is being forced.
        written_meanwhile = lock.waited and _file_state(checkpoint_path) != before
        return _train_locked(run, prepared_path, view_path, out_dir, checkpoint_path, device, progress, compile,
                             clustering, code, written_meanwhile)


def _file_state(path: Path) -> tuple | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size  # a checkpoint is replaced by a rename: a new inode


def _train_locked(run: dict, prepared_path, view_path, out_dir: Path, checkpoint_path: Path, device: str,
                  progress: bool, compile: bool, clustering: str | None, code: dict, written_meanwhile: bool) -> dict:
    rid = run_id(run)
    torch_device = pick_device(device)
    state = load_checkpoint(checkpoint_path, run)  # another run's checkpoint fails before any loading
    trainer = Trainer(run, load_prepared(prepared_path), load_view(view_path), torch_device, compile=compile,
                      clustering=clustering)
    # Digested once loaded, so that a missing or corrupt file gets its loader's message.
    trainer.inputs = {"data": input_digests(prepared=prepared_path, view=view_path, clustering=clustering),
                      "code": code}
    stale = [] if state is None else stale_because(state, trainer.inputs)
    if state is not None and not stale and (state["stopped_early"] or state["epoch"] >= trainer.epochs):
        if written_meanwhile:
            trainer.load_state_dict(state)
            log.info("run %s: the process we waited for finished it; keeping its results", rid)
            return _write_results(trainer, out_dir)
        # Snakemake deletes a job's outputs before it runs it, so a job that finds its run
        # finished was forced (--forcerun, -F) or lost its metrics.json: it must train again.
        stale = [f"its run finished (after epoch {state['epoch']}) and its outputs are gone or a rebuild was forced"]
    # A metrics.json here describes other weights than those this session is about to train.
    (out_dir / "metrics.json").unlink(missing_ok=True)
    if state is not None and not stale:
        trainer.load_state_dict(state)
        log.info("run %s: resuming from %s after epoch %d", rid, checkpoint_path, trainer.epoch)
    else:
        if state is not None:
            log.info("run %s: not resuming %s, training from scratch: %s", rid, checkpoint_path, "; ".join(stale))
        _remove_stale_outputs(trainer, checkpoint_path, out_dir)
        log.info("run %s: training %d epochs on %s", rid, trainer.epochs, device_name(torch_device))
    while not trainer.finished:
        row = trainer.fit_epoch(progress)
        trainer.save_epoch_snapshots(checkpoint_path)  # before the checkpoint: a rerun of this epoch rewrites them
        if trainer.finished:
            # Results before the last checkpoint: a kill in between leaves the previous epoch's
            # checkpoint, so the rerun trains one epoch again rather than the whole run.
            trainer.save_snapshot(checkpoint_path, "final")
            metrics = _write_results(trainer, out_dir)
        else:
            write_history(out_dir / "history.csv", trainer.history)
        save_checkpoint(checkpoint_path, trainer.state_dict())
        log.info("%s", _describe(row))
    if trainer.stopped_early:
        log.info("early stopping after epoch %d; reporting epoch %d", trainer.epoch, trainer.stopper.best_epoch)
    return metrics


def _write_results(trainer: Trainer, out_dir: Path) -> dict:
    metrics = trainer.summary()
    write_history(out_dir / "history.csv", trainer.history)
    write_metrics(out_dir / "metrics.json", metrics)
    return metrics


def _remove_stale_outputs(trainer: Trainer, checkpoint_path: Path, out_dir: Path) -> None:
    """What an earlier training of this run left: a run stopped earlier this time would not overwrite it all,
    and extraction must not read another training's snapshots."""
    for tag in [*sorted(trainer.snapshots), "best", "final"]:
        snapshot_path(checkpoint_path, tag).unlink(missing_ok=True)
    (out_dir / "history.csv").unlink(missing_ok=True)

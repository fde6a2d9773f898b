"""One run as a job: take the run's lock, open its Trainer (resumed from the checkpoint when that
was computed from the same run, data and code, kept as it is when that run finished), train epoch
by epoch with a checkpoint and history.csv after each (steps.csv too when the run keeps a step
log, and a checkpoint within an epoch every `checkpoint_seconds`), then write metrics.json.
robustrepro.training.pack opens and ends its runs' epochs with the same functions.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Callable

import torch

from robustrepro import paths
from robustrepro.compute.device import device_name, pick_device, set_threads
from robustrepro.compute.device_data import DeviceData
from robustrepro.compute.recipe import Recipe, pick_recipe
from robustrepro.data.prepared import Prepared, load_prepared
from robustrepro.errors import UserError
from robustrepro.provenance import code_fingerprint, input_digests
from robustrepro.runs import resolve, run_id
from robustrepro.training import perfect_ordering
from robustrepro.training.checkpoint import load_checkpoint, save_checkpoint, snapshot_path, stale_because
from robustrepro.training.lock import run_lock
from robustrepro.training.outputs import write_history, write_metrics
from robustrepro.training.trainer import Trainer
from robustrepro.views import View, check_inputs, load_view

log = logging.getLogger(__name__)


def _describe(row: dict) -> str:
    shown = ["lr", "train_loss", "train_acc", "noisy_acc", "val_acc1", "test_acc1"]
    parts = [f"{k} {row[k]:.4g}" for k in shown if k in row and not math.isnan(row[k])]
    return f"epoch {row['epoch']}: " + " ".join(parts) + f" ({row['time_s']:.1f} s)"


CHECKPOINT_SECONDS = 600.0  # within an epoch, at most this much training is lost to a kill


def train_run(run: dict, prepared_path, view_path, out_dir, checkpoint_path, device: str = "auto",
              threads: int | None = None, progress: bool = True, compile: bool = False,
              clustering: str | None = None, lock_timeout: float | None = None,
              checkpoint_seconds: float = CHECKPOINT_SECONDS, precision: str = "auto",
              channels_last="auto") -> dict:
    """Train one run (resuming from `checkpoint_path` when it may); returns metrics.json's content.

    precision, channels_last and compile pick the recipe (robustrepro.compute.recipe): `auto` is
    the device's own.
    Another process training the same run is waited for (see lock.py): forever, or at most
    `lock_timeout` seconds. Besides the checkpoint after every epoch, one is written within an
    epoch once `checkpoint_seconds` have passed since the last (0: after every step).
    """
    try:
        run = resolve(run)
    except KeyError as exc:
        raise UserError(exc.args[0]) from None
    check_inputs(run, prepared_path, view_path)  # the run's dataset, and a view made for it from that file
    set_threads(threads)
    torch_device = pick_device(device)
    recipe = pick_recipe(torch_device, run["model"], precision, channels_last, compile)
    code = code_fingerprint()  # now, before any wait: the code this process imported at its start
    checkpoint_path, out_dir = Path(checkpoint_path), Path(out_dir)
    before = file_state(checkpoint_path)
    with run_lock(checkpoint_path, run_id(run), lock_timeout) as lock:
        # Whether the checkpoint changed while we waited: then the holder wrote it, and a finished
        # run it leaves is one this job asked for, not the leftover of a build that is being forced.
        written_meanwhile = lock.waited and file_state(checkpoint_path) != before
        if run["orderings"] is not None:  # seed 004's every-order experiment: many runs side by side
            return perfect_ordering.train_orderings(run, prepared_path, view_path, out_dir, checkpoint_path, device,
                                                    progress, code=code, written_meanwhile=written_meanwhile)
        return _train_locked(run, prepared_path, view_path, out_dir, checkpoint_path, torch_device, progress, recipe,
                             clustering, code, written_meanwhile, checkpoint_seconds)


def file_state(path: Path) -> tuple | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size  # a checkpoint is replaced by a rename: a new inode


def _train_locked(run: dict, prepared_path, view_path, out_dir: Path, checkpoint_path: Path,
                  torch_device: torch.device, progress: bool, recipe: Recipe, clustering: str | None, code: dict,
                  written_meanwhile: bool, checkpoint_seconds: float) -> dict:
    trainer, metrics = open_run(run, load_prepared(prepared_path), load_view(view_path), torch_device, out_dir,
                                checkpoint_path, code, written_meanwhile, recipe=recipe, clustering=clustering,
                                inputs={"prepared": prepared_path, "view": view_path, "clustering": clustering})
    if metrics is not None:
        return metrics
    trainer.on_step = _checkpoint_within_epochs(trainer, checkpoint_path, checkpoint_seconds)
    while not trainer.finished:
        metrics = end_of_epoch(trainer, trainer.fit_epoch(progress), checkpoint_path, out_dir)
    return metrics


def open_run(run: dict, prepared: Prepared, view: View, torch_device: torch.device, out_dir: Path,
             checkpoint_path: Path, code: dict, written_meanwhile: bool, inputs: dict, recipe: Recipe | None = None,
             clustering: str | None = None, data: DeviceData | None = None) -> tuple[Trainer, dict | None]:
    """The run's Trainer, resumed from its checkpoint where that may be, and the run's metrics when it is
    finished already and kept (then there is nothing to train). `inputs` names the files digested for
    provenance (prepared, view, clustering)."""
    rid = run_id(run)
    state = load_checkpoint(checkpoint_path, run)  # another run's checkpoint fails before any loading
    trainer = Trainer(run, prepared, view, torch_device, recipe, clustering=clustering, data=data)
    # Digested once loaded, so that a missing or corrupt file gets its loader's message.
    trainer.inputs = {"data": input_digests(**inputs), "code": code}
    stale = [] if state is None else stale_because(state, trainer.inputs)
    if state is not None and not stale and _finished(state, trainer):
        # The same run, data and code finished it: another job we waited for, an orphan of a killed
        # Snakemake, a pack now trained alone (or the reverse), or a forced rebuild. Training again
        # would give the same numbers; its results are written again from the checkpoint instead.
        # To train it from scratch, delete its checkpoint (docs/pipeline.md).
        trainer.load_state_dict(state)
        why = "the process we waited for" if written_meanwhile else "an earlier job"
        log.info("run %s: %s finished it with the same run, data and code; keeping its results", rid, why)
        return trainer, _write_results(trainer, out_dir)
    # A metrics.json here describes other weights than those this session is about to train.
    (out_dir / paths.METRICS).unlink(missing_ok=True)
    if state is not None and not stale:
        trainer.load_state_dict(state)
        within = f", step {trainer.step_in_epoch} of epoch {trainer.epoch + 1}" if trainer.step_in_epoch else ""
        log.info("run %s: resuming from %s after epoch %d%s", rid, checkpoint_path, trainer.epoch, within)
    else:
        if state is not None:
            log.info("run %s: not resuming %s, training from scratch: %s", rid, checkpoint_path, "; ".join(stale))
        _remove_stale_outputs(trainer, checkpoint_path, out_dir)
        budget = f"{trainer.iterations} iterations" if trainer.iterations else f"{trainer.epochs} epochs"
        log.info("run %s: training %s on %s", rid, budget, device_name(torch_device))
    return trainer, None


def end_of_epoch(trainer: Trainer, row: dict, checkpoint_path: Path, out_dir: Path) -> dict | None:
    """After an epoch: snapshots, history (and the results when the run is done), the checkpoint.
    Returns metrics.json's content once the run is finished."""
    metrics = None
    trainer.save_epoch_snapshots(checkpoint_path)  # before the checkpoint: a rerun of this epoch rewrites them
    if trainer.finished:
        # Results before the last checkpoint: a kill in between leaves the previous epoch's
        # checkpoint, so the rerun trains one epoch again rather than the whole run.
        trainer.save_snapshot(checkpoint_path, "final")
        metrics = _write_results(trainer, out_dir)
    else:
        _write_logs(trainer, out_dir)
    save_checkpoint(checkpoint_path, trainer.state_dict())
    log.info("run %s %s", run_id(trainer.run), _describe(row))
    if metrics is not None and trainer.stopped_early:
        log.info("run %s: early stopping after epoch %d; reporting epoch %d", run_id(trainer.run), trainer.epoch,
                 metrics["best_epoch"])
    return metrics


def _finished(state: dict, trainer: Trainer) -> bool:
    """Whether the checkpoint `state` is of a run that trained to its end."""
    if state["stopped_early"]:
        return True
    if state.get("step_in_epoch", 0):
        return False
    if trainer.iterations is not None:
        return state["global_step"] >= trainer.iterations
    return state["epoch"] >= trainer.epochs


def _checkpoint_within_epochs(trainer: Trainer, checkpoint_path: Path, seconds: float) -> Callable[[], None]:
    last = time.monotonic()

    def maybe_checkpoint() -> None:
        nonlocal last
        # Only the host clock is read per step; the checkpoint itself syncs, rarely.
        if time.monotonic() - last >= seconds and trainer.step_in_epoch < trainer.ctx.steps_per_epoch:
            save_checkpoint(checkpoint_path, trainer.state_dict())
            last = time.monotonic()

    return maybe_checkpoint


def _write_logs(trainer: Trainer, out_dir: Path) -> None:
    write_history(out_dir / paths.HISTORY, trainer.history)
    if trainer.step_log is not None:
        write_history(out_dir / "steps.csv", trainer.step_log.flush(), trainer.step_log.columns)


def _write_results(trainer: Trainer, out_dir: Path) -> dict:
    metrics = trainer.summary()
    _write_logs(trainer, out_dir)
    write_metrics(out_dir / paths.METRICS, metrics)
    return metrics


def _remove_stale_outputs(trainer: Trainer, checkpoint_path: Path, out_dir: Path) -> None:
    """What an earlier training of this run left: a run stopped earlier this time would not overwrite it all,
    and extraction must not read another training's snapshots."""
    for tag in [*sorted(trainer.snapshots), "best", "final"]:
        snapshot_path(checkpoint_path, tag).unlink(missing_ok=True)
    (out_dir / paths.HISTORY).unlink(missing_ok=True)
    (out_dir / "steps.csv").unlink(missing_ok=True)

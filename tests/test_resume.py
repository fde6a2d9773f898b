"""Kill-and-resume determinism, for real: SIGKILL a run after its epoch-2 checkpoint, resume it,
and compare with an uninterrupted run in another directory."""

import csv
import json
import subprocess
import sys
import time

import pytest
import torch

from robustrepro.data.prepared import save_prepared
from robustrepro.errors import UserError
from robustrepro.views import save_view
from robustrepro.training.checkpoint import FORMAT
from toydata import toy_data

EPOCHS = 6
# Everything that carries state across epochs: momentum and weight decay (optimizer state),
# one-cycle (global step), dropout (torch's global RNG), crops and flips (augment generator),
# early stopping (its best so far; patience too long to stop).
RUN = {"model": {"name": "lenet", "width": 0.5, "dropout": 0.2}, "epochs": EPOCHS, "batch_size": 32,
       "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4},
       "schedule": {"name": "onecycle"}, "augment": {"crop": 2, "flip": True},
       "early_stopping": {"patience": 50, "metric": "val_acc1"}}

TRAIN = ("import json, logging, sys; from robustrepro.training import train_run; "
         "logging.basicConfig(level=logging.INFO); "
         "train_run(json.loads(sys.argv[1]), *sys.argv[2:], device='cpu', threads=1, progress=False)")


def write_toy(folder, n_train=1600, n_val=200, n_test=200):
    """The toy problem (20 % of the labels wrong) saved as toy.npz and view.npz in folder."""
    prepared, view = toy_data(n_train + n_val, n_test, n_val, noisy=0.2, background=120, patch=200)
    save_prepared(folder / "toy.npz", prepared)
    save_view(folder / "view.npz", view)


def start(folder, out):
    return subprocess.Popen([sys.executable, "-c", TRAIN, json.dumps(RUN), str(folder / "toy.npz"),
                             str(folder / "view.npz"), str(out), str(out / "last.pt")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def checkpoint_epoch(path):
    try:
        return torch.load(path, map_location="cpu", weights_only=True)["epoch"]
    except FileNotFoundError:
        return 0


def history(out):
    with open(out / "history.csv") as f:
        return [{k: v for k, v in row.items() if k != "time_s"} for row in csv.DictReader(f)]


def metrics(out):
    return {k: v for k, v in json.loads((out / "metrics.json").read_text()).items() if k != "wall_time_s"}


def test_killed_and_resumed_run_ends_exactly_like_an_uninterrupted_one(tmp_path):
    write_toy(tmp_path)
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    uninterrupted = start(tmp_path, whole)
    victim = start(tmp_path, killed)
    deadline = time.monotonic() + 120
    while checkpoint_epoch(killed / "last.pt") < 2:
        assert victim.poll() is None, victim.communicate()[0]
        assert time.monotonic() < deadline, "no epoch-2 checkpoint within 120 s"
        time.sleep(0.02)
    victim.kill()  # SIGKILL: no cleanup, no flush
    victim.wait()
    killed_at = checkpoint_epoch(killed / "last.pt")
    assert 2 <= killed_at < EPOCHS and not (killed / "metrics.json").exists()

    resumed = start(tmp_path, killed)
    for proc in (uninterrupted, resumed):
        output = proc.communicate(timeout=120)[0]
        assert proc.returncode == 0, output
    assert f"resuming from {killed / 'last.pt'} after epoch {killed_at}" in output

    assert len(history(whole)) == EPOCHS
    assert history(killed) == history(whole)
    assert metrics(killed) == metrics(whole)


def test_checkpoint_from_before_an_optional_key_was_added_still_resumes(tmp_path):
    from robustrepro.runs import canonical_json, resolve
    from robustrepro.training.checkpoint import load_checkpoint

    run = resolve({"dataset": "mnist"})
    older = {k: v for k, v in run.items() if k != "snapshots"}  # as written before "snapshots" existed
    path = tmp_path / "c.pt"
    torch.save({"format": FORMAT, "run_json": canonical_json(older)}, path)
    assert load_checkpoint(path, run)["run_json"] == canonical_json(older)
    with pytest.raises(UserError, match="different run config"):
        load_checkpoint(path, {**run, "epochs": 7})

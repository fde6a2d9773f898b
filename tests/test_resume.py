"""Kill-and-resume determinism, for real: SIGKILL a run after its epoch-2 checkpoint, resume it,
and compare with an uninterrupted run in another directory. And when a checkpoint must not be
resumed: other data, other code, a finished run."""

import csv
import dataclasses
import json
import logging
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from robustrepro.data.prepared import load_prepared
from robustrepro.errors import UserError
from robustrepro.provenance import PACKAGE_ROOT, code_fingerprint, input_digests
from robustrepro.runs import resolve
from robustrepro.training import Trainer, train_run
from robustrepro.training.checkpoint import FORMAT, save_checkpoint
from robustrepro.views import load_view, write_view
from toydata import save_toy, toy_data

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
    save_toy(folder / "toy.npz", folder / "view.npz", prepared, view)


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
    """metrics.json's numbers: without the wall time and the provenance, which name processes and times."""
    return {k: v for k, v in json.loads((out / "metrics.json").read_text()).items()
            if k not in ("wall_time_s", "provenance")}


def sessions(out):
    return json.loads((out / "metrics.json").read_text())["provenance"]["sessions"]


@pytest.mark.slow
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
    # The provenance names both processes that trained the resumed run, each with its epochs.
    assert [(s["pid"], s["first_epoch"], s["last_epoch"]) for s in sessions(killed)] == [
        (victim.pid, 1, killed_at), (resumed.pid, killed_at + 1, EPOCHS)]
    assert [(s["pid"], s["first_epoch"], s["last_epoch"]) for s in sessions(whole)] == [(uninterrupted.pid, 1, EPOCHS)]
    provenance = [json.loads((out / "metrics.json").read_text())["provenance"] for out in (killed, whole)]
    assert provenance[0]["data"] == provenance[1]["data"] == input_digests(prepared=tmp_path / "toy.npz",
                                                                            view=tmp_path / "view.npz")


def test_checkpoint_from_before_an_optional_key_was_added_still_resumes(tmp_path):
    from robustrepro.runs import canonical_json
    from robustrepro.training.checkpoint import load_checkpoint

    run = resolve({"dataset": "mnist"})
    older = {k: v for k, v in run.items() if k != "snapshots"}  # as written before "snapshots" existed
    path = tmp_path / "c.pt"
    torch.save({"format": FORMAT, "run_json": canonical_json(older)}, path)
    assert load_checkpoint(path, run)["run_json"] == canonical_json(older)
    with pytest.raises(UserError, match="different run config"):
        load_checkpoint(path, {**run, "epochs": 7})


# --- checkpoints that must not be resumed ---

SHORT = {"model": {"name": "mlp1", "width": 0.25}, "epochs": 4, "batch_size": 32,
         "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9}, "snapshots": [1, 3]}


@pytest.fixture
def two_views(tmp_path):
    """toy.npz with two views of it (another draw of the label noise): view.npz and other.npz."""
    folder = tmp_path / "data"
    folder.mkdir()
    write_toy(folder, n_train=400, n_val=100, n_test=200)
    view = load_view(folder / "view.npz")
    rng = np.random.default_rng(1)
    mask = rng.random(len(view.train_labels)) < 0.2
    labels = np.where(mask, (view.true_labels + rng.integers(1, 10, len(mask))) % 10, view.true_labels)
    write_view(folder / "other.npz", dataclasses.replace(view, train_labels=labels, noisy_mask=mask))
    return folder


def train(folder, out, view="view.npz", **changes):
    return train_run({**SHORT, **changes}, folder / "toy.npz", folder / view, out, out / "last.pt", device="cpu",
                     threads=1, progress=False)


def interrupt_after(folder, out, epochs, view="view.npz", code=None):
    """The checkpoint a run on `view` leaves when it is killed after `epochs` epochs (as train_run writes
    it, with what it was computed from); `code` replaces the code fingerprint it records."""
    torch.set_num_threads(1)
    trainer = Trainer(resolve(SHORT), load_prepared(folder / "toy.npz"), load_view(folder / view),
                      torch.device("cpu"),
                      inputs={"data": input_digests(prepared=folder / "toy.npz", view=folder / view),
                              "code": code or code_fingerprint()})
    for _ in range(epochs):
        trainer.fit_epoch()
    save_checkpoint(out / "last.pt", trainer.state_dict())


def test_a_checkpoint_of_the_same_inputs_resumes(two_views, tmp_path, caplog):
    whole, out = tmp_path / "whole", tmp_path / "run"
    train(two_views, whole)
    interrupt_after(two_views, out, 2)
    with caplog.at_level(logging.INFO, logger="robustrepro"):
        train(two_views, out)
    assert "after epoch 2" in caplog.text and "epoch 1: lr" not in caplog.text
    assert history(out) == history(whole) and metrics(out) == metrics(whole)


def test_a_checkpoint_of_another_view_is_not_resumed(two_views, tmp_path, caplog):
    whole, out = tmp_path / "whole", tmp_path / "run"
    train(two_views, whole, view="other.npz")  # the numbers this run must give on other.npz
    interrupt_after(two_views, out, 2, view="view.npz")
    with caplog.at_level(logging.INFO, logger="robustrepro"):
        train(two_views, out, view="other.npz")
    assert "not resuming" in caplog.text and "input file view was" in caplog.text
    assert "input file prepared" not in caplog.text  # only what differs is named
    assert history(out) == history(whole) and metrics(out) == metrics(whole)


def test_a_checkpoint_of_other_code_is_not_resumed(two_views, tmp_path, caplog):
    # The package as it would be after an edit of one source file.
    edited = tmp_path / "edited"
    shutil.copytree(PACKAGE_ROOT, edited, ignore=shutil.ignore_patterns("__pycache__"))
    with open(edited / "training" / "steps.py", "a") as f:
        f.write("\nLIMIT = 1\n")
    other_code = code_fingerprint(edited)
    assert other_code != code_fingerprint()

    whole, out = tmp_path / "whole", tmp_path / "run"
    train(two_views, whole)
    interrupt_after(two_views, out, 2, code=other_code)
    with caplog.at_level(logging.INFO, logger="robustrepro"):
        train(two_views, out)
    assert "not resuming" in caplog.text and "code source_sha256 was" in caplog.text
    assert history(out) == history(whole) and metrics(out) == metrics(whole)
    assert [s["first_epoch"] for s in sessions(out)] == [1]  # nothing of the stale checkpoint is left


def test_a_finished_run_is_kept_when_its_inputs_and_code_match_and_trained_again_when_not(two_views, tmp_path,
                                                                                          caplog):
    """Snakemake deletes metrics.json and history.csv before a job (a forced rebuild, an orphan of a killed
    build, a pack now trained alone), not the checkpoint beside them."""
    whole, out = tmp_path / "whole", tmp_path / "run"
    train(two_views, whole)
    train(two_views, out, view="other.npz")
    for name in ("metrics.json", "history.csv"):
        (out / name).unlink()
    # The view changed too: resuming the finished checkpoint would report other.npz's numbers.
    with caplog.at_level(logging.INFO, logger="robustrepro"):
        train(two_views, out)
    assert "not resuming" in caplog.text and "epoch 1: lr" in caplog.text
    assert metrics(out) == metrics(whole)

    caplog.clear()
    before = sessions(out)
    for name in ("metrics.json", "history.csv"):
        (out / name).unlink()
    with caplog.at_level(logging.INFO, logger="robustrepro"):
        train(two_views, out)  # the same run, data and code, finished: its results are written again
    assert "finished it with the same run, data and code; keeping its results" in caplog.text
    assert "epoch 1: lr" not in caplog.text  # nothing trained
    assert metrics(out) == metrics(whole) and history(out) == history(whole)
    assert sessions(out) == before  # the sessions that trained it, no new one


def test_a_checkpoint_of_an_older_format_is_not_resumed(two_views, tmp_path, caplog):
    interrupt_after(two_views, tmp_path, 2)
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    torch.save({**{k: v for k, v in state.items() if k not in ("inputs", "sessions")}, "format": 2},
               tmp_path / "last.pt")
    with caplog.at_level(logging.INFO, logger="robustrepro"):
        train(two_views, tmp_path)
    assert "written in format 2" in caplog.text and "epoch 1: lr" in caplog.text


def test_an_interrupted_run_resumes_across_a_comment_only_edit(two_views, tmp_path, caplog):
    """A comment or a docstring cannot change a number: the code fingerprint, and so the progress, stay."""
    edited = tmp_path / "edited"
    shutil.copytree(PACKAGE_ROOT, edited, ignore=shutil.ignore_patterns("__pycache__"))
    steps = edited / "training" / "steps.py"
    steps.write_text("# a comment at the top\n" + steps.read_text().replace('"""', '"""Reworded. ', 1) + "\n# the end\n")
    commented = code_fingerprint(edited)
    assert commented == code_fingerprint()

    whole, out = tmp_path / "whole", tmp_path / "run"
    train(two_views, whole)
    interrupt_after(two_views, out, 2, code=commented)
    with caplog.at_level(logging.INFO, logger="robustrepro"):
        train(two_views, out)
    assert "resuming from" in caplog.text and "after epoch 2" in caplog.text and "not resuming" not in caplog.text
    assert history(out) == history(whole) and metrics(out) == metrics(whole)

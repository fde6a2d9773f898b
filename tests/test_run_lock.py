"""One trainer per run: a second `robustrepro train` of the same run waits for the first, for real,
with two processes (an orphan of a killed Snakemake and a fresh job, say)."""

import json
import subprocess
import sys
import time

import pytest

from robustrepro.errors import UserError
from robustrepro.runs import run_id
from robustrepro.training import train_run
from robustrepro.training.lock import lock_path, run_lock
from test_resume import checkpoint_epoch, write_toy

# Long enough (about 0.3 s an epoch on one thread) for a second process to start and queue up behind it.
RUN = {"model": {"name": "lenet", "width": 0.5}, "epochs": 40, "batch_size": 32,
       "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9}}
DEADLINE_S = 120


def start_train(folder, log):
    out = folder / "run"
    command = [sys.executable, "-m", "robustrepro", "train", "--run", json.dumps(RUN), "--data", str(folder / "toy.npz"),
               "--view", str(folder / "view.npz"), "--out", str(out), "--checkpoint", str(out / "last.pt"),
               "--device", "cpu", "--threads", "1", "--no-progress"]
    return subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT)


def holder_pid(checkpoint):
    try:
        return json.loads(lock_path(checkpoint).read_text())["pid"]
    except (FileNotFoundError, ValueError, KeyError):
        return None


def wait_for(condition, what, *procs):
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        for proc in procs:
            assert proc.poll() is None, f"a trainer ended (status {proc.returncode}) before {what}"
        assert time.monotonic() < deadline, f"no {what} within {DEADLINE_S} s"
        time.sleep(0.05)


@pytest.fixture
def toy(tmp_path):
    write_toy(tmp_path)
    return tmp_path


def queue_two(folder):
    """Start a trainer, then a second of the same run once the first holds the run's lock and has
    checkpointed an epoch; return both when the second says it waits for the first."""
    checkpoint = folder / "run" / "last.pt"
    first = start_train(folder, folder / "first.log")
    wait_for(lambda: holder_pid(checkpoint) == first.pid and checkpoint_epoch(checkpoint) >= 1,
             "lock and checkpoint of the first trainer", first)
    second = start_train(folder, folder / "second.log")
    wait_for(lambda: f"waiting for pid {first.pid} " in (folder / "second.log").read_text(),
             "log line of the second trainer naming the first's pid", first, second)
    return first, second


def finish(proc, log):
    proc.wait(timeout=DEADLINE_S)
    assert proc.returncode == 0, log.read_text()
    return log.read_text()


def sessions(folder):
    return json.loads((folder / "run" / "metrics.json").read_text())["provenance"]["sessions"]


@pytest.mark.slow
def test_second_trainer_waits_and_resumes_once_the_first_is_killed(toy):
    first, second = queue_two(toy)
    assert checkpoint_epoch(toy / "run" / "last.pt") < RUN["epochs"] // 2, "the first trainer was nearly done"
    first.kill()  # SIGKILL: the kernel drops its lock
    first.wait()
    killed_at = checkpoint_epoch(toy / "run" / "last.pt")

    log = finish(second, toy / "second.log")
    assert f"run {run_id(RUN)}: waiting for pid {first.pid} on host" in log
    assert f"after epoch {killed_at}" in log and "resuming from" in log
    assert [(s["pid"], s["first_epoch"], s["last_epoch"]) for s in sessions(toy)] == [
        (first.pid, 1, killed_at), (second.pid, killed_at + 1, RUN["epochs"])]


@pytest.mark.slow
def test_second_trainer_keeps_the_results_of_the_first_when_it_finishes_the_run(toy):
    first, second = queue_two(toy)
    finish(first, toy / "first.log")
    written = (toy / "run" / "metrics.json").read_text()
    log = finish(second, toy / "second.log")
    assert "the process we waited for finished it with the same run, data and code; keeping its results" in log
    assert "epoch 1:" not in log  # it trained nothing
    assert json.loads((toy / "run" / "metrics.json").read_text()) == json.loads(written)
    assert [s["pid"] for s in sessions(toy)] == [first.pid]


HOLD = ("import sys, time; from robustrepro.training.lock import run_lock\n"
        "with run_lock(sys.argv[1], 'held'):\n"
        "    print('holding', flush=True)\n"
        "    time.sleep(600)\n")


def test_lock_timeout_names_the_run_and_the_holder_and_a_killed_holder_frees_the_run(toy):
    tiny = {"model": {"name": "mlp1", "width": 0.25}, "epochs": 1}
    checkpoint = toy / "run" / "last.pt"
    checkpoint.parent.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(checkpoint)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "holding\n"
        began = time.monotonic()
        with pytest.raises(UserError, match=rf"run {run_id(tiny)} is being trained by another process "
                                            rf"\(pid {holder.pid} on host .*gave up after 1 s"):
            train_run(tiny, toy / "toy.npz", toy / "view.npz", toy / "run", checkpoint, device="cpu",
                      progress=False, lock_timeout=1)
        assert 1 <= time.monotonic() - began < 10
        with pytest.raises(UserError, match=f"pid {holder.pid}"):
            with run_lock(checkpoint, "r", timeout=0):
                pass
        assert not checkpoint.exists()  # nothing was trained while the lock was held
    finally:
        holder.kill()
        holder.wait()
    metrics = train_run(tiny, toy / "toy.npz", toy / "view.npz", toy / "run", checkpoint, device="cpu",
                        progress=False, lock_timeout=0)
    assert metrics["epochs_done"] == 1 and json.loads(lock_path(checkpoint).read_text())["pid"] != holder.pid


def test_a_negative_lock_timeout_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="lock timeout"):
        with run_lock(tmp_path / "last.pt", "r", timeout=-1):
            pass


def test_the_lock_is_released_when_the_block_ends_even_by_an_error(tmp_path):
    with pytest.raises(RuntimeError):
        with run_lock(tmp_path / "last.pt", "r"):
            raise RuntimeError
    with run_lock(tmp_path / "last.pt", "r", timeout=0) as lock:
        assert not lock.waited

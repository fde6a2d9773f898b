"""One trainer per run at a time: an exclusive flock on a lock file beside the run's checkpoint.

Two processes training the same run (an orphan left by a killed Snakemake, a second build)
would overwrite each other's checkpoints and snapshots. The second one waits for the first,
saying every few minutes who it waits for, and gives up after `timeout` seconds if one is
set. The default is to wait as long as it takes: the holder may legitimately train for hours,
and a job that sits waiting costs nothing while one that fails must be rerun by hand.

As with the GPU slots (gpu_slots.py), the kernel drops the lock when its holder dies however
it dies, so a killed trainer never leaves a stale claim. The lock file itself stays: deleting
it while another process has it open would let a third lock a new file of the same name. It
holds the current holder's pid and host, so that a waiter can name whom it waits for.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import logging
import os
import time
from pathlib import Path
from typing import Iterator

from robustrepro.errors import UserError
from robustrepro.provenance import now, process_info

log = logging.getLogger(__name__)

LOG_EVERY_S = 300.0
POLL_S = 1.0


def lock_path(checkpoint_path: str | Path) -> Path:
    path = Path(checkpoint_path)
    return path.with_name(f"{path.stem}.lock")


def try_flock(path: str | Path) -> int | None:
    """A descriptor holding an exclusive flock on `path` (created if need be), or None if another holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def holder(path: str | Path) -> str:
    """Who holds the lock at `path`, as its holder wrote it: 'pid 123 on host h since t'."""
    try:
        info = json.loads(Path(path).read_text())
        return f"pid {info['pid']} on host {info['host']} since {info['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        # The holder has just locked the file and not yet written itself into it.
        return "a process that has not written its pid yet"


@dataclasses.dataclass
class Waited:
    """What run_lock reports back: whether this process had to wait for another holder."""

    waited: bool = False


@contextlib.contextmanager
def run_lock(checkpoint_path: str | Path, run: str, timeout: float | None = None, poll_s: float = POLL_S,
             log_every_s: float = LOG_EVERY_S) -> Iterator[Waited]:
    """Hold the lock of the run `run` checkpointed at `checkpoint_path` for the block.

    Waits while another process holds it: forever when `timeout` is None, else at most
    `timeout` seconds (0: not at all), then a UserError names the run and the holder.
    """
    if timeout is not None and timeout < 0:
        raise UserError(f"lock timeout: must be >= 0 seconds (or unset to wait as long as it takes); got {timeout!r}")
    path = lock_path(checkpoint_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    report = Waited()
    began = time.monotonic()
    logged = None
    while (fd := try_flock(path)) is None:
        who = holder(path)
        report.waited = True
        waited = time.monotonic() - began
        if timeout is not None and waited >= timeout:
            raise UserError(f"run {run} is being trained by another process ({who}; lock {path}); "
                            f"gave up after {waited:.0f} s. Wait for it to finish, or stop it "
                            "(kill its pid) and rerun")
        if logged is None or time.monotonic() - logged >= log_every_s:
            log.info("run %s: waiting for %s, which is training it (lock %s)", run, who, path)
            logged = time.monotonic()
        time.sleep(poll_s if timeout is None else min(poll_s, max(timeout - waited, 0.01)))
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps({**process_info(), "since": now()}) + "\n").encode(), 0)
        if report.waited:
            log.info("run %s: got its lock after %.0f s", run, time.monotonic() - began)
        yield report
    finally:
        os.close(fd)  # closing the only descriptor releases the flock

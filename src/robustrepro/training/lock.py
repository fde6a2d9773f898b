"""One trainer per run at a time: an exclusive flock on a lock file beside the run's checkpoint.

Two processes training the same run (an orphan left by a killed Snakemake, a second build)
would overwrite each other's checkpoints and snapshots. The second one waits for the first,
saying every few minutes who it waits for, and gives up after `timeout` seconds if one is
set. The default is to wait as long as it takes: the holder may legitimately train for hours,
and a job that sits waiting costs nothing while one that fails must be rerun by hand.

As with the GPU slots (gpu_slots.py), the kernel drops the lock when its holder dies however
it dies, so a killed trainer never leaves a stale claim (robustrepro.flocks).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
from pathlib import Path
from typing import Iterator

from robustrepro.errors import UserError
from robustrepro.flocks import claim, holder, try_flock

log = logging.getLogger(__name__)

LOG_EVERY_S = 300.0
POLL_S = 1.0


def lock_path(checkpoint_path: str | Path) -> Path:
    path = Path(checkpoint_path)
    return path.with_name(f"{path.stem}.lock")


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
        claim(fd)
        if report.waited:
            log.info("run %s: got its lock after %.0f s", run, time.monotonic() - began)
        yield report
    finally:
        os.close(fd)  # closing the only descriptor releases the flock

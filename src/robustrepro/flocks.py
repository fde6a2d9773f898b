"""Exclusive flocks on lock files that name their holder: one trainer per run (training.lock), one
build per working folder (buildlock).

The kernel drops a flock when its holder dies however it dies, so a killed process never leaves a
stale claim. The lock file itself stays: deleting it while another process has it open would let
a third lock a new file of the same name. It holds the holder's pid, host and start, so that
another process can name whom it waits for. Imports neither torch nor numpy (the workflow uses it).
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

from robustrepro.provenance import now, process_info


def try_flock(path: str | Path) -> int | None:
    """A descriptor holding an exclusive flock on `path` (created if need be), or None if another holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def claim(fd: int) -> None:
    """Write this process into the lock file it holds (pid, host, since when)."""
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps({**process_info(), "since": now()}) + "\n").encode(), 0)


def holder(path: str | Path) -> str:
    """Who holds the lock at `path`, as its holder wrote it: 'pid 123 on host h since t'."""
    try:
        info = json.loads(Path(path).read_text())
        return f"pid {info['pid']} on host {info['host']} since {info['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        # The holder has just locked the file and not yet written itself into it.
        return "a process that has not written its pid yet"

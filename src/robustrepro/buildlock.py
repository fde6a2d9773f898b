"""One build per working folder: a flock that the Snakemake process of a build holds while it runs.

Snakemake's own lock (.snakemake/locks) outlives a killed build, and its advice, `--unlock`, also
removes the lock of a build that is still running: a second build then rebuilds the shared inputs
(views, prepared data) under the first. This lock is a flock, which the kernel drops when its
holder dies. A build takes it when it starts to run jobs (the Snakefile's onstart; dry runs and
lints take none): a second build in the folder of a live one, even after an --unlock, stops there
with one line naming it. And the wrapper (`python -m robustrepro snakemake`, `make reproduce`),
finding the flock free, knows that no build is alive, so the Snakemake locks it finds are stale:
it removes them, and a killed command is simply run again.
"""

from __future__ import annotations

import os
from pathlib import Path

from robustrepro.errors import UserError
from robustrepro.flocks import claim, holder, try_flock

LOCK = Path(".snakemake") / "robustrepro-build.lock"
SNAKEMAKE_LOCKS = Path(".snakemake") / "locks"
_held: list[int] = []  # the descriptor that holds the flock: kept open until the process ends


def _busy(path: Path) -> UserError:
    return UserError(f"another build runs in this folder ({holder(path)}; lock {path}): let it finish, or stop it "
                     "(kill its pid) and run this command again; what it finished is kept")


def hold_build_lock(folder: str | Path = ".") -> None:
    """Take the folder's build lock for the rest of this process, or raise a UserError naming the build
    that holds it."""
    path = Path(folder) / LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = try_flock(path)
    if fd is None:
        raise _busy(path)
    claim(fd)
    _held.append(fd)


def remove_stale_locks(folder: str | Path = ".") -> list[str]:
    """When no build runs in `folder`, the Snakemake locks there are a killed build's: remove them and
    return their paths. A UserError names the build that runs, if one does."""
    path, locks = Path(folder) / LOCK, sorted((Path(folder) / SNAKEMAKE_LOCKS).glob("*.lock"))
    if not locks:
        return []
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = try_flock(path)
    if fd is None:
        raise _busy(path)
    try:
        for lock in locks:
            lock.unlink(missing_ok=True)
    finally:
        os.close(fd)
    return [str(lock) for lock in locks]

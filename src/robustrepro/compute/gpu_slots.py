"""Which GPU a training process uses when it sees several.

Every process that asks torch for "cuda" gets cuda:0, so `snakemake --resources gpu=4` on a
4-GPU machine would run four jobs at once, all on GPU 0. Each process therefore claims a slot:
an exclusive flock on a lock file per (GPU, layer). It takes the first GPU with a free slot in
layer 0, then layer 1 and so on, so while no more processes run than there are GPUs each has a
GPU of its own, and more processes spread evenly. The kernel drops a lock when its process
ends, however it ends (a killed or preempted job never leaves a stale claim).

Locks are per user and, inside a SLURM job, per job: SLURM already hands each job its own GPUs
(CUDA_VISIBLE_DEVICES), and numbers them from 0 in every job when it confines devices.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import re
import tempfile
from pathlib import Path

from robustrepro.errors import UserError

_held: list[int] = []  # file descriptors of this process's claims, open until it exits
_claimed: int | None = None


def visible_ids(count: int) -> list[str]:
    """Names of the `count` GPUs torch sees: CUDA_VISIBLE_DEVICES entries, or their indices."""
    listed = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    return listed[:count] if len(listed) >= count else [str(i) for i in range(count)]


def default_lock_dir() -> Path:
    job = os.environ.get("SLURM_JOB_ID")
    return Path(tempfile.gettempdir()) / f"robustrepro-gpu-slots-{os.getuid()}" / (f"slurm-{job}" if job else "local")


def claim(ids: list[str], lock_dir: str | Path) -> tuple[int, int]:
    """Claim a slot on one of the GPUs `ids`: (index into ids, file descriptor holding the claim).

    The claim lasts until the descriptor is closed, which happens at the latest when the process exits.
    """
    if not ids:
        raise UserError("no GPU to claim: torch sees no CUDA device (check CUDA_VISIBLE_DEVICES)")
    lock_dir = Path(lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    for layer in itertools.count():
        for index, ident in enumerate(ids):
            name = re.sub(r"[^A-Za-z0-9.-]", "_", ident)  # GPU UUIDs and MIG names are fine in a file name
            fd = os.open(lock_dir / f"gpu-{name}.{layer}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return index, fd


def claim_cuda_index(count: int, lock_dir: str | Path | None = None) -> int:
    """This process's GPU among the `count` that torch sees; claimed once, kept until the process exits."""
    global _claimed
    if _claimed is None:
        _claimed, fd = claim(visible_ids(count), lock_dir or default_lock_dir())
        _held.append(fd)
    return _claimed


def cuda_device():
    """torch.device of a GPU that no other robustrepro process on this machine is using, if there is one free."""
    import torch

    index = claim_cuda_index(torch.cuda.device_count())
    torch.cuda.set_device(index)
    return torch.device("cuda", index)

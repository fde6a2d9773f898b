"""Which device a run uses, and what that device needs (threads, autocast, cudnn)."""

from __future__ import annotations

import contextlib
import platform
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import torch

from robustrepro.errors import UserError, unknown_choice
from robustrepro.compute.gpu_slots import cuda_device

DEVICES = ("auto", "cpu", "cuda")


def pick_device(name: str = "auto") -> torch.device:
    if name not in DEVICES:
        raise unknown_choice("device", name, DEVICES)
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("device 'cuda': torch sees no CUDA GPU here; use device 'cpu' or 'auto'")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    # On a machine with several GPUs each process claims its own (see gpu_slots).
    device = cuda_device() if name == "cuda" else torch.device(name)
    if device.type == "cuda":
        # Input shapes are fixed within a run, so autotuned convolutions pay off; TF32 matmuls
        # are what fp32 layers outside autocast should use on an H100.
        torch.backends.cudnn.benchmark = True
        torch.set_float32_matmul_precision("high")
    return device


def set_threads(threads: int | None) -> None:
    if threads is None:
        return
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise UserError(f"threads: must be a positive integer; got {threads!r}")
    torch.set_num_threads(threads)


@contextlib.contextmanager
def one_thread(device: torch.device):
    """Torch's CPU ops on one thread within: for loops of many small ops, which each thread of a
    split op would finish and then wait on the slowest, the one sharing a core with another
    process. Nothing changes on a GPU."""
    if device.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def shared_out(work: Callable, items: Iterable, device: torch.device) -> Iterator:
    """work(item) for each item, in order, with the CPU's threads each taking the next item as it
    finishes its last, torch on one thread within each. A thread that shares its core with another
    process then does fewer of the items instead of holding up every split op of all of them; and
    each item's numbers do not depend on the thread count. On a GPU or one thread: a plain map."""
    threads = torch.get_num_threads()
    if device.type != "cpu" or threads == 1:
        yield from map(work, items)
        return
    pool = ThreadPoolExecutor(threads, initializer=torch.set_num_threads, initargs=(1,))
    try:
        yield from pool.map(work, items)
    finally:
        pool.shutdown(cancel_futures=True)
        torch.set_num_threads(threads)  # the workers set torch's process-wide default to 1


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"

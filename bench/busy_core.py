"""A second process spinning on one core while a bench measures: a laptop running something else,
or a shared node. The benches' --busy-core flag measures once on the machine as it is and once so,
and prints both: a split op whose threads wait on the one sharing a core shows as a collapse."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import time


def _spin() -> None:
    while True:
        pass


@contextlib.contextmanager
def busy_core(busy: bool):
    """Another process holding one core for as long as the block runs (when `busy`)."""
    if not busy:
        yield
        return
    spinner = multiprocessing.Process(target=_spin, daemon=True)
    spinner.start()
    try:
        time.sleep(0.5)  # let it take its core
        yield
    finally:
        spinner.terminate()
        spinner.join()


def share_left() -> float:
    """The share of the machine's cores left while one is busy: what a throughput may fall to at worst."""
    cores = os.cpu_count() or 1
    return (cores - 1) / cores if cores > 1 else 1.0

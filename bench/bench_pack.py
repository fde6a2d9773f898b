"""Packs (robustrepro.training.pack): a grid point's runs side by side against the same runs one at a time.

    python bench/bench_pack.py                          # mlp1, alpha 50, 12 runs, about two minutes on 2 cores
    python bench/bench_pack.py --device cuda --runs 12 --steps 500

The case is seed 003's grid point: MLP1 on MNIST (real from --mnist-root when it is there, else
MNIST-shaped random images) with alpha = 50 noisy copies per image, Adadelta, batch 128; --runs
runs of it differing in learning rate and seed (massive-noise trains 4 x 3 per model and alpha).
Three ways to train them, each timed over --steps optimizer steps of every run after --warmup
untimed ones, printed as model-examples per second (runs x batch x steps / seconds):
- pack: all runs in one Pack (one vmapped forward, gradient and update per step);
- alone: the robustrepro trainer, one run after the other (what each run's job does today, less
  the process start-up a job also pays);
- seed loop: seed 003's own pattern, a per-item Dataset behind a shuffling DataLoader
  (bench_trainer.dataloader_throughput), one run.
"""

from __future__ import annotations

import argparse
import time
from itertools import islice
from pathlib import Path

import torch

from bench_trainer import NormalisedItems, dataloader_throughput, mnist, sync, timed_steps
from robustrepro.compute.device import device_name, pick_device, set_threads
from robustrepro.compute.device_data import DeviceData
from robustrepro.noise import make_view
from robustrepro.runs import resolve
from robustrepro.training import Trainer
from robustrepro.training.pack import Pack

ROOT = Path(__file__).resolve().parents[1]
LEARNING_RATES = (0.01, 0.05, 0.1, 0.5)


def grid_runs(count: int, batch: int) -> list[dict]:
    """`count` runs of the grid point: learning rates fastest, then seeds."""
    return [resolve({"model": {"name": "mlp1"}, "batch_size": batch, "optimizer": {"name": "adadelta",
                     "lr": LEARNING_RATES[i % len(LEARNING_RATES)]}, "seed": i // len(LEARNING_RATES)})
            for i in range(count)]


def pack_seconds(runs: list[dict], prepared, view, device: torch.device, steps: int, warmup: int) -> float:
    data = DeviceData(prepared, view, device, runs[0]["augment"])
    pack = Pack([Trainer(run, prepared, view, device, data=data) for run in runs])
    iterators = pack.start_epoch()

    def train(count: int) -> None:
        for batches in islice(zip(*iterators), count):
            pack.step(list(batches))

    train(warmup)
    sync(device)
    start = time.perf_counter()
    train(steps)
    sync(device)
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--runs", type=int, default=12)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--alpha", type=int, default=50)
    p.add_argument("--mnist-size", type=int, default=60000)
    p.add_argument("--mnist-root", type=Path, default=ROOT.parent / "shared" / "data")
    args = p.parse_args()

    device = pick_device(args.device)
    set_threads(args.threads)
    prepared, source = mnist(args.mnist_root, args.mnist_size)
    view = make_view(prepared.train_y, prepared.test_y, 10, {"noise": {"kind": "alpha", "alpha": args.alpha}})
    runs = grid_runs(args.runs, args.batch_size)
    examples = args.runs * args.batch_size * args.steps
    print(f"device: {device_name(device)}; mlp1, {source}, alpha {args.alpha}, {args.runs} runs, Adadelta, "
          f"batch {args.batch_size}, {args.steps} timed steps per run")

    packed = examples / pack_seconds(runs, prepared, view, device, args.steps, args.warmup)
    alone = examples / sum(timed_steps(Trainer(run, prepared, view, device), args.steps, args.warmup) for run in runs)
    dataset = NormalisedItems(prepared.train_x, view.train_indices, view.train_labels)
    seed = dataloader_throughput(runs[0], prepared, dataset, device, args.steps, args.warmup, workers=0)
    print(f"{'way':<34}{'model-examples/s':>18}{'pack is':>10}")
    for name, rate in (("pack", packed), ("alone (robustrepro trainer)", alone), ("seed loop (DataLoader)", seed)):
        print(f"{name:<34}{rate:>18.0f}{packed / rate:>9.2f}x", flush=True)


if __name__ == "__main__":
    main()

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
- DataLoader loop: a per-item Dataset of normalised tensors behind a shuffling DataLoader
  (bench_trainer.NormalisedItems and dataloader_throughput), one run;
- seed loop: seed 003's own training set, one run through the same loop: torchvision's MNIST items
  (uint8 -> PIL image -> ToTensor -> Normalize(0.5, 0.5), one item at a time) with alpha noisy
  labels per image, each read from a shifted index's item as its NoisyLabelDataset reads it (which
  converts that item's image too), batches of 128 from a shuffling DataLoader without workers.
The issue's goal is the pack's model-examples per second at 20x the seed loop's.
"""

from __future__ import annotations

import argparse
import time
from itertools import islice
from pathlib import Path

import numpy as np
import torch

from torch.utils.data import Dataset

from bench_trainer import NormalisedItems, dataloader_throughput, mnist, sync, timed_steps
from robustrepro.compute.device import device_name, pick_device, set_threads
from robustrepro.compute.device_data import DeviceData
from robustrepro.noise import make_view
from robustrepro.runs import resolve
from robustrepro.training import Trainer
from robustrepro.training.pack import Pack

ROOT = Path(__file__).resolve().parents[1]
LEARNING_RATES = (0.01, 0.05, 0.1, 0.5)


class SeedNoisyLabels(Dataset):
    """Seed 003's alpha training set over torchvision-style MNIST items (the module docstring)."""

    def __init__(self, images, labels, alpha: int, seed: int = 0):
        from torchvision import transforms

        self.images = torch.from_numpy(images[:, 0])  # [N, 28, 28] uint8, as torchvision's MNIST holds it
        self.labels = torch.as_tensor(labels)
        self.alpha = alpha
        self.shift = int(np.random.default_rng(seed).integers(0, len(images)))
        self.transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])

    def item(self, i: int):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i].numpy())), int(self.labels[i])

    def __len__(self) -> int:
        return len(self.images) * (self.alpha + 1)

    def __getitem__(self, idx: int):
        x, y = self.item(idx // (self.alpha + 1))
        if idx % (self.alpha + 1):
            y = self.item((idx + self.shift) % len(self.images))[1]
        return x, y


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
    loop = dataloader_throughput(runs[0], prepared, dataset, device, args.steps, args.warmup, workers=0)
    seed_set = SeedNoisyLabels(prepared.train_x, prepared.train_y, args.alpha)
    seed = dataloader_throughput(runs[0], prepared, seed_set, device, args.steps, args.warmup, workers=0)
    print(f"{'way':<44}{'model-examples/s':>18}{'pack is':>10}")
    for name, rate in (("pack", packed), ("alone (robustrepro trainer)", alone),
                       ("DataLoader loop (normalised tensor items)", loop),
                       ("seed loop (torchvision items, NoisyLabelDataset)", seed)):
        print(f"{name:<44}{rate:>18.0f}{packed / rate:>9.2f}x", flush=True)


if __name__ == "__main__":
    main()

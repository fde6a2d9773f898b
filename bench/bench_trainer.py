"""Training throughput of the robustrepro trainer against a conventional DataLoader loop.

    python bench/bench_trainer.py                  # both cases, default sizes (a few minutes on 2 CPU cores)
    python bench/bench_trainer.py --device cuda --resnet-steps 100 --mlp-steps 2000

Two cases, each timed as examples per second over the same number of optimizer steps:
  (a) mlp1 on MNIST with alpha = 50 noisy copies per image (seed 003; 3.06 M examples per
      epoch): real MNIST from --mnist-root when it is there, else MNIST-shaped random images;
  (b) ResNet-32 on CIFAR-shaped random images with pad-crop 4 and flips (seeds 000, 004).
The baseline is the usual PyTorch loop: a per-item Dataset (seed 003's NoisyLabelDataset
indexing for (a); torchvision's CIFAR-10 pattern of PIL image -> RandomCrop -> flip ->
ToTensor -> Normalize for (b)) behind a shuffling DataLoader, batches copied to the device.
Both loops train the same model with the same optimizer, batch size and augmentation, in the
same recipe (robustrepro.compute.recipe: on CUDA bf16 autocast and channels_last), so the ratio
measures the data path and the loop. The trainer also accumulates its epoch metrics on the device; the baseline does not.
"""

from __future__ import annotations

import argparse
import os
import time
from itertools import islice
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from busy_core import busy_core, share_left
from robustrepro.data.prepared import Prepared
from robustrepro.models import build_model
from robustrepro.noise import make_view
from robustrepro.runs import resolve
from robustrepro.training import Trainer, build_optimizer, pick_device, set_threads
from robustrepro.compute.device import device_name
from robustrepro.compute.recipe import pick_recipe
from robustrepro.compute.device_data import channel_stats

ROOT = Path(__file__).resolve().parents[1]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def mnist(root: Path | None, size: int) -> tuple[Prepared, str]:
    if root is not None and (root / "MNIST" / "raw").is_dir():
        from robustrepro.data import load_dataset

        data = load_dataset("mnist", root, progress=False)
        return Prepared(data.name, data.train_x[:size], data.train_y[:size], data.test_x, data.test_y, data.classes), "MNIST"
    rng = np.random.default_rng(0)
    return Prepared("mnist-shaped", rng.integers(0, 256, (size, 1, 28, 28), dtype=np.uint8), rng.integers(0, 10, size),
                    rng.integers(0, 256, (1000, 1, 28, 28), dtype=np.uint8), rng.integers(0, 10, 1000),
                    tuple(map(str, range(10)))), "MNIST-shaped random"


def cifar_shaped(size: int) -> Prepared:
    rng = np.random.default_rng(1)
    return Prepared("cifar-shaped", rng.integers(0, 256, (size, 3, 32, 32), dtype=np.uint8), rng.integers(0, 10, size),
                    rng.integers(0, 256, (1000, 3, 32, 32), dtype=np.uint8), rng.integers(0, 10, 1000),
                    tuple(map(str, range(10))))


class NormalisedItems(Dataset):
    """One example per __getitem__, normalised on access (seed 003's alpha dataset indexes like this)."""

    def __init__(self, images: np.ndarray, positions: np.ndarray, labels: np.ndarray):
        self.images, self.positions, self.labels = images, positions, labels
        mean, std = channel_stats(images)
        self.mean = torch.tensor(mean, dtype=torch.float32)[:, None, None]
        self.std = torch.tensor(std, dtype=torch.float32)[:, None, None]

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, i):
        x = torch.from_numpy(self.images[self.positions[i]]).float().div_(255)
        return (x - self.mean) / self.std, int(self.labels[i])


class AugmentedItems(NormalisedItems):
    """torchvision's CIFAR-10 dataset pattern: HWC uint8 -> PIL -> crop/flip -> ToTensor -> Normalize."""

    def __init__(self, images: np.ndarray, positions: np.ndarray, labels: np.ndarray, crop: int):
        # Imported here, so the benches that import this module run where torchvision is missing.
        from PIL import Image
        from torchvision import transforms

        super().__init__(images, positions, labels)
        self.image = Image.fromarray
        self.hwc = np.ascontiguousarray(images.transpose(0, 2, 3, 1))
        size = images.shape[-1]
        self.transform = transforms.Compose([
            transforms.RandomCrop(size, padding=crop), transforms.RandomHorizontalFlip(), transforms.ToTensor(),
            transforms.Normalize(self.mean.flatten().tolist(), self.std.flatten().tolist())])

    def __getitem__(self, i):
        image = self.hwc[self.positions[i]]
        return self.transform(self.image(image.squeeze(-1) if image.shape[-1] == 1 else image)), int(self.labels[i])


def timed_steps(trainer: Trainer, steps: int, warmup: int) -> float:
    """Seconds for `steps` optimizer steps of the trainer's first epoch, after `warmup` untimed ones
    (a step log, if any, flushed within the time)."""
    if trainer.ctx.steps_per_epoch < warmup + steps:
        raise SystemExit(f"only {trainer.ctx.steps_per_epoch} batches per epoch; ask for fewer steps or more data")
    device = trainer.ctx.device
    trainer.start_epoch()
    batches = trainer.sampler.batches(trainer.ctx)
    trainer.train_steps(islice(batches, warmup))
    sync(device)
    start = time.perf_counter()
    trainer.train_steps(islice(batches, steps))
    if trainer.step_log is not None:
        trainer.step_log.flush()
    sync(device)
    return time.perf_counter() - start


def ms_per_step(run: dict, prepared: Prepared, view, device: torch.device, steps: int, warmup: int) -> float:
    """Milliseconds per optimizer step of a fresh trainer of `run` (timed_steps)."""
    return timed_steps(Trainer(resolve(run), prepared, view, device), steps, warmup) / steps * 1000


def trainer_throughput(run: dict, prepared: Prepared, view, device: torch.device, steps: int, warmup: int) -> float:
    trainer = Trainer(resolve(run), prepared, view, device)
    return steps * run["batch_size"] / timed_steps(trainer, steps, warmup)


def dataloader_throughput(run: dict, prepared: Prepared, dataset: Dataset, device: torch.device, steps: int,
                          warmup: int, workers: int) -> float:
    run = resolve(run)
    torch.manual_seed(0)
    options = {k: v for k, v in run["model"].items() if k != "name"}
    channels, size, _ = prepared.shape
    recipe = pick_recipe(device, run["model"])  # the trainer's: the ratio measures the data path and the loop
    model = recipe.place(build_model(run["model"]["name"], channels, prepared.num_classes, size, **options).to(device))
    optimizer = build_optimizer(run["optimizer"], model.parameters())
    loader = DataLoader(dataset, batch_size=run["batch_size"], shuffle=True, num_workers=workers, drop_last=True,
                        pin_memory=device.type == "cuda", generator=torch.Generator().manual_seed(0))
    batches = iter(loader)

    def train(count: int) -> None:
        for x, y in islice(batches, count):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if recipe.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with recipe.autocast(device):
                logits = model(x)
            loss = F.cross_entropy(logits.float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    train(warmup)  # includes starting the workers and the 3 M-element shuffle
    sync(device)
    start = time.perf_counter()
    train(steps)
    sync(device)
    return steps * run["batch_size"] / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--workers", type=int, default=None, help="DataLoader workers (default: 0 on CPU, 8 on CUDA)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--warmup", type=int, default=3, help="untimed steps before timing")
    p.add_argument("--mlp-steps", type=int, default=300)
    p.add_argument("--resnet-steps", type=int, default=10)
    p.add_argument("--alpha", type=int, default=50)
    p.add_argument("--mnist-size", type=int, default=60000, help="clean MNIST images before the alpha copies")
    p.add_argument("--mnist-root", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--cifar-size", type=int, default=5000)
    p.add_argument("--cases", default="mlp,resnet", help="comma-separated: mlp, resnet")
    p.add_argument("--busy-core", action="store_true",
                   help="also time the trainer while another process spins on one core (bench/busy_core.py)")
    args = p.parse_args()

    device = pick_device(args.device)
    set_threads(args.threads)
    workers = args.workers if args.workers is not None else (0 if device.type == "cpu" else min(8, os.cpu_count() or 1))
    print(f"device: {device_name(device)}; batch size {args.batch_size}; DataLoader workers: {workers}")
    print(f"{'case':<42}{'trainer ex/s':>14}{'DataLoader ex/s':>17}{'ratio':>8}")

    optimizer = {"name": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4}
    for case in args.cases.split(","):
        if case == "mlp":
            prepared, source = mnist(args.mnist_root, args.mnist_size)
            view = make_view(prepared.train_y, prepared.test_y, 10, {"noise": {"kind": "alpha", "alpha": args.alpha}})
            run = {"model": {"name": "mlp1"}, "batch_size": args.batch_size, "optimizer": optimizer}
            dataset = NormalisedItems(prepared.train_x, view.train_indices, view.train_labels)
            name, steps = f"(a) mlp1, {source}, alpha {args.alpha} ({len(view.train_indices)} ex)", args.mlp_steps
        elif case == "resnet":
            prepared = cifar_shaped(args.cifar_size)
            view = make_view(prepared.train_y, prepared.test_y, 10, {})
            run = {"model": {"name": "resnet32"}, "batch_size": args.batch_size, "optimizer": optimizer,
                   "augment": {"crop": 4, "flip": True}}
            dataset = AugmentedItems(prepared.train_x, view.train_indices, view.train_labels, crop=4)
            name, steps = f"(b) resnet32, CIFAR-shaped, crop+flip ({len(view.train_indices)} ex)", args.resnet_steps
        else:
            raise SystemExit(f"--cases: unknown case {case!r}; choose from mlp, resnet")
        ours = trainer_throughput(run, prepared, view, device, steps, args.warmup)
        theirs = dataloader_throughput(run, prepared, dataset, device, steps, args.warmup, workers)
        print(f"{name:<42}{ours:>14.0f}{theirs:>17.0f}{ours / theirs:>8.2f}", flush=True)
        if args.busy_core:
            with busy_core(True):
                busy = trainer_throughput(run, prepared, view, device, steps, args.warmup)
            print(f"  the trainer with one core busy: {busy:.0f} ex/s, {busy / ours:.2f} of idle (the cores left: "
                  f"{share_left():.2f})", flush=True)


if __name__ == "__main__":
    main()

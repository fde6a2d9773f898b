"""Runs per second of seed 004's perfect ordering: side by side against a Python loop of single runs.

    python bench/bench_side_by_side.py                    # tinyconv on the CPU, about a minute
    python bench/bench_side_by_side.py --device cuda --runs 720 --loop-runs 100

The setting of the experiment's epoch 1: 48 MNIST-shaped random images in 6 batches of 8, 2
classes, 2048 test images, one initial model, one run per order of the batches. A run is one
epoch (6 SGD steps) and its test loss and accuracy.

- side by side: what robustrepro.training.perfect_ordering does, --runs orders from the same
  model at once (train_all_orders, which shares the steps of common order prefixes, then
  test_numbers over chunks of runs; with --runs below 720 it still trains all 720);
- side by side, no prefix sharing: every run steps 6 times (side_by_side.sgd_step on all --runs
  copies), to show what vmap alone gives;
- loop: what one would write otherwise, per order a copy of the model (copy.deepcopy), a
  torch.optim.SGD, 6 steps and the test set in batches of 512; timed over --loop-runs orders.

Each is timed after an untimed warm-up, best of --repeats; the ratio is side by side / loop.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import time

import torch
import torch.nn.functional as F

from bench_trainer import mnist  # random images of MNIST's shape
from robustrepro.compute.device import device_name
from robustrepro.models import build_model
from robustrepro.training import pick_device, set_threads
from robustrepro.training import perfect_ordering as po
from robustrepro.training import side_by_side as sbs

BATCHES, BATCH, TEST, LOSS_BATCH = 6, 8, 2048, 512


def setting(model_name: str, device: torch.device):
    prepared, _ = mnist(None, BATCHES * BATCH)
    scale = lambda a: torch.from_numpy(a).float().div(255).to(device)  # noqa: E731
    x = scale(prepared.train_x).view(BATCHES, BATCH, 1, 28, 28)
    y = torch.from_numpy(prepared.train_y % 2).view(BATCHES, BATCH).to(device)
    generator = torch.Generator().manual_seed(0)
    test_x = torch.rand(TEST, 1, 28, 28, generator=generator).to(device)
    test_y = torch.randint(0, 2, (TEST,), generator=generator).to(device)
    torch.manual_seed(0)
    model = build_model(model_name, 1, 2, 28).to(device)
    return model, x, y, test_x, test_y


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def side_by_side(model, x, y, test_x, test_y, runs: int, sgd: dict, share_prefixes: bool) -> None:
    parent = sbs.stack(model, 1)
    if share_prefixes:
        trained = po.train_all_orders(model, parent, x, y, sgd)
        trained = trained.select(torch.arange(runs, device=x.device))
    else:
        orders = torch.tensor(list(itertools.permutations(range(BATCHES)))[:runs], device=x.device)
        trained = parent.select(torch.zeros(runs, dtype=torch.long, device=x.device))
        for step in range(BATCHES):
            trained, _ = sbs.sgd_step(model, trained, x[orders[:, step]], y[orders[:, step]], **sgd)
    for first in range(0, runs, po.EVAL_RUNS):
        chunk = trained.select(torch.arange(first, min(first + po.EVAL_RUNS, runs), device=x.device))
        po.test_numbers(model, chunk, test_x, test_y, LOSS_BATCH)


def loop(model, x, y, test_x, test_y, runs: int, sgd: dict) -> None:
    for order in itertools.islice(itertools.permutations(range(BATCHES)), runs):
        copy_ = copy.deepcopy(model)
        optimizer = torch.optim.SGD(copy_.parameters(), **sgd)
        copy_.train()
        for batch in order:
            optimizer.zero_grad()
            F.cross_entropy(copy_(x[batch]), y[batch]).backward()
            optimizer.step()
        copy_.eval()
        with torch.no_grad():
            loss = sum(F.cross_entropy(copy_(test_x[s:s + LOSS_BATCH]), test_y[s:s + LOSS_BATCH])
                       for s in range(0, TEST, LOSS_BATCH))
            (copy_(test_x).argmax(1) == test_y).float().mean().add(loss).item()  # a host sync, as a record would


def runs_per_second(fn, runs: int, device: torch.device, repeats: int) -> float:
    fn(min(runs, 2))  # warm-up: kernels, allocator
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        fn(runs)
        sync(device)
        best = min(best, time.perf_counter() - start)
    return runs / best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--repeats", type=int, default=3, help="best of this many timings per case")
    p.add_argument("--model", default="tinyconv")
    p.add_argument("--runs", type=int, default=720, help="orders trained side by side (at most 720)")
    p.add_argument("--loop-runs", type=int, default=48, help="orders timed in the Python loop")
    p.add_argument("--lr", type=float, default=0.05)
    args = p.parse_args()
    if not 1 <= args.runs <= 720:
        raise SystemExit("--runs: between 1 and 720 (the orders of 6 batches)")
    device = pick_device(args.device)
    set_threads(args.threads)
    model, x, y, test_x, test_y = setting(args.model, device)
    sgd = {"lr": args.lr}
    print(f"device: {device_name(device)}; model {args.model}; one epoch of {BATCHES} batches of {BATCH} and "
          f"{TEST} test images per run; best of {args.repeats}")
    cases = {
        f"side by side ({args.runs} runs)": (lambda n: side_by_side(model, x, y, test_x, test_y, n, sgd, True), args.runs),
        f"  no prefix sharing ({args.runs})": (lambda n: side_by_side(model, x, y, test_x, test_y, n, sgd, False),
                                               args.runs),
        f"loop ({args.loop_runs} runs)": (lambda n: loop(model, x, y, test_x, test_y, n, sgd), args.loop_runs),
    }
    rates = {}
    for name, (fn, runs) in cases.items():
        rates[name] = runs_per_second(fn, runs, device, args.repeats)
        print(f"{name:<34}{rates[name]:>10.1f} runs/s", flush=True)
    side, plain, looped = rates.values()
    print(f"ratio side by side / loop: {side / looped:.1f}x (without prefix sharing {plain / looped:.1f}x)")


if __name__ == "__main__":
    main()

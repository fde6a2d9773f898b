"""What a learning-to-reweight step costs against a plain step on the same model and batch.

    python bench/bench_reweight.py                       # LeNet and ResNet-32 on the CPU, about a minute
    python bench/bench_reweight.py --device cuda --steps 50

For each model, the trainer runs --steps optimizer steps of the plain weighted step and of the
reweight step (seed 001's Algorithm 1: a virtual step through torch.func.functional_call and
a clean batch of --clean examples) on the same batches, after an untimed warm-up; the table
gives milliseconds per step and the ratio reweight / plain (the issue's budget: at most 3x).
LeNet is seed 001's MNIST model (batch 100), ResNet-32 the original paper's CIFAR model.
"""

from __future__ import annotations

import argparse

import torch

from bench_trainer import cifar_shaped, mnist, ms_per_step  # random images of each shape; a timed trainer
from robustrepro.compute.device import device_name
from robustrepro.noise import make_view
from robustrepro.training import pick_device, set_threads


# Each model's images (random, of its dataset's shape) and batch size.
SHAPES = {"lenet": (lambda n: mnist(None, n)[0], 100), "resnet32": (cifar_shaped, 100)}


def step_ms(model: dict, batch: int, steps: int, warmup: int, clean: int, repeats: int,
            device: torch.device) -> tuple[float, float]:
    """Milliseconds per plain step and per reweight step of `model` (a run's model section), best of `repeats`."""
    shaped = SHAPES[model["name"]][0]
    prepared = shaped(batch * (steps + warmup) + clean)
    view = make_view(prepared.train_y, prepared.test_y, 10, {"holdout": {"size": clean, "per_class": False}})
    base = {"model": model, "batch_size": batch, "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9}}
    plain = reweighted = float("inf")
    for _ in range(repeats):  # the two take turns, so a slow spell hits both
        plain = min(plain, ms_per_step(base, prepared, view, device, steps, warmup))
        reweighted = min(reweighted, ms_per_step({**base, "step": {"name": "reweight"}}, prepared, view, device,
                                                 steps, warmup))
    return plain, reweighted


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3, help="best of this many timings per case")
    p.add_argument("--clean", type=int, default=100, help="clean examples (the holdout) per reweighted step")
    p.add_argument("--cases", default="lenet,resnet32")
    args = p.parse_args()
    device = pick_device(args.device)
    set_threads(args.threads)
    print(f"device: {device_name(device)}; {args.steps} timed steps, best of {args.repeats}; "
          f"{args.clean} clean examples per reweighted step")
    print(f"{'model':<12}{'batch':>7}{'plain ms':>11}{'reweight ms':>13}{'ratio':>8}")
    for name in args.cases.split(","):
        if name not in SHAPES:
            raise SystemExit(f"--cases: unknown model {name!r}; choose from {', '.join(SHAPES)}")
        batch = SHAPES[name][1]
        plain, reweighted = step_ms({"name": name}, batch, args.steps, args.warmup, args.clean, args.repeats, device)
        print(f"{name:<12}{batch:>7}{plain:>11.1f}{reweighted:>13.1f}{reweighted / plain:>8.2f}", flush=True)


if __name__ == "__main__":
    main()

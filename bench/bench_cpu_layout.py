"""Which memory layout (and whether torch.compile) trains each convolutional model fastest on a CPU.

    python bench/bench_cpu_layout.py                 # the models the CPU builds train, one thread
    python bench/bench_cpu_layout.py --threads 2 --models conv4 lenet --compile

For every model at the input shape and batch size its quick-scale runs use, times training steps
(forward, cross-entropy, backward, SGD with momentum) and the evaluation forward at the trainer's
evaluation batch, in the default contiguous layout (NCHW: what a user's plain PyTorch loop runs)
and in channels_last (NHWC), and optionally under torch.compile (inductor; its compile time is
not counted, only steps after warm-up). Prints each one's milliseconds and its ratio over
contiguous eager: > 1 is faster. The trainer's per-architecture choice on the CPU
(robustrepro.compute.layout.CPU_CHANNELS_LAST) records what this printed.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from robustrepro.models import build_model

# (model, options, in_channels, image size, training batch): the shapes the quick builds train on
# a CPU (conv4: massive-noise; lenet: robust-clustering and reweight; vgg16_bn at 1/16 width:
# noise-batchsize; tinyconv: ordering-augment), ResNet-32 at half width (CIFAR-shaped) and the
# CIFAR models of the smoke builds at their smoke widths.
CASES = {
    "conv4": ({}, 1, 28, 128),
    "lenet": ({}, 1, 28, 32),
    "vgg16_bn": ({"width": 0.0625}, 1, 28, 128),
    "tinyconv": ({}, 1, 28, 8),
    "resnet32": ({"width": 0.5}, 3, 32, 128),
    "resnet18": ({"width": 0.0625}, 3, 32, 128),
    "wrn": ({"width": 0.25, "depth": 10, "widen": 1}, 3, 32, 32),
    "wrn28_10": ({"width": 0.05}, 3, 32, 100),
}
EVAL_BATCH = 1024  # robustrepro.training.trainer.EVAL_BATCH_SIZE


def time_steps(model, x, y, steps: int, warmup: int) -> float:
    """Milliseconds per training step."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()

    def step():
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        optimizer.step()

    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps * 1000


@torch.no_grad()
def time_eval(model, x, repeats: int) -> float:
    """Milliseconds per evaluation batch."""
    model.eval()
    model(x)
    start = time.perf_counter()
    for _ in range(repeats):
        model(x)
    return (time.perf_counter() - start) / repeats * 1000


def measure(name: str, layout: str, compiled: bool, steps: int, warmup: int, repeats: int) -> tuple[float, float]:
    options, channels, size, batch = CASES[name]
    torch.manual_seed(0)
    model = build_model(name, channels, 10, size, **options)
    x = torch.randn(batch, channels, size, size)
    xe = torch.randn(EVAL_BATCH, channels, size, size)
    if layout == "channels_last":
        model = model.to(memory_format=torch.channels_last)
        x, xe = x.contiguous(memory_format=torch.channels_last), xe.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,))
    forward = torch.compile(model) if compiled else model
    return time_steps(forward, x, y, steps, warmup), time_eval(forward, xe, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the build trains one a job)")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--eval-repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3, help="best of this many rounds, alternating layouts")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (inductor) in each layout")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    variants = [("contiguous", False), ("channels_last", False)]
    if args.compile:
        variants += [("contiguous", True), ("channels_last", True)]
    print(f"torch {torch.__version__}, {args.threads} thread(s), best of {args.rounds} rounds; "
          "ms per training step | per evaluation batch of 1,024; ratio over contiguous eager (> 1 faster)")
    for name in args.models:
        best: dict[tuple[str, bool], tuple[float, float]] = {}
        for _ in range(args.rounds):  # alternate the variants so that drift on the machine hits them alike
            for variant in variants:
                step, evaluation = measure(name, *variant, args.steps, args.warmup, args.eval_repeats)
                old = best.get(variant, (float("inf"), float("inf")))
                best[variant] = (min(old[0], step), min(old[1], evaluation))
        base_step, base_eval = best[("contiguous", False)]
        for (layout, compiled), (step, evaluation) in best.items():
            label = f"{layout}{' compiled' if compiled else ''}"
            print(f"  {name:9s} {label:24s} step {step:8.2f} ms ({base_step / step:4.2f}x)   "
                  f"eval {evaluation:8.1f} ms ({base_eval / evaluation:4.2f}x)")


if __name__ == "__main__":
    main()

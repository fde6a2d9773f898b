"""What a per-step log costs: trainer throughput with steps.csv logging every step, against none,
and against the usual way of logging per step (`loss.item()` and an accuracy `.item()` each step).

    python bench/bench_step_log.py                     # CPU, a minute or two on 2 cores
    python bench/bench_step_log.py --device cuda --steps 2000

Each case trains the same model with the same batches for --steps optimizer steps (after an
untimed warm-up) and reports examples per second:
  none      the trainer without a step log
  step_log  the trainer with step_log {every: 1, metrics: [batch, batch_noise]}: values stay on the
            device and are flushed once at the end of the timed steps
  every 10  the same with a row every 10 steps
  item()    the trainer without a step log, plus what a hand-written per-step log does: read the
            batch loss and accuracy to the host after every step (a host sync per step on a GPU)
Ratios are against `none`; 1.00 means no overhead. mlp1 on MNIST-shaped data is the seed-002
regime (many cheap steps), where a per-step sync costs the most.
"""

from __future__ import annotations

import argparse

import torch

from bench_trainer import mnist, timed_steps  # the same random MNIST-shaped data and timing
from robustrepro.compute.device import device_name
from robustrepro.data.prepared import Prepared
from robustrepro.noise import make_view
from robustrepro.runs import resolve
from robustrepro.training import Trainer, pick_device, set_threads
from robustrepro.training.context import Part


class ItemLogger(Part):
    """The per-step log people write by hand: two host reads after every step."""

    def __init__(self):
        self.rows = []

    def after_step(self, ctx, batch, result):
        acc = (result.logits.argmax(1) == result.labels).float().mean().item()
        self.rows.append((ctx.global_step, result.losses.mean().item(), acc))

    def result(self, ctx):
        return {}


def throughput(run: dict, prepared: Prepared, view, device: torch.device, steps: int, warmup: int,
               item_logger: bool) -> float:
    trainer = Trainer(resolve(run), prepared, view, device)
    if item_logger:
        trainer.metrics.append(ItemLogger())
    return steps * run["batch_size"] / timed_steps(trainer, steps, warmup)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3, help="best of this many timings per case")
    args = p.parse_args()
    device = pick_device(args.device)
    set_threads(args.threads)
    prepared, _ = mnist(None, args.batch_size * (args.steps + args.warmup))
    view = make_view(prepared.train_y, prepared.test_y, 10, {"noise": {"kind": "uniform", "rate": 0.4}})
    base = {"model": {"name": "mlp1"}, "batch_size": args.batch_size,
            "optimizer": {"name": "sgd", "lr": 0.01, "momentum": 0.9}}
    cases = {"none": (base, False),
             "step_log": ({**base, "step_log": {"every": 1, "metrics": ["batch", "batch_noise"]}}, False),
             "every 10": ({**base, "step_log": {"every": 10, "metrics": ["batch", "batch_noise"]}}, False),
             "item()": (base, True)}
    print(f"device: {device_name(device)}; mlp1, batch size {args.batch_size}, {args.steps} timed steps, "
          f"best of {args.repeats}")
    print(f"{'case':<12}{'ex/s':>12}{'vs none':>10}")
    # Cases take turns within each repeat, so a slow spell of a shared machine hits them alike.
    best = dict.fromkeys(cases, 0.0)
    for _ in range(args.repeats):
        for name, (run, item_logger) in cases.items():
            best[name] = max(best[name], throughput(run, prepared, view, device, args.steps, args.warmup, item_logger))
    for name, value in best.items():
        print(f"{name:<12}{value:>12.0f}{value / best['none']:>10.2f}", flush=True)


if __name__ == "__main__":
    main()

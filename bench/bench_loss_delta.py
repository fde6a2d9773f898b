"""What seed 004's maximum loss delta orderer costs per step, its trials one by one or side by side.

    python bench/bench_loss_delta.py          # LeNet and a narrow PreAct ResNet on the CPU, about 3 minutes
    python bench/bench_loss_delta.py --device cuda --candidates 8,16,32 --preact-depth 58 --preact-width 1 \
        --preact-batch 128 --steps 5 --repeats 3                        # the chapter's PreResNet-56

For each model and each K in --candidates, the trainer runs --steps optimizer steps with the
plain shuffle sampler and with sampler loss_delta (K candidate batches, each scored by a trial
update) under trials=sequential (K rolled-back updates through the run's step) and
trials=vmap (the K updates at once, robustrepro.training.side_by_side), after --warmup untimed
steps; the table gives milliseconds per step, best of --repeats, and the ratios. LeNet runs
on MNIST-shaped random images at the chapter's batch of 128; the pre-activation ResNet
(`wrn` with widen 1: PreResNet's 16/32/64 channels times --preact-width, (depth - 4) / 6
blocks a stage: depth 58 is the chapter's PreResNet-56, 9 blocks a stage, as WRN counts depth
6n + 4 and PreResNet 6n + 2) on CIFAR-shaped ones, by default one block a
stage at half width and batch 64, which a 2-core CPU times in minutes. Both use the chapter's
SGD (Nesterov momentum 0.9, weight decay 1e-4).
"""

from __future__ import annotations

import argparse

import torch

from bench_trainer import cifar_shaped, mnist, ms_per_step  # random images of each shape; a timed trainer
from robustrepro.compute.device import device_name
from robustrepro.noise import make_view
from robustrepro.training import pick_device, set_threads

SGD = {"name": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-4}  # the chapter's


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--steps", type=int, default=1)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeats", type=int, default=2, help="best of this many timings per case")
    p.add_argument("--batch", type=int, default=128, help="LeNet's batch (the chapter's 128)")
    p.add_argument("--preact-batch", type=int, default=64, help="the ResNet's batch (128 in the chapter; less fits a CPU)")
    p.add_argument("--candidates", default="8,32", help="values of K, comma-separated")
    p.add_argument("--score-on", default="same", choices=["same", "external"])
    p.add_argument("--preact-depth", type=int, default=10, help="6n + 4: n pre-activation blocks per stage")
    p.add_argument("--preact-width", type=float, default=0.5, help="times the 16/32/64 channels of PreResNet")
    p.add_argument("--cases", default="lenet,preact")
    args = p.parse_args()
    device = pick_device(args.device)
    set_threads(args.threads)
    ks = [int(k) for k in args.candidates.split(",")]
    print(f"device: {device_name(device)}; {args.steps} timed steps after {args.warmup}, "
          f"best of {args.repeats}; loss_delta score_on {args.score_on}")
    print(f"{'model':<16}{'batch':>6}{'K':>4}{'shuffle ms':>12}{'sequential ms':>15}{'vmap ms':>10}"
          f"{'seq/shuffle':>13}{'vmap/shuffle':>14}{'seq/vmap':>10}")
    models = {"lenet": ({"name": "lenet"}, lambda n: mnist(None, n)[0], args.batch),
              "preact": ({"name": "wrn", "depth": args.preact_depth, "widen": 1, "width": args.preact_width},
                         cifar_shaped, args.preact_batch)}
    for name in args.cases.split(","):
        if name not in models:
            raise SystemExit(f"--cases: unknown model {name!r}; choose from {', '.join(models)}")
        model, shaped, batch = models[name]
        # Enough batches that every timed step still has K of the epoch's batches to draw from.
        prepared = shaped(batch * (max(ks) + args.steps + args.warmup))
        view = make_view(prepared.train_y, prepared.test_y, 10, {})
        base = {"model": model, "batch_size": batch, "optimizer": SGD}
        label = name if name == "lenet" else f"preact{args.preact_depth}x{args.preact_width:g}"
        for k in ks:
            samplers = {"shuffle": {"name": "shuffle"}}
            for trials in ("sequential", "vmap"):
                samplers[trials] = {"name": "loss_delta", "candidates": k, "trials": trials, "score_on": args.score_on}
            timed = dict.fromkeys(samplers, float("inf"))
            for _ in range(args.repeats):  # the three take turns, so a slow spell hits all of them
                for case, sampler in samplers.items():
                    timed[case] = min(timed[case], ms_per_step({**base, "sampler": sampler}, prepared, view, device,
                                                               args.steps, args.warmup))
            shuffle, seq, vm = timed["shuffle"], timed["sequential"], timed["vmap"]
            print(f"{label:<16}{batch:>6}{k:>4}{shuffle:>12.1f}{seq:>15.1f}{vm:>10.1f}{seq / shuffle:>13.1f}{vm / shuffle:>14.1f}"
                  f"{seq / vm:>10.2f}", flush=True)


if __name__ == "__main__":
    main()

"""What the grad_cosine step metric (seed 002) costs: training throughput with it, against without.

    python bench/bench_grad_cosine.py                    # ResNet-18 (width 0.25) and VGG-16-BN on the CPU
    python bench/bench_grad_cosine.py --device cuda --width 1 --steps 100

For each model the trainer runs --steps optimizer steps with a step log of the batch-noise metric
only (what a run that does not plot the cosine logs), then with grad_cosine measured every step
and every 10 steps, on the same batches after an untimed warm-up, 40 % of the labels noisy. The
ratios are throughput against the first: a measured step costs one more backward pass.
"""

from __future__ import annotations

import argparse


from bench_trainer import cifar_shaped, mnist, timed_steps  # random images of each shape
from robustrepro.compute.device import device_name
from robustrepro.noise import make_view
from robustrepro.runs import resolve
from robustrepro.training import Trainer, pick_device, set_threads


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3, help="best of this many timings per case")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--width", type=float, default=0.25, help="model width (1 = the seed's models)")
    args = p.parse_args()
    device = pick_device(args.device)
    set_threads(args.threads)
    print(f"device: {device_name(device)}; batch {args.batch}, width {args.width:g}; {args.steps} timed steps, "
          f"best of {args.repeats}")
    cases = {"batch_noise only": {"metrics": ["batch_noise"], "every": 1},
             "cosine every step": {"metrics": ["batch_noise", "grad_cosine"], "every": 1},
             "cosine every 10": {"metrics": ["batch_noise", "grad_cosine"], "every": 10}}
    print(f"{'model':<12}" + "".join(f"{name:>20}" for name in cases) + "   (steps/s; ratio to the first)")
    for model, shaped in {"resnet18": cifar_shaped, "vgg16_bn": lambda n: mnist(None, n)[0]}.items():
        prepared = shaped(args.batch * (args.steps + args.warmup))
        view = make_view(prepared.train_y, prepared.test_y, 10, {"noise": {"kind": "uniform_incl", "rate": 0.4}})
        best = dict.fromkeys(cases, 0.0)
        for _ in range(args.repeats):  # the cases take turns, so a slow spell hits them all
            for name, log in cases.items():
                run = {"model": {"name": model, "width": args.width}, "batch_size": args.batch, "step_log": log,
                       "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4}}
                trainer = Trainer(resolve(run), prepared, view, device)
                best[name] = max(best[name], args.steps / timed_steps(trainer, args.steps, args.warmup))
        base = best["batch_noise only"]
        print(f"{model:<12}" + "".join(f"{rate:>12.2f} ({rate / base:4.2f})" for rate in best.values()), flush=True)


if __name__ == "__main__":
    main()

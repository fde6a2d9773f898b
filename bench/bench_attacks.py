"""Throughput of robustrepro's attacks against torchattacks 3.5.1 on the same model and batch.

    python bench/bench_attacks.py                 # CPU defaults: about a minute on 2 cores
    python bench/bench_attacks.py --quick         # a smoke run: a few seconds
    python bench/bench_attacks.py --device cuda --width 1 --iterations 10 --repeats 5

Each attack (FGSM, BIM, MI-FGSM, PGD with random start) attacks one CIFAR-shaped random batch
on a ResNet-20 (robustrepro.models, eval mode, CIFAR normalisation inside the model) with the
same eps, step size and iteration count in both libraries. Ours and torchattacks' alternate,
after one untimed call each; the table gives the best of --repeats timings as images per second,
the ratio ours / torchattacks, and the largest difference between the two libraries' examples
(PGD's random starts are the same numbers: torchattacks draws from the global generator, ours
from a generator seeded alike). ResNet-20's width is scaled down by default to keep a CPU run short.
"""

from __future__ import annotations

import argparse
import time

import torch
import torchattacks

from robustrepro.compute.device import device_name, pick_device, set_threads
from robustrepro.evaluation.attacks import ATTACKS, Normalized
from robustrepro.models import build_model

CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
SEED = 0


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(call, device: torch.device) -> tuple[float, torch.Tensor]:
    sync(device)
    start = time.perf_counter()
    out = call()
    sync(device)
    return time.perf_counter() - start, out


def pairs(eps: float, step: float, iterations: int, model):
    """(name, our config, torchattacks attack) for each attack, with the same settings."""
    steps = {"step_size": step, "iterations": iterations}
    theirs = {"eps": eps, "alpha": step, "steps": iterations}
    return [
        ("fgsm", {"name": "fgsm", "eps": eps}, torchattacks.FGSM(model, eps=eps)),
        ("bim", {"name": "bim", "eps": eps, **steps}, torchattacks.BIM(model, **theirs)),
        ("mifgsm", {"name": "mifgsm", "eps": eps, **steps}, torchattacks.MIFGSM(model, **theirs)),
        ("pgd", {"name": "pgd", "eps": eps, **steps}, torchattacks.PGD(model, **theirs)),
    ]


def setting(width: float, batch_size: int, device: torch.device):
    """The bench's ResNet-20 (eval mode) and one CIFAR-shaped random batch on `device`."""
    torch.manual_seed(SEED)
    model = Normalized(build_model("resnet20", 3, 10, 32, width=width), CIFAR_MEAN, CIFAR_STD).to(device).eval()
    data = torch.Generator().manual_seed(SEED + 1)
    x = torch.rand(batch_size, 3, 32, 32, generator=data).to(device)
    y = torch.randint(0, 10, (batch_size,), generator=data).to(device)
    return model, x, y


def compare(config: dict, reference, model, x: torch.Tensor, y: torch.Tensor,
            repeats: int) -> tuple[float, float, float]:
    """Images per second of our attack `config` and of torchattacks' `reference` (best of `repeats`,
    calls interleaved), and the largest difference between their adversarial examples."""
    device = x.device
    ours = ATTACKS.build(config)

    def run_ours():
        return ours(model, x, y, generator=torch.Generator(device=device).manual_seed(SEED))

    def run_theirs():
        torch.manual_seed(SEED)  # torchattacks' PGD start comes from the global generators (CUDA's too)
        return reference(x, y)

    run_ours(), run_theirs()  # untimed: allocator and kernel warm-up
    best_ours = best_theirs = float("inf")
    for r in range(repeats):
        order = [(run_ours, True), (run_theirs, False)][:: 1 if r % 2 == 0 else -1]
        for call, is_ours in order:
            seconds, out = timed(call, device)
            if is_ours:
                best_ours, ours_out = min(best_ours, seconds), out
            else:
                best_theirs, theirs_out = min(best_theirs, seconds), out
    diff = (ours_out - theirs_out).abs().max().item()
    return len(x) / best_ours, len(x) / best_theirs, diff


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--width", type=float, default=0.5, help="ResNet-20 width (1 is the standard network)")
    p.add_argument("--iterations", type=int, default=5, help="iterations of BIM, MI-FGSM and PGD")
    p.add_argument("--repeats", type=int, default=4, help="timed calls of each attack; the best is reported")
    p.add_argument("--eps", type=float, default=8 / 255)
    p.add_argument("--step-size", type=float, default=2 / 255)
    p.add_argument("--attacks", default="fgsm,bim,mifgsm,pgd", help="comma-separated subset")
    p.add_argument("--quick", action="store_true", help="batch 32, width 0.25, 2 iterations, 3 repeats")
    args = p.parse_args()
    if args.quick:
        args.batch_size, args.width, args.iterations, args.repeats = 32, 0.25, 2, 3

    device = pick_device(args.device)
    set_threads(args.threads)
    model, x, y = setting(args.width, args.batch_size, device)

    print(f"device: {device_name(device)}; resnet20 width {args.width}; batch {args.batch_size}; "
          f"{args.iterations} iterations; best of {args.repeats}")
    print(f"{'attack':<10}{'ours img/s':>12}{'torchattacks img/s':>20}{'ratio':>8}{'max |diff|':>12}")
    wanted = args.attacks.split(",")
    unknown = sorted(set(wanted) - {"fgsm", "bim", "mifgsm", "pgd"})
    if unknown:
        raise SystemExit(f"--attacks: unknown {', '.join(unknown)}; choose from fgsm, bim, mifgsm, pgd")
    for name, config, reference in pairs(args.eps, args.step_size, args.iterations, model):
        if name not in wanted:
            continue
        rate_ours, rate_theirs, diff = compare(config, reference, model, x, y, args.repeats)
        ratio = rate_ours / rate_theirs
        print(f"{name:<10}{rate_ours:>12.1f}{rate_theirs:>20.1f}{ratio:>8.2f}{diff:>12.1e}", flush=True)


if __name__ == "__main__":
    main()

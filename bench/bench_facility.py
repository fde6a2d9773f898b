"""Per-class facility location: robustrepro's greedy (incremental gains) against the plain greedy.

    python bench/bench_facility.py                        # N = 10k and 50k on the CPU (~10 min on 2 cores)
    python bench/bench_facility.py --device cuda --sizes 10000 50000 100000
    python bench/bench_facility.py --threads 1 --plain-steps 200     # steadier on a shared CPU

The case is seed 000's online selection (section 6.1.2): N unit vectors of dimension 10 (the
softmax gradients of a 10-class problem) in 10 equal classes, ratio 0.4 selected per class.
The baseline is the textbook greedy, neither lazy nor blocked: the class's whole distance
matrix, and at every step every candidate's gain in one [n, n] operation, then the argmax.
--plain-steps S times only the first S steps of each class and scales up (a plain step
costs the same at every step); the output says so. Both pick greedily, so both reach the same
total distance to the nearest facility (section 5.1's objective, printed as ours / plain);
their picks part only where two gains tie to float32 rounding. (The columns keep the name
"lazy" from the lazy-greedy version; bench/device_check.py reads them by position.)
See bench/bench_facility_apricot.py for the comparison with apricot.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from robustrepro.selection.facility import per_class_facility_location
from robustrepro.compute.device import device_name, pick_device, set_threads

CLASSES = 10
DIMS = 10
RATIO = 0.4


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_greedy(x: torch.Tensor, k: int, steps: int | None) -> tuple[list[int], float]:
    """The textbook greedy on one class; returns its picks and its (scaled-up) seconds."""
    start = time.perf_counter()
    with_fp32 = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    d = torch.cdist(x, x)
    torch.set_float32_matmul_precision(with_fp32)
    nearest = torch.full((len(x),), float(d.max()), device=x.device)
    chosen = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    picks = []
    setup = time.perf_counter() - start
    timed = k if steps is None else min(k, steps)
    for _ in range(timed):
        gains = (nearest[None, :] - d).clamp_(min=0).sum(1).masked_fill_(chosen, -1)
        j = int(gains.argmax())
        picks.append(j)
        chosen[j] = True
        torch.minimum(nearest, d[j], out=nearest)
    sync(x.device)
    return picks, setup + (time.perf_counter() - start - setup) * k / timed


def total_distance(x: torch.Tensor, facilities) -> float:
    """Section 5.1's objective in float64: every point's distance to its nearest facility, summed."""
    x = x.double()
    return float(torch.cdist(x, x[torch.as_tensor(facilities, device=x.device)]).min(1).values.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--plain-steps", type=int, default=None, help="time this many plain steps per class, scale up")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    set_threads(args.threads)
    device = pick_device(args.device)
    print(f"device: {device_name(device)}; {DIMS}-dim unit vectors, {CLASSES} classes, ratio {RATIO}")
    print(f"{'N':>8} {'plain_s':>9} {'lazy_s':>8} {'speedup':>8} {'objective lazy/plain':>21}")
    for n in args.sizes:
        rng = np.random.default_rng(args.seed)
        x = rng.normal(size=(n, DIMS)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        labels = np.arange(n) % CLASSES
        vectors = torch.from_numpy(x).to(device)

        per_class_facility_location(vectors[:CLASSES * 50], labels[:CLASSES * 50], RATIO, device)  # warm up
        plain_greedy(vectors[:500], 50, None)
        sync(device)
        start = time.perf_counter()
        lazy = per_class_facility_location(vectors, labels, RATIO, device)
        sync(device)
        lazy_s = time.perf_counter() - start

        plain_s, plain_cost, lazy_cost = 0.0, 0.0, 0.0
        for c in range(CLASSES):
            rows = np.flatnonzero(labels == c)
            members = vectors[torch.from_numpy(rows).to(device)]
            picks, seconds = plain_greedy(members, round(RATIO * len(rows)), args.plain_steps)
            plain_s += seconds
            mine = np.searchsorted(rows, lazy.indices[labels[lazy.indices] == c])[:len(picks)]
            plain_cost += total_distance(members, picks)
            lazy_cost += total_distance(members, mine)
        note = "" if args.plain_steps is None else f"  (plain: first {args.plain_steps} steps per class, scaled)"
        print(f"{n:>8} {plain_s:>9.2f} {lazy_s:>8.2f} {plain_s / lazy_s:>7.1f}x {lazy_cost / plain_cost:>21.6f}{note}")


if __name__ == "__main__":
    main()

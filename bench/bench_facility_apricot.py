"""Facility location: robustrepro's greedy against apricot's lazy greedy, on the same points.

    pip install apricot-select scikit-learn          # bench only: not a dependency of robustrepro
    python bench/bench_facility_apricot.py --threads 1
    python bench/bench_facility_apricot.py --repeats 1 --seeds 0 1 2 3 4     # the objectives' spread
    python bench/bench_facility_apricot.py --busy-core     # idle, then with another process spinning on a core

The case is one class of seed 000's selection at the paper's size: N = 5,000 unit vectors
(dimension 10, the softmax gradients of a 10-class problem, and 64), ratio 0.4, so k = 2,000.
Both run in this process on the same float32 points (apricot gets them as float64, its
dtype); each time is the best of --repeats and covers the whole call, distances included.

apricot's FacilityLocationSelection(metric='euclidean') maximises sum_i max_j (D - d_ij^2),
with D the largest squared distance: it minimises squared distances, not section 5.1's total
distance. So its selection is scored by our one formula, the total L2 distance of every point
to its nearest selected point (float64, no matrix-product shortcut), beside ours. The row
"apricot, d0 - d" gives apricot our objective, the precomputed similarity d0 - d_ij (built
outside its timer, in its favour): the same greedy then picks nearly what ours picks, its
float64 distances settling some near-ties otherwise than our float32 ones. Overlap is
|ours & theirs| / k.

--busy-core measures everything twice: on the machine as it is, then while a second process
spins on one core, as on a laptop running something else or a shared node. A split op whose
threads wait on the one sharing a core shows there as a collapse of its time.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time

import numpy as np
import torch

from busy_core import busy_core
from robustrepro.compute.device import set_threads
from robustrepro.selection.facility import facility_location

try:
    import apricot
    from apricot import FacilityLocationSelection
except ImportError:
    sys.exit("bench_facility_apricot.py needs apricot: pip install apricot-select scikit-learn")

N = 5000
RATIO = 0.4


def unit_points(n: int, dims: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, dims)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def total_distance(x: np.ndarray, picks) -> float:
    """Section 5.1's objective: every point's L2 distance to its nearest pick, summed, in float64."""
    x = torch.from_numpy(x).double()
    d = torch.cdist(x, x[torch.as_tensor(np.asarray(picks))], compute_mode="donot_use_mm_for_euclid_dist")
    return float(d.min(1).values.sum())


def best_of(repeats: int, run):
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - start)
    return min(times), out


def blas_threads(threads: int | None):
    """numpy's BLAS (apricot's distances) limited to the threads torch gets."""
    if threads is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits
    return threadpool_limits(threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dims", type=int, nargs="+", default=[10, 64])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch and BLAS threads (default: theirs)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="one set of points per seed")
    parser.add_argument("--no-same-objective", dest="same_objective", action="store_false",
                        help="skip apricot on our objective (precomputed d0 - d)")
    parser.add_argument("--busy-core", action="store_true",
                        help="measure again while another process spins on one core")
    args = parser.parse_args()
    set_threads(args.threads)
    k = round(RATIO * N)
    print(f"N = {N} unit vectors, k = {k} (ratio {RATIO}), best of {args.repeats}; apricot {apricot.__version__}, "
          f"torch {torch.__version__} on {torch.get_num_threads()} threads")
    print(f"{'machine':<15} {'dims':>4} {'seed':>4}  {'method':<29} {'seconds':>8} {'total distance':>15} "
          f"{'overlap':>8} {'apricot/ours':>13}")
    facility_location(unit_points(500, 10, 0), 200)  # warm up torch
    for busy in (False, True) if args.busy_core else (False,):
        with busy_core(busy):
            for dims, seed in ((dims, seed) for dims in args.dims for seed in args.seeds):
                measure(unit_points(N, dims, seed), dims, seed, k, args, "one core busy" if busy else "as it is")


def measure(x: np.ndarray, dims: int, seed: int, k: int, args, machine: str) -> None:
    x64 = x.astype(np.float64)
    ours_s, ours = best_of(args.repeats, lambda: facility_location(torch.from_numpy(x), k).indices)
    rows = [("robustrepro", ours_s, ours)]
    with blas_threads(args.threads):
        FacilityLocationSelection(10, metric="euclidean", optimizer="lazy").fit(x64[:100])  # warm up numba
        theirs_s, theirs = best_of(args.repeats, lambda: FacilityLocationSelection(
            k, metric="euclidean", optimizer="lazy").fit(x64).ranking)
        rows.append(("apricot, euclidean (squared)", theirs_s, theirs))
        if args.same_objective:
            d = torch.cdist(torch.from_numpy(x64), torch.from_numpy(x64)).numpy()
            similarity = d.max() - d
            del d
            same_s, same = best_of(args.repeats, lambda: FacilityLocationSelection(
                k, metric="precomputed", optimizer="lazy").fit(similarity).ranking)
            rows.append(("apricot, d0 - d (precomputed)", same_s, same))
            del similarity
    for name, seconds, picks in rows:
        overlap = len(np.intersect1d(ours, picks)) / k
        ratio = "" if picks is ours else f"{seconds / ours_s:.2f}x"
        print(f"{machine:<15} {dims:>4} {seed:>4}  {name:<29} {seconds:>8.2f} {total_distance(x, picks):>15.3f} "
              f"{overlap:>8.3f} {ratio:>13}", flush=True)

if __name__ == "__main__":
    main()

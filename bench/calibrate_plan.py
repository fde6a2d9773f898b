"""Fit the plan's CPU cost model to a finished build, and print the estimate against the measurement.

    python bench/calibrate_plan.py WORKDIR [--jobs 2] [--measured-s SECONDS]

WORKDIR is the folder a build ran in (a fresh clone after `make reproduce`): its
.snakemake/metadata gives every job's start and end, its results/*/runs/*/metrics.json every
trained run's config. The train jobs' durations (process start-up included) are fitted to the
plan's model, seconds = start + steps * step_s + GFLOPs / gflop_s (robustrepro.plan.run_work): the
start is the shortest train job's time, the two rates a least-squares fit (neither below zero) to
the rest; the other jobs (data, views, extraction, set covers, reports) are summed per rule.
It prints the fitted rates, the time per rule, and the plan's estimate of the whole build (at the
fitted rates and at the rates robustrepro.plan has now) as a ratio over the build's measured wall
time (first job start to last job end, or --measured-s). Set DEFAULT_RATES["cpu"] and
OTHER_JOB_S from its output.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from robustrepro import plan  # noqa: E402

# The jobs besides training that the plan counts (robustrepro.plan.AllTargets._other_jobs and the
# evaluations); the time of every other job (data, light jobs, reports) is spread over them.
COUNTED = ("view", "extract", "cluster", "evaluate")


def jobs(workdir: Path) -> list[dict]:
    """One record per finished job: rule, start, end and its outputs (a record per output on disk)."""
    seen: dict[tuple, dict] = {}
    for path in (workdir / ".snakemake" / "metadata").iterdir():
        record = json.loads(path.read_text())
        output = base64.b64decode(path.name.replace("@", "/")).decode()
        # A job's outputs share its end time (their start times differ by microseconds).
        key = (record["rule"], record["endtime"])
        job = seen.setdefault(key, {"rule": record["rule"], "start": record["starttime"], "end": record["endtime"],
                                    "outputs": []})
        job["start"] = min(job["start"], record["starttime"])
        job["outputs"].append(output)
    return sorted(seen.values(), key=lambda j: j["start"])


def run_of(workdir: Path, outputs: list[str]) -> dict | None:
    for output in outputs:
        path = Path(output) if Path(output).is_absolute() else workdir / output
        if path.name == "metrics.json" and path.is_file():
            return json.loads(path.read_text())["provenance"]["run"]
    return None


def nonnegative_fit(a: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Least squares with every coefficient >= 0 (no rate is negative): the best of the fits over each
    subset of the columns whose coefficients all come out non-negative."""
    best, best_error = np.zeros(a.shape[1]), float(np.sum(t ** 2))
    for mask in itertools.product((True, False), repeat=a.shape[1]):
        columns = [i for i, keep in enumerate(mask) if keep]
        if not columns:
            continue
        coef, *_ = np.linalg.lstsq(a[:, columns], t, rcond=None)
        if (coef < 0).any():
            continue
        full = np.zeros(a.shape[1])
        full[columns] = coef
        error = float(np.sum((a @ full - t) ** 2))
        if error < best_error:
            best, best_error = full, error
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("workdir", type=Path)
    p.add_argument("--jobs", type=int, default=2, help="jobs at once in the build (--cores / threads)")
    p.add_argument("--measured-s", type=float, default=None, help="the build's wall time, if not the jobs' span")
    args = p.parse_args()

    records = jobs(args.workdir)
    work, seconds, other = [], [], defaultdict(list)
    for job in records:
        run = run_of(args.workdir, job["outputs"]) if job["rule"] == "train" else None
        if run is None:
            other[job["rule"]].append(job["end"] - job["start"])
            continue
        work.append(plan.run_work(run))
        seconds.append(job["end"] - job["start"])
    if not work:
        sys.exit("no train job with a metrics.json in " + str(args.workdir))
    t = np.array(seconds)
    # The start-up (process, imports, data) is what the shortest train job took, whose compute is
    # next to nothing; steps and arithmetic are fitted to what the others took beyond it.
    start_s = float(t.min())
    a = np.array([[steps, gflops] for steps, gflops in work])
    step_s, per_gflop = nonnegative_fit(a, t - start_s)
    fitted = (start_s, float(step_s), float(1 / per_gflop) if per_gflop > 0 else float("inf"))
    residual = start_s + a @ np.array([step_s, per_gflop]) - t
    print(f"{len(t)} train jobs, {t.sum():.0f} job-seconds; fitted cpu rates: start {fitted[0]:.2f} s, "
          f"step {fitted[1] * 1000:.2f} ms, {fitted[2]:.1f} GFLOP/s (median abs error "
          f"{statistics.median(abs(residual)):.1f} s a job)")
    other_s = sum(sum(v) for v in other.values())
    counted = sum(len(other.get(rule, [])) for rule in COUNTED)
    for rule, durations in sorted(other.items(), key=lambda kv: -sum(kv[1])):
        print(f"  {rule}: {len(durations)} jobs, {sum(durations):.0f} s")
    per_job = other_s / max(counted, 1)
    print(f"other jobs: {other_s:.0f} job-seconds; the plan counts {counted} of them ({', '.join(COUNTED)}): "
          f"{per_job:.1f} s each carries all (OTHER_JOB_S)")

    span = records[-1]["end"] - records[0]["start"] if args.measured_s is None else args.measured_s
    for name, rates, job_s in (("fitted", fitted, per_job),
                               ("robustrepro.plan's", plan.DEFAULT_RATES["cpu"], plan.OTHER_JOB_S["cpu"])):
        per_run = sum(rates[0] + steps * rates[1] + gflops / rates[2] for steps, gflops in work)
        estimate = (per_run + counted * job_s) / args.jobs
        print(f"estimate at {name} rates {tuple(round(r, 4) for r in rates)}, {job_s:.1f} s a counted job: "
              f"{estimate:.0f} s; measured {span:.0f} s; estimate / measured {estimate / span:.2f}")

if __name__ == "__main__":
    main()

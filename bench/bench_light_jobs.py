"""A paper's light jobs (its group CSVs, tables, figures, comparison and claims) run in one process, as
the workflow runs them inside Snakemake (robustrepro.inprocess), against one `python -m robustrepro`
per job, as the rules ran them before.

    python bench/bench_light_jobs.py                          # noise-batchsize: 16 targets, 13 groups
    python bench/bench_light_jobs.py --paper robust-clustering --workdir /tmp/bench-light

The paper's smoke targets are built once with Snakemake in --workdir (reused when there); then both
ways rebuild every light output of the paper from the same runs, each best of --repeats, and the bench
checks that they write the same tables (the figures' CSVs and the comparison, timings aside).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from robustrepro import paths
from robustrepro.inprocess import in_process
from robustrepro.papers import load
from robustrepro.report import jobs

ROOT = Path(__file__).resolve().parents[1]


def build(workdir: Path, slug: str) -> None:
    config = workdir / "config.yaml"
    config.write_text(yaml.safe_dump({
        "scale": "smoke", "seeds": [0], "device": "cpu", "threads": 1, "progress": False, "pack": True,
        "data": {"root": str(workdir / "data"), "shared_roots": [], "mirror": None,
                 "prepared": str(workdir / "prepared")}}))
    paper = load(slug)
    files = [paths.target_file("smoke", slug, t.name, ext) for t in paper.targets for ext in t.outputs()]
    files.append(paths.target_file("smoke", slug, "comparison", ".csv"))
    subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(workdir),
                    "--configfile", str(config), "--cores", "2", *files], check=True, capture_output=True)


def images(paper, target) -> list[str]:
    dataset = paper.images_dataset(target, "smoke")
    return [] if dataset is None else [str(Path("prepared") / f"{dataset}.npz")]


def in_one_process(slug: str, logs: Path) -> None:
    paper = load(slug)
    for group in paper.groups:
        in_process(logs / f"{group.name}.log", jobs.group_csv, paper, group.name, "smoke", [0],
                   paths.group_csv("smoke", slug, group.name))
    for target in paper.targets:
        in_process(logs / f"{target.name}.log", jobs.target, paper, target.name, "smoke", *images(paper, target))
    groups = [paths.group_csv("smoke", slug, g.name) for g in paper.groups]
    in_process(logs / "comparison.log", jobs.comparison, paper, "smoke", groups)


def one_process_per_job(slug: str) -> None:
    paper = load(slug)
    run = [sys.executable, "-m", "robustrepro"]
    for group in paper.groups:
        subprocess.run(run + ["collect", "--paper", slug, "--group", group.name, "--scale", "smoke", "--seeds", "0",
                              "--runs-root", paths.runs_root("smoke"), "--evals-root", paths.evals_root("smoke"),
                              "--out", paths.group_csv("smoke", slug, group.name)], check=True, capture_output=True)
    for target in paper.targets:
        extra = [arg for path in images(paper, target) for arg in ("--images", path)]
        subprocess.run(run + ["target", "--paper", slug, "--target", target.name, "--scale", "smoke",
                              "--results-dir", paths.paper_dir("smoke", slug), "--runs-root",
                              paths.runs_root("smoke"), *extra], check=True, capture_output=True)
    groups = [paths.group_csv("smoke", slug, g.name) for g in paper.groups]
    subprocess.run(run + ["compare", "--paper", slug, "--scale", "smoke", "--results-dir",
                          paths.paper_dir("smoke", slug), "--groups", *groups], check=True, capture_output=True)


def tables(slug: str) -> dict[str, pd.DataFrame]:
    """The paper's CSVs without their wall-time columns, which differ between rebuilds."""
    found = {}
    for path in sorted(Path(paths.paper_dir("smoke", slug)).rglob("*.csv")):
        frame = pd.read_csv(path)
        found[str(path)] = frame.drop(columns=[c for c in frame.columns if c.endswith("time_s")])
    return found


def same_tables(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> bool:
    return a.keys() == b.keys() and all(a[k].equals(b[k]) for k in a)


def best_of(repeats: int, work) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paper", default="noise-batchsize")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "bench-light-jobs")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    build(args.workdir, args.paper)
    os.chdir(args.workdir)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
    paper = load(args.paper)
    count = len(paper.groups) + len(paper.targets) + 1
    spawned = best_of(args.repeats, lambda: one_process_per_job(args.paper))
    theirs = tables(args.paper)
    logs = Path(tempfile.mkdtemp(prefix="bench-light-logs-"))
    # The first call imports pandas and matplotlib, as the Snakemake process does once per build.
    ours = best_of(args.repeats, lambda: in_one_process(args.paper, logs))
    same = same_tables(tables(args.paper), theirs)
    print(f"{args.paper}: {count} light jobs ({len(paper.groups)} group CSVs, {len(paper.targets)} targets, "
          "the comparison) on a CPU")
    print(f"  one python -m robustrepro per job: {spawned:.2f} s ({spawned / count * 1000:.0f} ms a job)")
    print(f"  in one process (the workflow's way): {ours:.2f} s ({ours / count * 1000:.0f} ms a job)")
    print(f"  ratio: {spawned / ours:.1f}x; the same tables: {same}")


if __name__ == "__main__":
    main()

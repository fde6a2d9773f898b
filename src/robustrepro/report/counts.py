"""`robustrepro counts`: what every paper trains at every scale, counted from the specs themselves.

One row per paper and scale: the seeds the scale runs by default, the distinct runs and evaluations
(run ids dedupe within a paper, as the workflow trains each once) and the training time the plan's
cost models give at their default rates: GPU-hours on one H100 (robustrepro.gpu_cost, packs side by
side) and hours on the 2-core CPU (robustrepro.plan: uncalibrated; a build's own plan calibrates on
the machine's finished runs). docs/running.md's table of counts is this command's output; a test
regenerates it, so no count is typed by hand. `--gpu`: one row per paper at paper scale, what its
H100 GPU-hours are made of (docs/performance.md's table, checked the same way).
"""

from __future__ import annotations

import pandas as pd

from robustrepro.config import SCALE_SEEDS
from robustrepro.papers.spec import Paper
from robustrepro.gpu_cost import describe_hours
from robustrepro.plan import describe_seconds, estimate_seconds, gpu_cost_of
from robustrepro.scales import SCALES

# What the estimates assume: one GPU running one job at a time; the 2-core CPU the CPU rates were
# fitted on, two one-thread jobs at once.
CPU_JOBS = 2


def counts(papers: list[Paper], scales=SCALES) -> pd.DataFrame:
    rows = []
    for paper in papers:
        for scale in scales:
            seeds = SCALE_SEEDS[scale]
            runs = {row["run_id"]: row["run"] for row in paper.runs(scale, seeds)}
            evaluations = {row["eval_id"] for row in paper.evaluations(scale, seeds)}
            rows.append({
                "paper": paper.slug, "scale": scale, "seeds": ", ".join(map(str, seeds)), "runs": len(runs),
                "evaluations": len(evaluations),
                "H100 (GPU-h)": describe_hours(estimate_seconds(runs, "cuda", 1.0, 1) / 3600),
                "2-core CPU": describe_seconds(estimate_seconds(list(runs.values()), "cpu", 1.0, CPU_JOBS)),
            })
    return pd.DataFrame(rows)


def gpu_counts(papers: list[Paper], scale: str = "paper") -> pd.DataFrame:
    """Per paper at `scale`, its default seeds: runs, packs, jobs, training PFLOPs and GPU-hours on one
    H100, split into the hours of FLOP-bound and of step-bound jobs; a last row for all papers
    (a run two papers share trains once)."""
    seeds, every, rows = SCALE_SEEDS[scale], {}, []

    def row(name, runs):
        cost = gpu_cost_of(runs)
        return {"paper": name, "runs": cost.runs, "packs": cost.packs, "jobs": len(cost.jobs),
                "PFLOP": f"{cost.pflops:,.1f}", "H100 (GPU-h)": describe_hours(cost.hours),
                "FLOP-bound (GPU-h)": describe_hours(cost.flop_bound_hours),
                "step-bound (GPU-h)": describe_hours(cost.step_bound_hours)}

    for paper in papers:
        runs = {r["run_id"]: r["run"] for r in paper.runs(scale, seeds)}
        every.update(runs)
        rows.append(row(paper.slug, runs))
    rows.append(row("all papers", every))
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame) -> str:
    # Hours and PFLOPs as written ("2.0", "1,270.1"), not reparsed as numbers.
    text = [i for i, column in enumerate(table.columns) if "GPU-h" in column or column == "PFLOP"]
    return table.to_markdown(index=False, tablefmt="github", disable_numparse=text or False) + "\n"

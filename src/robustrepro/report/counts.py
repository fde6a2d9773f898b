"""`robustrepro counts`: what every paper trains at every scale, counted from the specs themselves.

One row per paper and scale: the seeds the scale runs by default, the distinct runs and evaluations
(run ids dedupe within a paper, as the workflow trains each once) and the training time the plan's
cost model gives at its default rates (robustrepro.plan: uncalibrated; a build's own plan calibrates
on the machine's finished runs). docs/running.md's table of counts is this command's output; a test
regenerates it, so no count is typed by hand.
"""

from __future__ import annotations

import pandas as pd

from robustrepro.config import SCALE_SEEDS
from robustrepro.papers.spec import Paper
from robustrepro.plan import describe_seconds, estimate_seconds
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
                "one GPU": describe_seconds(estimate_seconds(list(runs.values()), "cuda", 1.0, 1)),
                "2-core CPU": describe_seconds(estimate_seconds(list(runs.values()), "cpu", 1.0, CPU_JOBS)),
            })
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame) -> str:
    return table.to_markdown(index=False, tablefmt="github") + "\n"

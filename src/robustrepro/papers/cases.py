"""Numbers to try a claim on: collected results shaped as the workflow writes them, for the cases a
claim must reject and must accept (Claim.must_fail, Claim.must_hold).

A group's collected runs (robustrepro.report.results.collect) are one row per run: the group, its
grid coordinates as dotted keys, seed, run_id and the metrics as fractions. Histories and step logs
are the runs' history.csv / steps.csv rows stacked, with the coordinates and seed.
"""

from __future__ import annotations

import pandas as pd

SEEDS = (0, 1)


def collected(group: str, points: list[tuple[dict, dict]], jitter: float = 0.05) -> pd.DataFrame:
    """One row per (coordinates, metrics in %) and seed of SEEDS, the metrics as fractions; the seeds
    differ by ±jitter points around each value, so a claim reads a mean over seeds."""
    rows = []
    for i, (coords, metrics) in enumerate(points):
        for seed in SEEDS:
            shift = jitter if seed else -jitter
            rows.append({"group": group, **coords, "seed": seed, "run_id": f"{group}-{i}-{seed}",
                         **{k: (v + shift) / 100 for k, v in metrics.items()}})
    return pd.DataFrame(rows)

"""Collect the runs of a group into one table: grid coordinates, seed, run id and final metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from robustrepro.errors import UserError
from robustrepro.papers.spec import Paper


def collect(paper: Paper, group: str, scale: str, seeds: list[int], runs_root: str | Path) -> pd.DataFrame:
    """One row per run of `group`: its coordinates (dotted keys), seed, run id and scalar metrics."""
    rows = []
    for row in paper.runs(scale, seeds):
        if row["group"] != group:
            continue
        path = Path(runs_root) / row["run_id"] / "metrics.json"
        if not path.is_file():
            raise UserError(f"{path} is missing: run {row['run_id']} has not finished; build it first")
        metrics = json.loads(path.read_text())
        scalars = {k: v for k, v in metrics.items() if isinstance(v, (int, float, type(None))) and k != "seed"}
        rows.append({"group": group, **row["coords"], "run_id": row["run_id"], **scalars})
    return pd.DataFrame(rows)


def histories(results: pd.DataFrame, runs_root: str | Path, coords: list[str]) -> pd.DataFrame:
    """Every run's history.csv stacked, each row tagged with the run's coordinates and seed."""
    frames = []
    for _, run in results.iterrows():
        history = pd.read_csv(Path(runs_root) / run["run_id"] / "history.csv")
        for key in [*coords, "seed"]:
            history[key] = run[key]
        frames.append(history)
    return pd.concat(frames, ignore_index=True)

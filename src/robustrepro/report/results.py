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


def mean_std(results: pd.DataFrame, keys: list[str], metric: str, scale: float = 1.0) -> pd.DataFrame:
    """Mean, standard deviation (ddof=1; NaN for one seed) and count over seeds per key combination."""
    grouped = results.groupby(keys, sort=True)[metric]
    out = grouped.agg(["mean", "std", "count"]).reset_index()
    out[["mean", "std"]] = out[["mean", "std"]] * scale
    return out.rename(columns={"count": "n"})


def best_over(results: pd.DataFrame, axis: str, keys: list[str], by: str = "val_acc1") -> pd.DataFrame:
    """For each combination of `keys`, the runs at the value of `axis` whose mean `by` is highest.

    This is model selection on validation numbers: e.g. the best learning rate per model and
    alpha, chosen on the validation split, then reported on the test set.
    """
    means = results.groupby([*keys, axis], sort=True)[by].mean().reset_index()
    best = means.loc[means.groupby(keys, sort=True)[by].idxmax(), [*keys, axis]]
    return results.merge(best, on=[*keys, axis])

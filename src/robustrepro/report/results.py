"""Collect the runs of a group into one table: grid coordinates, seed, run id, final metrics and
the numbers of the group's evaluations (one set of columns per evaluation, on its run's row)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from robustrepro import paths
from robustrepro.errors import UserError
from robustrepro.papers.spec import Paper

# What each evaluation adds to its run's row, as <name>_<key>.
EVALUATION_COLUMNS = ("acc1", "clean_acc1", "loss", "clean_loss", "n")
CODE_CHARS = 16  # of a run's code fingerprint, in the group CSV's `code` column


def collect(paper: Paper, group: str, scale: str, seeds: list[int], runs_root: str | Path,
            evals_root: str | Path | None = None) -> pd.DataFrame:
    """One row per run of `group`: its coordinates (dotted keys), seed, run id and scalar metrics,
    then <name>_acc1 (under its attack), <name>_clean_acc1, <name>_loss, <name>_clean_loss and
    <name>_n of each of the group's evaluations. `evals_root` defaults to runs_root's sibling
    `evals` (results/{scale}/evals)."""
    evals_root = Path(runs_root).parent / "evals" if evals_root is None else Path(evals_root)
    evaluations: dict[str, list[dict]] = {}
    for row in paper.evaluations(scale, seeds):
        if row["group"] == group:
            evaluations.setdefault(row["run_id"], []).append(row)
    rows = []
    for row in paper.runs(scale, seeds):
        if row["group"] != group:
            continue
        path = Path(runs_root) / row["run_id"] / paths.METRICS
        if not path.is_file():
            raise UserError(f"{path} is missing: run {row['run_id']} has not finished; build it first")
        metrics = json.loads(path.read_text())
        scalars = {k: v for k, v in metrics.items() if isinstance(v, (int, float, type(None))) and k != "seed"}
        scalars["code"] = code_of(metrics)
        for evaluation in evaluations.get(row["run_id"], []):
            scalars.update(_evaluation_columns(evaluation, evals_root, scalars))
        rows.append({"group": group, **row["coords"], "run_id": row["run_id"], **scalars})
    return pd.DataFrame(rows)


def code_of(metrics: dict) -> str:
    """The fingerprint of the code that trained a run, as its metrics.json records it (short)."""
    return str(((metrics.get("provenance") or {}).get("code") or {}).get("source_sha256", "not recorded"))[:CODE_CHARS]


def other_code(results: dict[str, pd.DataFrame]) -> tuple[int, int]:
    """(runs made by other code than this checkout's training code, runs) over the groups' results: runs
    kept across a code change (`--rerun-triggers mtime input`)."""
    from robustrepro.provenance import code_fingerprint

    current = code_fingerprint()["source_sha256"][:CODE_CHARS]
    codes = [c for frame in results.values() if "code" in frame.columns for c in frame["code"]]
    return sum(c != current for c in codes), len(codes)


def _evaluation_columns(evaluation: dict, evals_root: Path, taken: dict) -> dict:
    path = evals_root / f"{evaluation['eval_id']}.json"
    if not path.is_file():
        raise UserError(f"{path} is missing: evaluation {evaluation['name']} of run {evaluation['run_id']} has not "
                        "been built; build the target with the workflow (or that file) first")
    result = json.loads(path.read_text())
    if result.get("eval_id") != evaluation["eval_id"]:
        raise UserError(f"{path} holds evaluation {result.get('eval_id')!r}, not {evaluation['eval_id']}; "
                        "delete it and build it again")
    columns = {f"{evaluation['name']}_{key}": result[key] for key in EVALUATION_COLUMNS}
    clash = sorted(set(columns) & set(taken))
    if clash:
        raise UserError(f"evaluation {evaluation['name']} of group {evaluation['group']}: its column {clash[0]} "
                        "is already a column of the run's results; rename the evaluation")
    return columns


def histories(results: pd.DataFrame, runs_root: str | Path, coords: list[str], log: str = paths.HISTORY) -> pd.DataFrame:
    """Every run's history.csv (or `log`: "steps.csv", the per-step log) stacked, each row tagged
    with the run's coordinates and seed."""
    frames = []
    for _, run in results.iterrows():
        path = Path(runs_root) / run["run_id"] / log
        if not path.is_file():
            raise UserError(f"{path} is missing: run {run['run_id']} wrote no {log}"
                            + (" (give the run a step_log section)" if log == "steps.csv" else ""))
        history = pd.read_csv(path)
        for key in [*coords, "seed"]:
            history[key] = run[key]
        frames.append(history)
    return pd.concat(frames, ignore_index=True)

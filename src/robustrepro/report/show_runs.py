"""`robustrepro show-runs PAPER [GROUP] --scale S`: every resolved run of a paper (or one run group) at a
scale as a table, so that "what lr, schedule, batch size and epochs does this target train?" is one
command. A row is a run: its group, id, grid coordinates and seed, then every setting that differs
from robustrepro.runs.DEFAULT_RUN, as dotted keys (optimizer.lr, schedule.name, ...).
"""

from __future__ import annotations

import pandas as pd

from robustrepro.errors import UserError, unknown_choice
from robustrepro.papers.spec import Paper
from robustrepro.runs import resolve

FORMATS = ("table", "markdown", "csv")


def flatten(run: dict, prefix: str = "") -> dict:
    """A run as dotted keys; a list or a value that is not a dict stays one cell."""
    out = {}
    for key, value in run.items():
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


DEFAULTS = flatten(resolve({}))
_ABSENT = object()  # a setting the defaults do not have differs from them whatever its value


def runs_table(paper: Paper, scale: str, seeds: list[int], group: str | None = None) -> pd.DataFrame:
    """One row per run of the paper (or of `group`) at `scale`: group, run id, coordinates, seed, and every
    setting that differs from the defaults. Columns are the union over the rows; a blank is the default."""
    if group is not None and group not in [g.name for g in paper.groups]:
        raise unknown_choice(f"paper {paper.slug}: run group", group, [g.name for g in paper.groups])
    rows = []
    for row in paper.runs(scale, seeds):
        if group is not None and row["group"] != group:
            continue
        settings = {k: v for k, v in flatten(row["run"]).items() if DEFAULTS.get(k, _ABSENT) != v}
        rows.append({"group": row["group"], "run_id": row["run_id"], **row["coords"], "seed": row["run"]["seed"],
                     **{k: _cell(v) for k, v in settings.items() if k not in row["coords"] and k != "seed"}})
    if not rows:
        raise UserError(f"paper {paper.slug} has no runs at {scale} scale with seeds {seeds}")
    return pd.DataFrame(rows)


def _cell(value):
    return "none" if value is None else str(value) if isinstance(value, (list, dict)) else value


def render(table: pd.DataFrame, fmt: str) -> str:
    if fmt not in FORMATS:
        raise unknown_choice("--format", fmt, FORMATS)
    shown = table.astype(object).where(table.notna(), "")
    if fmt == "csv":
        return table.to_csv(index=False)
    return shown.to_markdown(index=False, tablefmt="github" if fmt == "markdown" else "simple") + "\n"

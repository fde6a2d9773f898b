"""Reported vs reproduced numbers, and the paper's claims checked on the reproduced runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from robustrepro.papers.spec import Paper, Reported
from robustrepro.analysis.stats import best_over
from robustrepro.report.results import histories
from robustrepro.report.tables import write_table

# The papers print two decimals; the difference is taken between the rounded numbers, so that it
# reads straight off the row.
DIGITS = 2
COLUMNS = ["target", "group", "method", "setting", "selection", "metric", "reported", "reproduced", "std", "n",
           "difference", "scale", "note"]


def _where(where: dict) -> str:
    return ", ".join(f"{k.split('.')[-1]}={v}" for k, v in where.items())


def _selection(rep: Reported) -> str:
    """How the reproduced number is chosen among the group's runs, in words."""
    if rep.select.startswith("best:"):
        axis = rep.select.removeprefix("best:").split(".")[-1]
        return f"best {axis} on validation, then mean over seeds"
    return "mean over seeds"


def comparison(paper: Paper, results: dict[str, pd.DataFrame], scale: str) -> pd.DataFrame:
    """One row per reported number: the reproduced mean ± std over seeds (in %), n and the difference."""
    rows = []
    for rep in paper.reported:
        values = pd.Series(dtype=float)  # a group not built (its data missing here) counts as not run
        if rep.group in results:
            runs = results[rep.group]
            if rep.select.startswith("best:"):
                runs = best_over(runs, rep.select.removeprefix("best:"), keys=list(rep.where))
            for key, value in rep.where.items():
                runs = runs[runs[key] == value]
            values = runs[rep.metric].dropna() * 100
        n = len(values)
        mean = round(values.mean(), DIGITS) if n else float("nan")
        rows.append({
            "target": rep.target, "group": rep.group, "method": rep.method,
            # A group without a grid point named is compared as a whole: say so rather than leave it blank.
            "setting": _where(rep.where) or "all runs of the group", "selection": _selection(rep),
            "metric": rep.metric, "reported": rep.value, "reproduced": mean,
            "std": round(values.std(), DIGITS) if n > 1 else float("nan"), "n": n,
            "difference": round(mean - rep.value, DIGITS), "scale": scale,
            "note": rep.note if n else f"{rep.note}; not run at {scale} scale".lstrip("; "),
        })
    return pd.DataFrame(rows, columns=COLUMNS)


def claims(paper: Paper, results: dict[str, pd.DataFrame],
           histories: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """Each claim checked: holds or not, and the numbers that say so. `histories` (group -> stacked
    history.csv) is needed only for the claims that name groups in Claim.histories.

    A claim that needs a group missing from `results` (not built, e.g. its data cannot be had here)
    is neither held nor failed: `holds` is None and the evidence says it was not checked."""
    known = {g.name for g in paper.groups}
    rows = []
    for claim in paper.claims:
        absent = [g for g in claim.histories if g not in results]
        try:
            if absent:
                raise KeyError(absent[0])
            holds, evidence = claim.evaluate(results, histories)
        except KeyError as exc:
            group = exc.args[0] if exc.args else None
            # Only a missing group is "not checked"; any other missing key is a bug in the claim.
            if not isinstance(group, str) or group not in known or group in results:
                raise
            holds, evidence = None, f"not checked: no results for group {group} (not built)"
        rows.append({"claim": claim.name, "statement": claim.statement,
                     "holds": None if holds is None else bool(holds), "evidence": evidence})
    return pd.DataFrame(rows, columns=["claim", "statement", "holds", "evidence"])


def claim_histories(paper: Paper, results: dict[str, pd.DataFrame], scale: str,
                    runs_root: Path) -> dict[str, pd.DataFrame]:
    """The stacked histories of the groups the paper's claims read (each run's history.csv)."""
    wanted = sorted({g for claim in paper.claims for g in claim.histories if g in results})
    return {g: histories(results[g], runs_root, paper.group(g).coord_names(scale)) for g in wanted}


def write_comparison(paper: Paper, results: dict[str, pd.DataFrame], scale: str, out_dir: Path,
                     runs_root: Path | None = None) -> None:
    """comparison.csv/.tex (reported vs reproduced) and claims.csv/.tex (each finding: holds or fails).

    out_dir is results/{scale}/{paper}; runs_root defaults to results/{scale}/runs beside it, where
    the runs behind the group CSVs wrote their history.csv (the collect rule takes both files of every run
    as input, so they are there whenever the group CSVs are).
    """
    out_dir = Path(out_dir)
    numbers = comparison(paper, results, scale)
    write_table(numbers, out_dir / "comparison",
                f"{paper.title}: reported (paper) vs reproduced (mean ± std over n seeds, %), {scale} scale")
    runs_root = out_dir.parent / "runs" if runs_root is None else Path(runs_root)
    found = claims(paper, results, claim_histories(paper, results, scale, runs_root))
    shown = found.assign(holds=found["holds"].map({True: "holds", False: "fails"}).fillna("not checked"))
    write_table(shown, out_dir / "claims", f"{paper.title}: the paper's claims checked at {scale} scale")
    # One file to \input: both tables.
    (out_dir / "comparison.tex").write_text((out_dir / "comparison.tex").read_text() + "\n"
                                            + (out_dir / "claims.tex").read_text())

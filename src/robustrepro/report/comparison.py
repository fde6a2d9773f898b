"""Reported vs reproduced numbers, and the paper's claims checked on the reproduced runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from robustrepro.papers.spec import Paper
from robustrepro.report.results import best_over
from robustrepro.report.tables import write_table


def _where(where: dict) -> str:
    return ", ".join(f"{k.split('.')[-1]}={v}" for k, v in where.items())


def comparison(paper: Paper, results: dict[str, pd.DataFrame], scale: str) -> pd.DataFrame:
    """One row per reported number: the reproduced mean ± std over seeds (in %), n and the difference."""
    rows = []
    for rep in paper.reported:
        runs = results[rep.group]
        if rep.select.startswith("best:"):
            runs = best_over(runs, rep.select.removeprefix("best:"), keys=list(rep.where))
        for key, value in rep.where.items():
            runs = runs[runs[key] == value]
        values = runs[rep.metric].dropna() * 100
        n = len(values)
        mean = values.mean() if n else float("nan")
        rows.append({
            "target": rep.target, "setting": _where(rep.where), "metric": rep.metric,
            "reported": rep.value, "reproduced": mean, "std": values.std() if n > 1 else float("nan"), "n": n,
            "difference": mean - rep.value, "scale": scale,
            "note": rep.note if n else f"{rep.note}; not run at {scale} scale".lstrip("; "),
        })
    return pd.DataFrame(rows, columns=["target", "setting", "metric", "reported", "reproduced", "std", "n",
                                       "difference", "scale", "note"])


def claims(paper: Paper, results: dict[str, pd.DataFrame]) -> pd.DataFrame:
    rows = []
    for claim in paper.claims:
        holds, evidence = claim.check(results)
        rows.append({"claim": claim.name, "statement": claim.statement, "holds": bool(holds), "evidence": evidence})
    return pd.DataFrame(rows, columns=["claim", "statement", "holds", "evidence"])


def write_comparison(paper: Paper, results: dict[str, pd.DataFrame], scale: str, out_dir: Path) -> None:
    """comparison.csv/.tex (reported vs reproduced) and claims.csv/.tex (each finding: holds or fails)."""
    numbers = comparison(paper, results, scale)
    write_table(numbers, out_dir / "comparison",
                f"{paper.title}: reported (paper) vs reproduced (mean ± std over n seeds, %), {scale} scale")
    found = claims(paper, results)
    shown = found.assign(holds=found["holds"].map({True: "holds", False: "fails"}))
    write_table(shown, out_dir / "claims", f"{paper.title}: the paper's claims checked at {scale} scale")
    # One file to \input: both tables.
    (out_dir / "comparison.tex").write_text((out_dir / "comparison.tex").read_text() + "\n"
                                            + (out_dir / "claims.tex").read_text())


"""The light jobs of the workflow, one function each: a group's CSV, a target, a paper's comparison
and claims, the index. The workflow's light rules run them inside Snakemake (robustrepro.inprocess);
the command line's collect, target, compare and index run the same functions."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from robustrepro import paths
from robustrepro.papers.spec import Paper
from robustrepro.report.comparison import write_comparison
from robustrepro.report.index import write_index
from robustrepro.report.paper_report import write_report
from robustrepro.report.results import collect
from robustrepro.report.show_runs import runs_table
from robustrepro.report.tables import write_csv
from robustrepro.report.targets import build_target

log = logging.getLogger(__name__)


def group_csv(paper: Paper, group: str, scale: str, seeds: list[int], out: str | Path,
              runs_root: str | Path | None = None, evals_root: str | Path | None = None) -> Path:
    """The group's CSV from its runs' and evaluations' results (by default where the workflow keeps them)."""
    table = collect(paper, group, scale, seeds, runs_root or paths.runs_root(scale), evals_root or paths.evals_root(scale))
    out = Path(out)
    write_csv(table, out)
    log.info("%s/%s: %d runs collected", paper.slug, group, len(table))
    return out


def target(paper: Paper, name: str, scale: str, images: str | Path | None = None,
           results_dir: str | Path | None = None, runs_root: str | Path | None = None) -> Path:
    """A table or figure from its groups' CSVs under results_dir (default: the workflow's paper folder)."""
    results_dir = Path(results_dir or paths.paper_dir(scale, paper.slug))
    prefix = build_target(paper, name, scale, results_dir, Path(runs_root or paths.runs_root(scale)),
                          Path(images) if images else None)
    log.info("built %s", prefix)
    return prefix


def comparison(paper: Paper, scale: str, group_csvs: list[str | Path] | None = None,
               results_dir: str | Path | None = None) -> Path:
    """comparison and claims of a paper from its group CSVs (default: every group's, under results_dir/groups;
    a group whose data is missing here has no CSV, and its numbers show as not run)."""
    out = Path(results_dir or paths.paper_dir(scale, paper.slug))
    csvs = group_csvs if group_csvs is not None else [out / "groups" / f"{g.name}.csv" for g in paper.groups]
    results = {Path(path).stem: pd.read_csv(path) for path in csvs}
    write_comparison(paper, results, scale, out)
    log.info("wrote %s", out / "comparison.tex")
    return out / "comparison.tex"


def runs_csv(paper: Paper, scale: str, seeds: list[int], out: str | Path) -> Path:
    """Every resolved run of the paper at `scale` (robustrepro.report.show_runs), for the report."""
    out = Path(out)
    write_csv(runs_table(paper, scale, seeds), out)
    log.info("wrote %s", out)
    return out


def paper_report(paper: Paper, scale: str, out: str | Path, skipped: dict[str, str]) -> Path:
    """The paper's report.tex (robustrepro.report.paper_report) beside its targets."""
    path = write_report(paper, scale, Path(out), skipped)
    log.info("wrote %s", path)
    return path


def index(papers: list[Paper], scale: str, out: str | Path, skipped: dict[str, str]) -> Path:
    write_index(papers, scale, Path(out), skipped=skipped)
    log.info("wrote %s", out)
    return Path(out)

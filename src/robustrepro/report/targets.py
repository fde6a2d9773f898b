"""Building one target: the context a paper's builder gets (its groups' results, where to write)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from robustrepro.papers.spec import Paper, Target
from robustrepro.analysis import figures
from robustrepro.report import tables
from robustrepro.report.results import histories


@dataclass
class TargetContext:
    paper: Paper
    target: Target
    scale: str
    prefix: Path  # results/{scale}/{paper}/{target}, without suffix
    runs_root: Path  # results/{scale}/runs
    results: dict[str, pd.DataFrame]  # group name -> collected runs

    def coords(self, group: str) -> list[str]:
        return self.paper.group(group).coord_names(self.scale)

    def histories(self, group: str) -> pd.DataFrame:
        return histories(self.results[group], self.runs_root, self.coords(group))

    def step_logs(self, group: str) -> pd.DataFrame:
        """The runs' steps.csv stacked (runs with a `step_log`), for curves against optimizer steps."""
        return histories(self.results[group], self.runs_root, self.coords(group), "steps.csv")

    def table(self, table: pd.DataFrame, digits: int = 2) -> None:
        tables.write_table(table, self.prefix, f"{self.target.caption} ({self.scale} scale)", digits)

    def figure(self, fig, data: pd.DataFrame) -> None:
        fig.suptitle(f"{self.paper.slug} {self.target.name} ({self.scale} scale)", fontsize=8, y=1.02)
        figures.save_figure(fig, self.prefix, data)


def build_target(paper: Paper, target_name: str, scale: str, results_dir: Path, runs_root: Path) -> Path:
    target = paper.target(target_name)
    results = {g: pd.read_csv(results_dir / "groups" / f"{g}.csv") for g in target.groups}
    ctx = TargetContext(paper, target, scale, results_dir / target.name, runs_root, results)
    target.build(ctx)
    return ctx.prefix

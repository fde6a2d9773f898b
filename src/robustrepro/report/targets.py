"""Building one target: the context a paper's builder gets (its groups' results, its images, where to write)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from robustrepro.data.prepared import Prepared, load_prepared
from robustrepro.errors import UserError
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
    images_file: Path | None = None  # the prepared .npz of the target's `images` group's dataset

    def coords(self, group: str) -> list[str]:
        return self.paper.group(group).coord_names(self.scale)

    def histories(self, group: str) -> pd.DataFrame:
        return histories(self.results[group], self.runs_root, self.coords(group))

    def step_logs(self, group: str) -> pd.DataFrame:
        """The runs' steps.csv stacked (runs with a `step_log`), for curves against optimizer steps."""
        return histories(self.results[group], self.runs_root, self.coords(group), "steps.csv")

    def images(self) -> Prepared:
        """The prepared dataset of the target's `images` group (its training and test images)."""
        if self.target.images is None:
            raise UserError(f"target {self.target.name}: reads no images; declare Target(images=<run group>) in "
                            f"paper {self.paper.slug}'s spec")
        if self.images_file is None:
            raise UserError(f"target {self.target.name}: its images were not given; pass --images <prepared .npz of "
                            f"group {self.target.images}'s dataset> (the workflow does)")
        return load_prepared(self.images_file)

    def table(self, table: pd.DataFrame, digits: int = 2) -> None:
        tables.write_table(table, self.prefix, f"{self.target.caption} ({self.scale} scale)", digits)

    def figure(self, fig, data: pd.DataFrame) -> None:
        fig.suptitle(f"{self.paper.slug} {self.target.name} ({self.scale} scale)", fontsize=8, y=1.02)
        figures.save_figure(fig, self.prefix, data)


def build_target(paper: Paper, target_name: str, scale: str, results_dir: Path, runs_root: Path,
                 images: Path | None = None) -> Path:
    target = paper.target(target_name)
    results = {g: pd.read_csv(results_dir / "groups" / f"{g}.csv") for g in target.groups}
    ctx = TargetContext(paper, target, scale, results_dir / target.name, runs_root, results, images)
    target.build(ctx)
    # Snakemake would blame file system latency for an output the builder never wrote.
    missing = [ctx.prefix.name + suffix for suffix in target.outputs()
               if not ctx.prefix.with_name(ctx.prefix.name + suffix).is_file()]
    if missing:
        call = "ctx.table(table)" if target.kind == "table" else "ctx.figure(fig, data)"
        raise UserError(f"target {paper.slug}/{target.name}: its builder wrote no {', '.join(missing)} in "
                        f"{results_dir}; a {target.kind}'s builder writes its files with {call}")
    return ctx.prefix

"""The latest run on each paper's page (docs/papers/<paper>.md), written from a finished build's
files, so that no number of it is typed by hand: what made the results (the runs' own records:
seeds, code, hardware, software, and the commit where the build ran in a checkout), the targets
built and those left out, the paper's numbers beside the reproduced ones (comparison.csv) and
each claim's verdict (claims.csv). After a build, from the checkout:

    python -m robustrepro latest-run WORKDIR --scale quick --note "make reproduce from a fresh clone, 53 minutes"

The part sits between its own two marker lines; what a person writes about a run (its readings,
analyses of what went wrong) stays outside them.
"""

from __future__ import annotations

import datetime
import subprocess
from pathlib import Path

import pandas as pd

from robustrepro import paths
from robustrepro.errors import UserError
from robustrepro.files import atomic_write_text
from robustrepro.papers.spec import Paper
from robustrepro.report.paper_pages import page_path, rewrite
from robustrepro.report.paper_report import made_of

BEGIN = "<!-- written by `python -m robustrepro latest-run` from a build's files: run it again, do not edit -->"
END = "<!-- end of the latest run -->"
NUMBERS = ["target", "method", "setting", "metric", "reported", "reproduced", "std", "n", "difference", "note"]
VERDICTS = {"claim": "claim", "holds": "verdict", "seeds": "seeds on which it holds alone", "evidence": "evidence"}


def _markdown(table: pd.DataFrame) -> str:
    """A GitHub table; empty cells for missing numbers, and a '|' inside a cell kept from splitting it."""
    shown = table.astype(object).where(table.notna(), "")
    shown = shown.map(lambda v: v.replace("|", "\\|") if isinstance(v, str) else v)
    return shown.to_markdown(index=False, tablefmt="github")


def _commit(workdir: Path) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(workdir), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def section(paper: Paper, scale: str, workdir: Path, note: str = "") -> str:
    """The page's latest-run part (both markers included) from the build in `workdir`."""
    folder = Path(workdir) / paths.paper_dir(scale, paper.slug)
    claims_file = folder / "claims.csv"
    if not claims_file.is_file():
        raise UserError(f"{claims_file} is missing: build {paths.target_file(scale, paper.slug, 'claims', '.csv')} "
                        f"in {workdir} first")
    groups = {g.name: pd.read_csv(folder / "groups" / f"{g.name}.csv") for g in paper.groups
              if (folder / "groups" / f"{g.name}.csv").is_file()}
    made = made_of(groups, Path(workdir) / paths.runs_root(scale))
    built = [t.name for t in paper.targets if all((folder / f"{t.name}{ext}").is_file() for ext in t.outputs())]
    left_out = [t.name for t in paper.targets if t.name not in built]
    day = datetime.datetime.fromtimestamp(claims_file.stat().st_mtime, datetime.timezone.utc).date()
    commit = _commit(Path(workdir))
    claims = pd.read_csv(claims_file)
    checked = claims[claims["holds"].isin(["holds", "fails"])]
    numbers = pd.read_csv(folder / "comparison.csv")
    reproduced = numbers[numbers["reproduced"].notna()]
    not_reproduced = len(numbers) - len(reproduced)
    lines = [
        BEGIN, f"## Latest run: {scale} scale, {day.isoformat()}", "",
        f"{note.rstrip('. ') + '. ' if note else ''}Built{f' at commit {commit}' if commit else ''} with "
        f"{'; '.join(made['code']) or 'no run recorded'}, seeds {', '.join(sorted(made['seeds'], key=int)) or 'none'}, "
        f"on {'; '.join(made['hardware']) or 'no run recorded'} ({'; '.join(made['software'])}). "
        f"Targets built: {', '.join(built) or 'none'}"
        + (f"; not built there: {', '.join(left_out)}." if left_out else "."), "",
        "The paper's numbers beside the reproduced ones (`comparison.csv`: mean and std over n seeds, "
        "difference = reproduced - reported):", "",
        _markdown(reproduced[[c for c in NUMBERS if c in numbers.columns]].round(2)) if len(reproduced)
        else "(none of them: this build reproduced none of the numbers the paper prints)", "",
        *([f"{not_reproduced} more of the paper's numbers {'is' if not_reproduced == 1 else 'are'} not reproduced by "
           "this build (their targets were not built): `comparison.csv` lists them.", ""] if not_reproduced else []),
        f"The claims as that build's `claims.csv` judged them ({len(checked)} checked, {len(claims) - len(checked)} "
        "not checked for want of data):", "",
        _markdown(checked[list(VERDICTS)].rename(columns=VERDICTS)) if len(checked) else "(none)", "",
        END,
    ]
    return "\n".join(lines)


def write_sections(root: str | Path, papers: list[Paper], workdir: str | Path, scale: str, note: str = "") -> list[Path]:
    """Rewrite the latest-run part of the page of every paper the build in `workdir` compared; the pages changed."""
    compared = [paper for paper in papers
                if (Path(workdir) / paths.target_file(scale, paper.slug, "claims", ".csv")).is_file()]
    if not compared:
        raise UserError(f"{workdir}: no {paths.target_file(scale, '<paper>', 'claims', '.csv')} there; name the "
                        "working directory of a finished build (and its --scale)")
    changed = []
    for paper in compared:
        path = page_path(root, paper.slug)
        text = path.read_text()
        new = rewrite(text, section(paper, scale, Path(workdir), note), path, BEGIN, END)
        if new != text:
            atomic_write_text(path, new)
            changed.append(path)
    return changed

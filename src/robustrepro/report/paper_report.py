"""results/{scale}/{paper}/report.tex: one document that reads like the paper's reproduction.

It assembles, in the paper's order, every target of the paper that was built (each table as its
own .tex, each figure as its .pdf, with its caption), lists the targets left out and why, then the
comparison with the numbers the paper printed and the claims with their verdicts and seed-level
evidence (comparison.csv, claims.csv, as tables that break across pages), what every run group trained, and the paper's readings (the docstring of
its spec). Its header says what made the results: scale, seeds, the commit, the code and data
fingerprints and the hardware, as the runs' metrics.json record them. rules/report.smk compiles it
with pdflatex where pdflatex is installed.
"""

from __future__ import annotations

import importlib
import json
import subprocess
from pathlib import Path

import pandas as pd

from robustrepro import paths
from robustrepro.files import atomic_write_text
from robustrepro.papers.spec import Paper
from robustrepro.report.tables import latex_escape, latex_table

PREAMBLE = r"""\documentclass[10pt]{article}
\usepackage[margin=2cm]{geometry}
\usepackage{booktabs,graphicx,float,caption,longtable,array}
\usepackage[T1]{fontenc}
\usepackage[utf8]{inputenc}
\usepackage{textcomp}
\DeclareUnicodeCharacter{00B1}{\ensuremath{\pm}}
\DeclareUnicodeCharacter{2212}{-}
\DeclareUnicodeCharacter{00D7}{\ensuremath{\times}}
\setlength{\parskip}{0.4em}
\setlength{\parindent}{0pt}
"""


def _commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(Path(__file__).resolve().parent), "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown (no git here)"
    return out.stdout.strip() if out.returncode == 0 else "unknown (not a git checkout)"


def made_of(results: dict[str, pd.DataFrame], runs_root: Path) -> dict[str, list[str]]:
    """What the runs record they were made of, each kind's distinct values: seeds, code, data digests, hardware."""
    found: dict[str, set] = {"seeds": set(), "code": set(), "prepared data": set(), "hardware": set(),
                             "software": set()}
    for frame in results.values():
        for run_id, seed in zip(frame.get("run_id", []), frame.get("seed", [])):
            path = Path(runs_root) / run_id / paths.METRICS
            if not path.is_file():
                continue
            provenance = json.loads(path.read_text()).get("provenance") or {}
            found["seeds"].add(str(seed))
            code = provenance.get("code") or {}
            found["code"].add(f"robustrepro {code.get('robustrepro', '?')}, code {str(code.get('source_sha256', '?'))[:12]}")
            if prepared := (provenance.get("data") or {}).get("prepared"):
                found["prepared data"].add(f"sha256 {prepared[:12]}")
            for session in provenance.get("sessions") or []:
                found["hardware"].add(f"{session.get('device', '?')} on {session.get('host', '?')}")
                found["software"].add(f"torch {session.get('torch', '?')}, Python {session.get('python', '?')}")
    return {key: sorted(values, key=lambda v: (len(v), v)) for key, values in found.items()}


def _figure(name: str, caption: str) -> str:
    return (f"\\begin{{figure}}[H]\n\\centering\n\\includegraphics[width=\\linewidth,height=0.8\\textheight,"
            f"keepaspectratio]{{{name}.pdf}}\n\\caption{{{latex_escape(caption)}}}\n\\end{{figure}}\n")


def _readings(paper: Paper) -> str:
    doc = _paper_docstring(paper)
    paragraphs = [" ".join(p.split()) for p in doc.split("\n\n") if p.strip()]
    return "\n\n".join(latex_escape(p) for p in paragraphs)


def _paper_docstring(paper: Paper) -> str:
    """The docstring of the module that declares the paper (its readings), found by its targets' builders."""
    for target in paper.targets:
        module = importlib.import_module(target.build.__module__)
        package = module.__name__.rsplit(".", 1)[0] if module.__name__.count(".") > 2 else module.__name__
        top = importlib.import_module(package)
        if top.__doc__ and getattr(top, "PAPER", None) is paper:
            return top.__doc__
        if module.__doc__ and getattr(module, "PAPER", None) is paper:
            return module.__doc__
    return "(the paper's module states no readings)"


def _comparison(results_dir: Path) -> str:
    """comparison.csv and claims.csv as tables that break across pages (a paper prints hundreds of numbers)."""
    numbers = pd.read_csv(results_dir / "comparison.csv")
    numbers = numbers[[c for c in ("target", "method", "setting", "metric", "reported", "reproduced", "std", "n",
                                   "difference") if c in numbers.columns]]
    found = pd.read_csv(results_dir / "claims.csv")
    found = found[[c for c in ("claim", "holds", "seeds", "evidence") if c in found.columns]]
    return (latex_table(numbers, "Reported (the paper) vs reproduced (mean and std over n seeds)",
                        column_format="p{0.12\\linewidth}p{0.15\\linewidth}p{0.2\\linewidth}p{0.1\\linewidth}"
                                      + "r" * (len(numbers.columns) - 4), long=True)
            + latex_table(found, "The paper's claims checked on the reproduced runs",
                          column_format="p{0.2\\linewidth}p{0.06\\linewidth}" + "p{0.08\\linewidth}"
                                        * (len(found.columns) == 4) + "p{0.5\\linewidth}", long=True))


def report_tex(paper: Paper, scale: str, results_dir: Path, runs_root: Path, skipped: dict[str, str]) -> str:
    """The report's LaTeX; `skipped`: target name -> why it was not built here."""
    results_dir = Path(results_dir)
    groups = {g.name: pd.read_csv(results_dir / "groups" / f"{g.name}.csv") for g in paper.groups
              if (results_dir / "groups" / f"{g.name}.csv").is_file()}
    made = made_of(groups, runs_root)
    header = pd.DataFrame({"": ["scale", "seeds", "commit", *made.keys() - {"seeds"}],
                           " ": [scale, ", ".join(sorted(made["seeds"], key=int)) or "none run", _commit(),
                                 *("; ".join(made[k]) or "none recorded" for k in made.keys() - {"seeds"})]})
    parts = [PREAMBLE, "\\begin{document}\n",
             f"\\section*{{{latex_escape(paper.title)}: reproduction at the {scale} scale}}\n",
             f"Paper spec \\texttt{{{latex_escape(paper.slug)}}}, seed text \\texttt{{{latex_escape(paper.seed_file)}}}; "
             "built by robustrepro from the runs' own records.\n",
             latex_table(header, "What made these results (from the runs' metrics.json)"), "\\clearpage\n",
             "\\section{Tables and figures}\n"]
    for target in paper.targets:
        if target.name in skipped:
            continue
        if target.kind == "table":
            parts.append(f"\\input{{{target.name}.tex}}\n")
        else:
            parts.append(_figure(target.name, f"{target.name}: {target.caption} ({scale} scale)"))
        parts.append("\\clearpage\n")
    if skipped:
        parts.append("\\section{Not built here}\n\\begin{itemize}\n" + "".join(
            f"\\item {latex_escape(name)}: {latex_escape(why)}\n" for name, why in skipped.items()) + "\\end{itemize}\n")
    parts += ["\\section{The paper's numbers and claims}\n", "{\\small\n", _comparison(results_dir), "}\n",
              "\\clearpage\n",
              "\\section{What was run}\n",
              latex_table(pd.DataFrame([{"group": name, "runs": len(frame),
                                         "seeds": frame["seed"].nunique() if "seed" in frame else 0}
                                        for name, frame in groups.items()], columns=["group", "runs", "seeds"]),
                          "Run groups built (every run's settings: runs.csv)"),
              "\\section{How this harness reads the paper}\n", _readings(paper), "\n\\end{document}\n"]
    return "".join(parts)


def write_report(paper: Paper, scale: str, out: Path, skipped: dict[str, str], runs_root: Path | None = None) -> Path:
    out = Path(out)
    runs_root = Path(runs_root) if runs_root is not None else Path(paths.runs_root(scale))
    atomic_write_text(out, report_tex(paper, scale, out.parent, runs_root, skipped))
    return out

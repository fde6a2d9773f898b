"""results/{scale}/index.md: every target of every paper, with its caption, files and claims."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from robustrepro.files import atomic_write_text
from robustrepro.papers.spec import Paper


def write_index(papers: list[Paper], scale: str, out: Path, skipped: dict[str, str] | None = None) -> None:
    """`skipped` ("paper/target" -> why): targets not built because their data cannot be had."""
    skipped = skipped or {}
    lines = [f"# Results at the {scale} scale", "",
             "Every table and figure of the reproduced papers; paths are relative to this file.", ""]
    for paper in papers:
        lines += [f"## {paper.slug}: {paper.title}", "", f"Seed text: `{paper.seed_file}`.", "",
                  "| target | kind | what it shows | files |", "| --- | --- | --- | --- |"]
        for t in paper.targets:
            why = skipped.get(f"{paper.slug}/{t.name}")
            files = (f"not built: {why}" if why else
                     " ".join(f"[{ext.lstrip('.')}]({paper.slug}/{t.name}{ext})" for ext in t.outputs()))
            lines.append(f"| {t.name} | {t.kind} | {t.caption} | {files} |")
        lines.append(f"| comparison | table | reported vs reproduced numbers | "
                     f"[tex]({paper.slug}/comparison.tex) [csv]({paper.slug}/comparison.csv) |")
        lines.append(f"| runs | table | every run trained, with the settings that differ from the defaults | "
                     f"[csv]({paper.slug}/runs.csv) |")
        lines.append(f"| report | document | the paper's reproduction as one document: every target built, the "
                     f"comparison and claims, what was run, the readings | [tex]({paper.slug}/report.tex) "
                     f"[pdf]({paper.slug}/report.pdf) (where pdflatex is installed) |")
        claims = out.parent / paper.slug / "claims.csv"
        if claims.is_file():
            lines += ["", "Claims:", ""]
            code = pd.read_csv(claims).get("code")
            if code is not None and code.notna().any():
                lines += [f"**Made by other code**: {code.dropna().iloc[0]} (kept across a code change; rebuild "
                          "without --rerun-triggers to replace them).", ""]
            for _, row in pd.read_csv(claims).iterrows():
                seeds = f", on {row['seeds']} seeds alone" if isinstance(row.get("seeds"), str) else ""
                extension = " *Extension, not in the paper.*" if str(row.get("finding", "")).startswith("extension") \
                    else ""
                lines.append(f"- **{row['holds']}**{seeds}: {row['statement']}{extension} ({row['evidence']})")
        lines.append("")
    atomic_write_text(out, "\n".join(lines))

"""LaTeX tables (booktabs) and the same numbers as CSV."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from robustrepro.files import atomic_write_text


def latex_escape(text: str) -> str:
    for char, repl in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("$", r"\$"), ("#", r"\#"),
                       ("_", r"\_"), ("{", r"\{"), ("}", r"\}"), ("~", r"\textasciitilde{}"), ("^", r"\^{}")):
        text = text.replace(char, repl)
    return text


def latex_table(table: pd.DataFrame, caption: str, digits: int = 2, column_format: str | None = None,
                long: bool = False) -> str:
    """The table as a booktabs LaTeX float, numbers rounded to `digits`; `long`: a longtable, which
    breaks across pages (a document's long tables; needs the longtable package)."""
    shown = table.copy()
    shown.columns = [latex_escape(str(c)) for c in shown.columns]
    styler = shown.style.hide(axis="index").format(precision=digits, na_rep="--", escape="latex")
    column_format = column_format or "l" * len(shown.columns)
    if long:
        return styler.to_latex(hrules=True, caption=latex_escape(caption), environment="longtable",
                               column_format=column_format)
    return styler.to_latex(hrules=True, caption=latex_escape(caption), position="htbp",
                           position_float="centering", column_format=column_format)


def write_csv(table: pd.DataFrame, path: str | Path) -> None:
    atomic_write_text(path, table.to_csv(index=False))


def write_table(table: pd.DataFrame, prefix: str | Path, caption: str, digits: int = 2) -> None:
    """prefix.csv holds the full-precision numbers; prefix.tex the rounded table, ready to \\input."""
    prefix = Path(prefix)
    write_csv(table, prefix.with_suffix(".csv"))
    atomic_write_text(prefix.with_suffix(".tex"), latex_table(table, caption, digits))


def plus_minus(mean: float, std: float, n: int, digits: int = 2) -> str:
    """'91.23 ± 0.45' (or just the mean for a single seed), for tables that show spread."""
    if pd.isna(mean):
        return "--"
    if n < 2 or pd.isna(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"

"""Several columns of the runs' history.csv as curves over seeds, in one frame (both chapters' figures)."""

from __future__ import annotations

import pandas as pd

from robustrepro.analysis.curves import curve_stats


def curve_means(log: pd.DataFrame, keys: list[str], x: str, columns, scale: float = 1.0) -> pd.DataFrame:
    """One row per curve (`keys`) and `x`: the mean over seeds of each of `columns` under its own name and
    its standard deviation as <column>_std (robustrepro.analysis.curves.curve_stats, one column at a time)."""
    out = None
    for column in columns:
        stats = curve_stats(log, keys, x, column, scale).drop(columns="n")
        stats = stats.rename(columns={"mean": column, "std": f"{column}_std"})
        out = stats if out is None else out.merge(stats, on=[*keys, x], how="outer")
    return out


def without_std(data: pd.DataFrame, columns) -> pd.DataFrame:
    """The curves' means only (what a figure's CSV holds)."""
    return data.drop(columns=[f"{column}_std" for column in columns])

"""Curves over training (epochs, iterations, wall time): the mean over seeds with a ± std band."""

from __future__ import annotations

import pandas as pd


def curve_stats(log: pd.DataFrame, keys: list[str], x: str, column: str, scale: float = 1.0) -> pd.DataFrame:
    """Mean, standard deviation (ddof=1; NaN for one seed) and count over seeds of `column` at each value
    of `x` ("epoch", "step", ...), per curve (`keys`); rows where `column` is missing are not counted."""
    rows = log[log[column].notna()]
    out = rows.groupby([*keys, x], sort=True)[column].agg(["mean", "std", "count"]).reset_index()
    out[["mean", "std"]] *= scale
    return out.rename(columns={"count": "n"})


def plot_band(ax, x, mean, std, label: str | None = None, alpha: float = 0.2, **style):
    """One curve and its ± std band (none where std is NaN: a single seed). Returns the line."""
    x, mean, std = (pd.Series(v).reset_index(drop=True) for v in (x, mean, std))
    (line,) = ax.plot(x, mean, label=label, **style)
    spread = std.fillna(0)
    if spread.any():
        ax.fill_between(x, mean - spread, mean + spread, alpha=alpha, color=line.get_color(), linewidth=0)
    return line

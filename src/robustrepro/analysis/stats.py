"""Aggregates over seeds and model selection, for the builders of paper targets (pandas only)."""

from __future__ import annotations

import pandas as pd


def mean_std(results: pd.DataFrame, keys: list[str], metric: str, scale: float = 1.0) -> pd.DataFrame:
    """Mean, standard deviation (ddof=1; NaN for one seed) and count over seeds per key combination."""
    grouped = results.groupby(keys, sort=True)[metric]
    out = grouped.agg(["mean", "std", "count"]).reset_index()
    out[["mean", "std"]] = out[["mean", "std"]] * scale
    return out.rename(columns={"count": "n"})


def best_over(results: pd.DataFrame, axis: str, keys: list[str], by: str = "val_acc1") -> pd.DataFrame:
    """For each combination of `keys`, the runs at the value of `axis` whose mean `by` is highest.

    This is model selection on validation numbers: e.g. the best learning rate per model and
    alpha, chosen on the validation split, then reported on the test set.
    """
    means = results.groupby([*keys, axis], sort=True)[by].mean().reset_index()
    best = means.loc[means.groupby(keys, sort=True)[by].idxmax(), [*keys, axis]]
    return results.merge(best, on=[*keys, axis])


def seed_mean(results: pd.DataFrame, keys: list[str], metric: str, scale: float = 1.0) -> pd.Series:
    """The mean over seeds of `metric` per key combination (a Series indexed by `keys`), times scale."""
    return results.groupby(keys, sort=True)[metric].mean() * scale

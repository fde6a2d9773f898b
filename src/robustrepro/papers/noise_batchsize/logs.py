"""Reading the runs' step logs (steps.csv stacked with the grid coordinates): the per-batch rows, the
evaluations, and the labels the figures and the claims' evidence share."""

from __future__ import annotations

import numpy as np
import pandas as pd

from robustrepro.papers.noise_batchsize.settings import EVERY


def noise_label(rate: float) -> str:
    return f"{rate:.0%} noise"


def logged(log: pd.DataFrame, column: str) -> pd.DataFrame:
    """The per-batch rows of a step log (step a multiple of `every`) that have `column`."""
    rows = log[log[column].notna()]
    if EVERY in rows.columns:
        rows = rows[rows["step"] % rows[EVERY] == 0]
    return rows


def evaluations(log: pd.DataFrame) -> pd.DataFrame:
    return log[log["val_acc1"].notna()]


def ratio(batch, lr):
    """The batch size / lr ratio, rounded to 6 decimals (what labels and groups configurations by it)."""
    return np.round(np.asarray(batch, dtype=float) / np.asarray(lr, dtype=float), 6)

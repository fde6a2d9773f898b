"""Figures in one style: PDF and PNG from the same matplotlib figure, plus the plotted numbers as CSV."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from robustrepro.files import atomic_open, atomic_write_text

STYLE = {
    "figure.dpi": 150,
    "savefig.bbox": "tight",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "lines.linewidth": 1.5,
    "lines.markersize": 4,
}


def new_figure(ncols: int = 1, nrows: int = 1, width: float = 3.4, height: float = 2.8, **kwargs):
    """A figure with the project style; matplotlib is imported here so specs stay cheap to import."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(STYLE)
    return plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, **kwargs)


def save_figure(fig, prefix: str | Path, data: pd.DataFrame) -> None:
    import matplotlib.pyplot as plt

    prefix = Path(prefix)
    atomic_write_text(prefix.with_suffix(".csv"), data.to_csv(index=False))
    # A fixed creation date keeps the PDF byte-identical across rebuilds of the same numbers.
    with atomic_open(prefix.with_suffix(".pdf")) as f:
        fig.savefig(f, format="pdf", metadata={"CreationDate": None})
    with atomic_open(prefix.with_suffix(".png")) as f:
        fig.savefig(f, format="png")
    plt.close(fig)

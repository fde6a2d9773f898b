"""The "paper's settings vs the settings this harness ran" table: the seed's column as written, and
this harness's columns from the resolved run configs (Paper.configs: the configs the run ids hash)."""

from __future__ import annotations

import textwrap
from typing import Callable, Iterable

import pandas as pd

NOT_STATED = "(not stated)"


def text(value) -> str:
    """A setting as a table shows it: numbers without trailing zeros (0.0005, 64), the rest as str."""
    return f"{value:g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def distinct(values: Iterable, fmt: Callable = text) -> str:
    """The distinct values of one setting over the runs of a column, sorted, as text ("32, 128, 512")."""
    return ", ".join(fmt(v) for v in sorted(set(values)))


def settings_table(columns: dict[str, dict[str, str]], item: str = "hyperparameter") -> pd.DataFrame:
    """One row per setting named by any column (in the order first named), one column per source
    (label -> setting -> text); a setting a column does not name reads NOT_STATED there."""
    items = list(dict.fromkeys(name for values in columns.values() for name in values))
    return pd.DataFrame({item: items, **{label: [values.get(name, NOT_STATED) for name in items]
                                         for label, values in columns.items()}})


def table_figure(table: pd.DataFrame, first_width: int = 22, width: int = 30, font: float = 5.5):
    """A settings table drawn as a figure (text wrapped to `width` characters a column), for a paper
    that printed its settings as a figure. Returns the matplotlib figure."""
    from robustrepro.analysis.figures import new_figure

    n = len(table.columns) - 1
    widths = [first_width] + [width] * n
    cells = [[textwrap.fill(str(v), w) for v, w in zip(row, widths)] for row in table.itertuples(index=False)]
    header = [textwrap.fill(str(c), w) for c, w in zip(table.columns, widths)]
    lines = [max(c.count("\n") + 1 for c in row) for row in [header, *cells]]
    fig, axes = new_figure(width=1.6 + 2.1 * n, height=0.16 * sum(lines) + 0.4)
    ax = axes[0, 0]
    ax.axis("off")
    drawn = ax.table(cellText=cells, colLabels=header, bbox=[0, 0, 1, 1], cellLoc="left", colLoc="left",
                     colWidths=[1.5 / (1.5 + 2.1 * n)] + [2.1 / (1.5 + 2.1 * n)] * n)
    drawn.auto_set_font_size(False)
    drawn.set_fontsize(font)
    total = sum(lines)
    for (row, _), cell in drawn.get_celld().items():
        cell.set_height(lines[row] / total)
    return fig

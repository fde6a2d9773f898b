"""What a run leaves on disk besides its checkpoint: history.csv and metrics.json."""

from __future__ import annotations

import csv
import io
import json
import math
import platform
from pathlib import Path

import numpy as np
import torch

import robustrepro
from robustrepro.compute.recipe import Recipe
from robustrepro.files import atomic_write_text
from robustrepro.provenance import now, process_info


def write_history(path: str | Path, rows: list[dict], columns=None) -> None:
    """One row per epoch (or step); a value that was not measured (NaN) is an empty cell.

    `columns`: their order, for a file that may have no rows yet (default: as the rows have them)."""
    columns = list(columns or dict.fromkeys(key for row in rows for key in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        # repr of a float round-trips exactly, so resumed and uninterrupted runs compare equal
        writer.writerow({k: "" if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()})
    atomic_write_text(Path(path), out.getvalue())


def json_ready(value):
    """NaN becomes null (JSON has no NaN); containers are converted recursively."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return value


def write_metrics(path: str | Path, metrics: dict) -> None:
    atomic_write_text(Path(path), json.dumps(json_ready(metrics), indent=2) + "\n")


def versions() -> dict[str, str]:
    # str(): torch.__version__ is a str subclass that a weights_only torch.load refuses
    return {"python": platform.python_version(), "torch": str(torch.__version__), "numpy": np.__version__,
            "robustrepro": robustrepro.__version__}


def new_session(device: str, recipe: Recipe) -> dict:
    """The record of one training process: where and with what it ran (device and recipe), and (filled
    in as it goes) when and which epochs. A run resumed n times has n + 1 of them."""
    return {**process_info(), "started": now(), "ended": None, "first_epoch": None, "last_epoch": None,
            "device": device, "recipe": recipe.as_dict(), "threads": torch.get_num_threads(),
            "platform": platform.platform(), **versions()}

"""Extraction: a trained run's snapshots turned into per-example vectors for offline selection.

It loads snapshots through the trainer, so it sits above robustrepro.training; what the vectors
are and their file format belong to robustrepro.selection.vectors, which the selection code
(below training) shares.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from robustrepro.data.prepared import Prepared, load_prepared
from robustrepro.errors import UserError, unknown_choice
from robustrepro.runs import run_id
from robustrepro.training.checkpoint import load_snapshot
from robustrepro.compute.device import pick_device
from robustrepro.compute.device_data import DeviceData
from robustrepro.training.trainer import load_model_snapshot
from robustrepro.selection.vectors import KINDS, extract, save_vectors
from robustrepro.views import View, check_inputs, load_view

DTYPES = {"float32": np.float32, "float16": np.float16}


def extract_many(snapshot_paths, prepared: Prepared, view: View, kind: str, device: torch.device | str = "cpu",
                 dtype: str = "float32", batch_size: int = 1024) -> np.ndarray:
    """The vectors of every snapshot side by side: [N, len(snapshot_paths) * dims], in the order given.

    The snapshots must share one architecture (e.g. epochs of one run), so each takes the same
    number of columns and the result is allocated once.
    """
    if dtype not in DTYPES:
        raise unknown_choice("dtype", dtype, DTYPES)
    if kind not in KINDS:
        raise unknown_choice("kind", kind, KINDS)
    paths = [Path(p) for p in snapshot_paths]
    if not paths:
        raise UserError("extract: no model snapshots given; name at least one")
    device = torch.device(device)
    data = DeviceData(prepared, view, device)
    out = None
    for i, path in enumerate(paths):
        block = extract(load_model_snapshot(path, prepared, view, device), data, kind, batch_size)
        if out is None:
            width = block.shape[1]
            out = np.empty((len(block), width * len(paths)), DTYPES[dtype])
        elif block.shape[1] != width:
            raise UserError(f"model snapshot {path} gives {block.shape[1]} {kind} dims, {paths[0]} gives {width}: "
                            "combine snapshots of one architecture only")
        out[:, i * width:(i + 1) * width] = block
    return out


def snapshot_record(path) -> dict:
    """What the snapshot at `path` was trained from (its data digests and code), as it recorded it."""
    state = load_snapshot(path)
    provenance = state["provenance"] or {}
    return {"path": str(path), "run_id": run_id(json.loads(state["run_json"])), "epoch": state["epoch"],
            "data": provenance.get("data"), "code": provenance.get("code")}


def extract_to_file(snapshot_paths, prepared_path, view_path, kind: str, out, device: str = "auto",
                    dtype: str = "float32", batch_size: int = 1024) -> np.ndarray:
    """extract_many on the files of a prepared dataset and a view; saves the vectors at `out` and returns them."""
    for path in snapshot_paths:  # each snapshot's run: its dataset, and a view made for it from that file
        check_inputs(json.loads(load_snapshot(path)["run_json"]), prepared_path, view_path)
    prepared, view = load_prepared(prepared_path), load_view(view_path)
    torch_device = pick_device(device)
    array = extract_many(snapshot_paths, prepared, view, kind, torch_device, dtype, batch_size)
    checkpoints = [str(p) for p in snapshot_paths]
    meta = {"kind": kind, "checkpoints": checkpoints, "dims_per_checkpoint": array.shape[1] // len(checkpoints),
            "rows": "training view examples in order; gradients use their training (noisy) labels",
            "distance": "squared L2 between rows = sum over checkpoints of the squared L2 distances",
            "snapshots": [snapshot_record(p) for p in snapshot_paths]}
    save_vectors(out, array, meta)
    return array

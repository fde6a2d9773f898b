"""Per-example vectors that selection measures distances on: features and last-layer gradients.

Seed 000 (section 5.2) clusters the training set by the L2 distance between either the
penultimate features of a pretrained network or a "last layer" gradient of each example's
loss. Three kinds, all over the training view in order, unaugmented, in eval mode:

- `features`: embed(x), D dims.
- `grad_softmax`: the gradient of the cross-entropy with respect to the logits, p - onehot(y),
  K dims. No backward pass is needed, which is why the paper's online variant uses it.
- `grad_fc`: the gradient with respect to the final linear layer's weight and bias,
  (p - onehot(y)) outer [features, 1], K * (D + 1) dims: row k holds dL/dW[k, :] then dL/db[k].
  It is computed in closed form from the two factors, for a whole batch at once.

y is the label the run trains on (the noisy one), since that is the loss the gradient belongs to.

Several checkpoints (section 6.1.1: every 10th epoch from epoch 100, or from the start) are
combined by concatenating their vectors: the squared L2 distance of two concatenations is the
sum over checkpoints of the squared distances, so the distance takes every checkpoint into
account at once. The vectors are saved as .npy (float32; float16 halves the size, meant for the
large grad_fc vectors, K * (D + 1) per checkpoint) with a JSON of what they are beside it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from robustrepro.data.prepared import Prepared, load_prepared
from robustrepro.errors import UserError, unknown_choice
from robustrepro.files import atomic_write, atomic_write_text
from robustrepro.runs import run_id
from robustrepro.training.checkpoint import load_snapshot
from robustrepro.training.device import pick_device
from robustrepro.training.device_data import DeviceData
from robustrepro.training.trainer import load_model_snapshot
from robustrepro.selection.vectors import KINDS, extract
from robustrepro.views import View, load_view

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


def meta_path(path: str | Path) -> Path:
    return Path(path).with_suffix(".json")


def save_vectors(path: str | Path, array: np.ndarray, meta: dict) -> None:
    """`array` as .npy at `path` and `meta` (plus its shape and dtype) as JSON beside it, each written atomically."""
    # A file object: np.save would append .npy to a path without it.
    atomic_write(path, lambda f: np.save(f, array))
    meta = {**meta, "shape": list(array.shape), "dtype": str(array.dtype)}
    atomic_write_text(meta_path(path), json.dumps(meta, indent=2) + "\n")


def load_vectors(path: str | Path) -> tuple[np.ndarray, dict]:
    path = Path(path)
    if not path.is_file() or not meta_path(path).is_file():
        raise UserError(f"vectors {path} (or its {meta_path(path).name}) are missing; build them with the extract step")
    return np.load(path), json.loads(meta_path(path).read_text())


def snapshot_record(path) -> dict:
    """What the snapshot at `path` was trained from (its data digests and code), as it recorded it."""
    state = load_snapshot(path)
    provenance = state["provenance"] or {}
    return {"path": str(path), "run_id": run_id(json.loads(state["run_json"])), "epoch": state["epoch"],
            "data": provenance.get("data"), "code": provenance.get("code")}


def extract_to_file(snapshot_paths, prepared_path, view_path, kind: str, out, device: str = "auto",
                    dtype: str = "float32", batch_size: int = 1024) -> np.ndarray:
    """extract_many on the files of a prepared dataset and a view; saves the vectors at `out` and returns them."""
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

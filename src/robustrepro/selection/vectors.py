"""Per-example vectors that selection measures distances on: features and last-layer gradients, and their files.

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
import torch.nn.functional as F
from torch import nn

from robustrepro.compute.device_data import DeviceData
from robustrepro.errors import UserError, unknown_choice
from robustrepro.files import atomic_write, atomic_write_text

KINDS = ("features", "grad_softmax", "grad_fc")


def _vectors(model: nn.Module, x: torch.Tensor, y: torch.Tensor, kind: str) -> torch.Tensor:
    features = model.embed(x).float()
    if kind == "features":
        return features
    logits = model.head(features)
    grad_logits = logits.softmax(1) - F.one_hot(y, logits.shape[1]).float()
    if kind == "grad_softmax":
        return grad_logits
    with_bias = torch.cat([features, features.new_ones(len(features), 1)], 1)
    return (grad_logits[:, :, None] * with_bias[:, None, :]).flatten(1)


@torch.no_grad()
def extract(model: nn.Module, data: DeviceData, kind: str, batch_size: int = 1024) -> np.ndarray:
    """float32 [N, dims] vectors of `kind` for every training-view example of `data`, in order.

    `model` must be on `data.device`. Batches go to the host one at a time, so the device holds
    one batch of vectors, never N of them. Runs in fp32 (no autocast): distances compare small
    differences between vectors.
    """
    if kind not in KINDS:
        raise unknown_choice("kind", kind, KINDS)
    was_training = model.training
    model.eval()
    n = len(data)
    out = None
    for start in range(0, n, batch_size):
        idx = torch.arange(start, min(start + batch_size, n), device=data.device)
        block = _vectors(model, data.inputs("train", idx), data.labels("train", idx), kind).cpu().numpy()
        if out is None:
            out = np.empty((n, block.shape[1]), np.float32)
        out[start:start + len(block)] = block
    model.train(was_training)
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

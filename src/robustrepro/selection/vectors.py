"""The per-example vectors of one model over the training view (see extract.py for what each kind is).

Kept apart from extract.py, which loads snapshots through the trainer: the online samplers
compute vectors of the model they are training and must not import the trainer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from robustrepro.errors import unknown_choice

if TYPE_CHECKING:  # robustrepro.training imports this module
    from robustrepro.training.device_data import DeviceData

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

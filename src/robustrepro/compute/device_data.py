"""The whole training view resident on the device, and batches gathered from it by index.

Images stay uint8 on the device (MNIST is 47 MB, CIFAR-10 150 MB); a batch is a gather by
index, then random pad-crop and flip, conversion to float and normalisation, all as a few
batched tensor ops. There is no DataLoader and no per-sample Python in the hot loop.

Only the rows of the prepared arrays that the view uses are uploaded, once each: an alpha-noise
view that repeats every image 51 times still holds each image once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from robustrepro.data.prepared import Prepared
from robustrepro.errors import UserError
from robustrepro.views import View


@dataclass(frozen=True)
class Split:
    """Examples of one role (train, holdout, val, test): rows of an image array and their labels."""

    source: str  # which image array: "train" or "test"
    rows: torch.Tensor  # int64 [n]: rows of DeviceData.images[source]
    labels: torch.Tensor  # int64 [n]

    def __len__(self) -> int:
        return len(self.labels)


def parse_augment(augment: dict | None) -> tuple[int, bool]:
    """(crop padding, flip) from the run's `augment` section."""
    augment = dict(augment or {})
    for key in augment:
        if key not in ("crop", "flip"):
            raise UserError(f"augment.{key}: unknown augmentation; known keys: crop, flip")
    crop, flip = augment.get("crop", 0), augment.get("flip", False)
    if isinstance(crop, bool) or not isinstance(crop, int) or crop < 0:
        raise UserError(f"augment.crop: padding in pixels, an integer >= 0 (0 = no random crop); got {crop!r}")
    if not isinstance(flip, bool):
        raise UserError(f"augment.flip: true or false; got {flip!r}")
    return crop, flip


def channel_stats(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact per-channel mean and std in [0, 1] units of uint8 images [N, C, H, W], from histograms."""
    values = np.arange(256) / 255.0
    mean, std = [], []
    for c in range(images.shape[1]):
        counts = np.bincount(images[:, c].ravel(), minlength=256).astype(np.float64)
        m = counts @ values / counts.sum()
        mean.append(m)
        std.append(np.sqrt(counts @ (values - m) ** 2 / counts.sum()))
    std = np.array(std)
    return np.array(mean), np.where(std > 0, std, 1.0)  # a constant channel is left unscaled


def crop_flip(x: torch.Tensor, crop: int, flip: bool, generator: torch.Generator) -> torch.Tensor:
    """Random crops of `x` zero-padded by `crop` pixels, and random horizontal flips, per sample.

    One gather does both: each sample's row and column indices are offset by its crop position
    and reversed when it is flipped. The result is [B, C, H, W] with channels-last strides.
    Draws crop offsets, then flips, from `generator` in that order.
    """
    b, _, h, w = x.shape
    dev = x.device
    rows = torch.arange(h, device=dev).expand(b, h)
    cols = torch.arange(w, device=dev).expand(b, w)
    if crop:
        x = F.pad(x, (crop, crop, crop, crop))
        rows = rows + torch.randint(0, 2 * crop + 1, (b, 1), generator=generator, device=dev)
        cols = cols + torch.randint(0, 2 * crop + 1, (b, 1), generator=generator, device=dev)
    if flip:
        flipped = torch.randint(0, 2, (b, 1), generator=generator, device=dev).bool()
        cols = torch.where(flipped, cols.flip(1), cols)
    # Advanced indices split by a slice put the indexed dims first: the gather gives [B, H, W, C].
    out = x[torch.arange(b, device=dev)[:, None, None], :, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2)


class DeviceData:
    """A View's train, holdout, validation and test examples as device tensors.

    Training-view positions (what samplers yield) index `splits["train"]`; `noisy_mask` and
    `true_labels` are aligned with them.
    """

    def __init__(self, prepared: Prepared, view: View, device: torch.device, augment: dict | None = None,
                 channels_last: bool | None = None):
        _check_view(prepared, view)
        self.device = device
        # Inputs in the model's memory layout (robustrepro.compute.recipe); by default as on CUDA.
        self.channels_last = device.type == "cuda" if channels_last is None else channels_last
        self.crop, self.flip = parse_augment(augment)
        self.num_classes = view.num_classes
        self.shape = prepared.shape
        arrays = {"train": prepared.train_x, "test": prepared.test_x}
        roles = {"train": ("train", view.train_indices, view.train_labels),
                 "holdout": ("train", view.holdout_indices, view.holdout_labels),
                 "test": ("test", view.test_indices, view.test_labels)}
        if view.val_source != "none" and len(view.val_indices):
            roles["val"] = (view.val_source, view.val_indices, view.val_labels)

        self.images: dict[str, torch.Tensor] = {}
        self.splits: dict[str, Split] = {}
        for source, array in arrays.items():
            used = np.unique(np.concatenate([idx for s, idx, _ in roles.values() if s == source]))
            self.images[source] = torch.from_numpy(np.ascontiguousarray(array[used])).to(device)
            for role, (s, idx, labels) in roles.items():
                if s == source:
                    rows = torch.from_numpy(np.searchsorted(used, idx)).to(device)
                    self.splits[role] = Split(source, rows, torch.as_tensor(labels, dtype=torch.int64, device=device))

        self.noisy_mask = torch.as_tensor(view.noisy_mask, dtype=torch.bool, device=device)
        self.true_labels = torch.as_tensor(view.true_labels, dtype=torch.int64, device=device)
        train_images = prepared.train_x[np.unique(view.train_indices)]
        mean, std = channel_stats(train_images)
        # normalised = (x / 255 - mean) / std, as one multiply-add on the raw uint8 values
        shape = (1, len(mean), 1, 1)
        self.scale = torch.tensor(1.0 / (255.0 * std), dtype=torch.float32, device=device).view(shape)
        self.shift = torch.tensor(-mean / std, dtype=torch.float32, device=device).view(shape)
        self.mean, self.std = mean, std

    def __len__(self) -> int:
        return len(self.splits["train"])

    def has(self, role: str) -> bool:
        return role in self.splits

    def inputs(self, role: str, indices: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Normalised float inputs of split `role` at `indices`; augmented when a generator is given."""
        split = self.splits[role]
        x = self.images[split.source][split.rows[indices]]
        if generator is not None and (self.crop or self.flip):
            x = crop_flip(x, self.crop, self.flip, generator)
        x = x.float().mul_(self.scale).add_(self.shift)
        if self.channels_last:
            return x.contiguous(memory_format=torch.channels_last)
        return x.contiguous()

    def labels(self, role: str, indices: torch.Tensor) -> torch.Tensor:
        return self.splits[role].labels[indices]

    def batches(self, role: str, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(inputs, labels) of a whole split in order, unaugmented: for evaluation."""
        n = len(self.splits[role])
        for start in range(0, n, batch_size):
            idx = torch.arange(start, min(start + batch_size, n), device=self.device)
            yield self.inputs(role, idx), self.labels(role, idx)


def _check_view(prepared: Prepared, view: View) -> None:
    sizes = {"train": len(prepared.train_x), "test": len(prepared.test_x)}
    checks = [("train_indices", view.train_indices, "train"), ("holdout_indices", view.holdout_indices, "train"),
              ("test_indices", view.test_indices, "test")]
    if view.val_source != "none":
        checks.append(("val_indices", view.val_indices, view.val_source))
    for name, idx, source in checks:
        if len(idx) and (idx.min() < 0 or idx.max() >= sizes[source]):
            raise UserError(f"view {name} point outside the prepared {prepared.name!r} {source} set "
                            f"({sizes[source]} examples): the view was built from other data; rebuild it")
    labels = [view.train_labels, view.holdout_labels, view.val_labels, view.test_labels]
    if any(len(y) and (y.min() < 0 or y.max() >= view.num_classes) for y in labels):
        raise UserError(f"view labels fall outside its {view.num_classes} classes: the view file is corrupt; rebuild it")
    if len(view.train_indices) == 0:
        raise UserError("the training view has no examples; rebuild it with a smaller holdout or subset")

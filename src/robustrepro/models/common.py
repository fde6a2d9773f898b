"""What every model shares: the registry, the `head(embed(x))` split, width scaling, initialisation."""

from __future__ import annotations

import torch
from torch import nn

from robustrepro.registry import Registry

# name -> builder(in_channels, num_classes, image_size, *, options); see robustrepro.models.
MODELS = Registry("model")


class Classifier(nn.Module):
    """A network split into a feature extractor and a final linear layer.

    `embed(x)` gives the penultimate features [B, D] and `head` is the last nn.Linear, so
    feature extraction and last-layer gradients need no per-architecture code.
    """

    def __init__(self, body: nn.Module, head: nn.Linear):
        super().__init__()
        self.body = body
        self.head = head

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


def scaled(channels: int, width: float) -> int:
    """`channels` times `width`, rounded half up, never below one unit."""
    return max(1, int(channels * width + 0.5))


def output_dim(body: nn.Module, in_channels: int, image_size: int) -> int:
    """Width of `body`'s flat output, from a dry forward pass (so no input size is hard-coded)."""
    was_training = body.training
    body.eval()  # batch norm refuses a single example in training mode
    with torch.no_grad():
        dim = body(torch.zeros(1, in_channels, image_size, image_size)).shape[1]
    body.train(was_training)
    return dim


def kaiming_init(model: nn.Module) -> None:
    """He-normal convolutions (fan-out, as torchvision and the WRN code do), unit batch norm, zero biases."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.zeros_(m.bias)


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)

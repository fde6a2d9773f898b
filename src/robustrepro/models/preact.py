"""Pre-activation ResNets: PreResNet-56 (He et al., 2016, "Identity Mappings") and Wide ResNets.

A Wide ResNet (Zagoruyko & Komodakis, 2016) is a pre-activation ResNet with wider stages and
dropout between the two convolutions of each block, so both are built from one block here.
Where a block changes shape its shortcut is a 1x1 convolution applied to the pre-activated
input, as in both reference implementations. `dropout` sits between the block's convolutions.
The input size does not matter (global average pooling): the builders take `image_size` unused.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from robustrepro.errors import UserError
from robustrepro.models.common import MODELS, Classifier, conv3x3, kaiming_init, scaled
from robustrepro.options import integer


class PreActBlock(nn.Module):
    """BN-ReLU-conv3x3-BN-ReLU-dropout-conv3x3, added to the (possibly projected) input."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, dropout: float):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = conv3x3(out_channels, out_channels)
        self.project = None
        if stride != 1 or in_channels != out_channels:
            self.project = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        shortcut = x if self.project is None else self.project(out)
        out = self.conv1(out)
        out = self.conv2(self.dropout(F.relu(self.bn2(out))))
        return out + shortcut


def preact_resnet(
    in_channels: int, num_classes: int, stem: int, widths: list[int], blocks_per_stage: int, dropout: float
) -> Classifier:
    layers = OrderedDict(stem=conv3x3(in_channels, stem))
    channels = stem
    for stage, out_channels in enumerate(widths):
        stage_blocks = []
        for i in range(blocks_per_stage):
            stride = 2 if stage > 0 and i == 0 else 1
            stage_blocks.append(PreActBlock(channels, out_channels, stride, dropout))
            channels = out_channels
        layers[f"stage{stage + 1}"] = nn.Sequential(*stage_blocks)
    # The last block's output is not yet activated.
    layers["bn"] = nn.BatchNorm2d(channels)
    layers["relu"] = nn.ReLU()
    layers["pool"] = nn.AdaptiveAvgPool2d(1)
    layers["flatten"] = nn.Flatten()
    model = Classifier(nn.Sequential(layers), nn.Linear(channels, num_classes))
    kaiming_init(model)
    return model


@MODELS.register("preact_resnet56")
def preact_resnet56(in_channels: int, num_classes: int, image_size: int, *, width: float = 1.0,
                    dropout: float = 0.0) -> Classifier:
    """PreResNet-56: 3 stages of 9 basic blocks, 16/32/64 channels (0.86M parameters)."""
    widths = [scaled(c, width) for c in (16, 32, 64)]
    return preact_resnet(in_channels, num_classes, widths[0], widths, 9, dropout)


@MODELS.register("wrn")
def wrn(in_channels: int, num_classes: int, image_size: int, *, width: float = 1.0, dropout: float = 0.0,
        depth: int, widen: int) -> Classifier:
    """WRN-depth-widen: 3 stages of (depth - 4) / 6 blocks, 16k/32k/64k channels after a 16-channel stem."""
    depth = integer("model.depth", depth)
    if depth < 10 or (depth - 4) % 6:
        raise UserError(f"model.depth: a Wide ResNet needs depth = 6n + 4 with n >= 1 (e.g. 16, 28, 40); got {depth!r}")
    widen = integer("model.widen", widen, at_least=1)  # the widening factor k, e.g. 4 or 10
    widths = [scaled(c * widen, width) for c in (16, 32, 64)]
    return preact_resnet(in_channels, num_classes, scaled(16, width), widths, (depth - 4) // 6, dropout)


@MODELS.register("wrn28_10")
def wrn28_10(in_channels: int, num_classes: int, image_size: int, *, width: float = 1.0,
             dropout: float = 0.0) -> Classifier:
    return wrn(in_channels, num_classes, image_size, width=width, dropout=dropout, depth=28, widen=10)


@MODELS.register("wrn40_4")
def wrn40_4(in_channels: int, num_classes: int, image_size: int, *, width: float = 1.0,
            dropout: float = 0.0) -> Classifier:
    return wrn(in_channels, num_classes, image_size, width=width, dropout=dropout, depth=40, widen=4)

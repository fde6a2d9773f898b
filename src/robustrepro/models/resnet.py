"""Post-activation ResNets: the CIFAR ResNet-20/32/56 of He et al. (2016) and the CIFAR ResNet-18.

Both are a 3x3 stem, stages of basic blocks (the first block of every stage after the first
halves the resolution), global average pooling and a linear head; they differ in stage widths,
depth and shortcut. The CIFAR ResNets use option A shortcuts (parameter-free: subsample and
zero-pad the new channels), as in the paper's CIFAR experiments, which gives its parameter
counts (ResNet-20: 0.27M). ResNet-18 uses option B (1x1 convolution + batch norm), as in
the widely used CIFAR variant (11.2M parameters). Global average pooling makes them independent of
the input size, so their builders take `image_size` (every model builder does) without using it.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from robustrepro.models.common import MODELS, Classifier, conv3x3, kaiming_init, scaled


class PadShortcut(nn.Module):
    """Option A shortcut: keep every `stride`-th pixel and zero-pad the added channels on both sides."""

    def __init__(self, extra_channels: int, stride: int):
        super().__init__()
        self.extra, self.stride = extra_channels, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut, then ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, shortcut: str):
        super().__init__()
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = conv3x3(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        if stride == 1 and in_channels == out_channels:
            self.shortcut = nn.Identity()
        elif shortcut == "A":
            self.shortcut = PadShortcut(out_channels - in_channels, stride)
        else:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


def resnet(in_channels: int, num_classes: int, widths: list[int], blocks: list[int], shortcut: str) -> Classifier:
    layers = OrderedDict(stem=nn.Sequential(conv3x3(in_channels, widths[0]), nn.BatchNorm2d(widths[0]), nn.ReLU()))
    channels = widths[0]
    for stage, (out_channels, n) in enumerate(zip(widths, blocks)):
        first_stride = 1 if stage == 0 else 2
        stage_blocks = []
        for i in range(n):
            stage_blocks.append(BasicBlock(channels, out_channels, first_stride if i == 0 else 1, shortcut))
            channels = out_channels
        layers[f"stage{stage + 1}"] = nn.Sequential(*stage_blocks)
    layers["pool"] = nn.AdaptiveAvgPool2d(1)
    layers["flatten"] = nn.Flatten()
    model = Classifier(nn.Sequential(layers), nn.Linear(channels, num_classes))
    kaiming_init(model)
    return model


def _cifar_resnet(depth: int, in_channels: int, num_classes: int, width: float) -> Classifier:
    n = (depth - 2) // 6  # 6n + 2 layers: three stages of n two-conv blocks, the stem and the head
    return resnet(in_channels, num_classes, [scaled(c, width) for c in (16, 32, 64)], [n] * 3, "A")


@MODELS.register("resnet20")
def resnet20(in_channels: int, num_classes: int, image_size: int, *, width: float = 1.0) -> Classifier:
    return _cifar_resnet(20, in_channels, num_classes, width)


@MODELS.register("resnet32")
def resnet32(in_channels: int, num_classes: int, image_size: int, *, width: float = 1.0) -> Classifier:
    return _cifar_resnet(32, in_channels, num_classes, width)


@MODELS.register("resnet56")
def resnet56(in_channels: int, num_classes: int, image_size: int, *, width: float = 1.0) -> Classifier:
    return _cifar_resnet(56, in_channels, num_classes, width)


@MODELS.register("resnet18")
def resnet18(in_channels: int, num_classes: int, image_size: int, *, width: float = 1.0) -> Classifier:
    """The CIFAR ResNet-18: 3x3 stem without max pooling, four stages of two blocks, 64-512 channels."""
    return resnet(in_channels, num_classes, [scaled(c, width) for c in (64, 128, 256, 512)], [2] * 4, "B")

"""VGG-16 with batch norm (Simonyan & Zisserman, 2015), CIFAR-style.

The CIFAR variant keeps the thirteen 3x3 convolutions and five max pools and replaces the
4096-wide ImageNet classifier by a single linear layer on the 512 pooled features (14.7M
parameters). Pools round up, so a 28x28 input (FashionMNIST) also ends at 1x1 instead of
vanishing; at 32x32 this is the standard network. `dropout` acts on the 512 features.
"""

from __future__ import annotations

from torch import nn

from robustrepro.models.common import MODELS, Classifier, kaiming_init, output_dim, scaled

VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


@MODELS.register("vgg16_bn")
def vgg16_bn(in_channels: int, num_classes: int, image_size: int, *, width: float = 1.0,
             dropout: float = 0.0) -> Classifier:
    layers: list[nn.Module] = []
    channels = in_channels
    for item in VGG16:
        if item == "M":
            layers.append(nn.MaxPool2d(2, ceil_mode=True))
        else:
            out_channels = scaled(item, width)
            layers += [nn.Conv2d(channels, out_channels, 3, padding=1), nn.BatchNorm2d(out_channels), nn.ReLU()]
            channels = out_channels
    layers.append(nn.Flatten())
    dim = output_dim(nn.Sequential(*layers), in_channels, image_size)
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    model = Classifier(nn.Sequential(*layers), nn.Linear(dim, num_classes))
    kaiming_init(model)
    return model

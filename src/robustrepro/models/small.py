"""Small networks: LeNet-5 and the perceptron, MLPs and Conv4 of seed 003, and tinyconv (seed 004).

Seed 003 (the "Deep Learning is Robust to Massive Label Noise" reproduction) gives its model
code, followed here layer for layer, including PyTorch's default initialisation: a
perceptron, MLPs with 256 / 256-128 / 256-128-64 ReLU hidden units, and Conv4, four
conv3x3(32, 64, 128, 256)-ReLU-maxpool stages, a 1000-unit ReLU layer and the output layer.
Its flatten sizes assumed 28x28x1 MNIST; here they come from the input shape.
`dropout` follows every hidden ReLU of the fully connected part; the perceptron has none.
"""

from __future__ import annotations

from torch import nn

from robustrepro.models.common import MODELS, Classifier, output_dim, scaled


def _fully_connected(in_features: int, hidden: list[int], dropout: float) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for units in hidden:
        layers += [nn.Linear(in_features, units), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        in_features = units
    return layers


def _mlp(in_channels: int, num_classes: int, image_size: int, hidden: list[int], dropout: float) -> Classifier:
    body = nn.Sequential(nn.Flatten(), *_fully_connected(in_channels * image_size**2, hidden, dropout))
    return Classifier(body, nn.Linear(hidden[-1], num_classes))


@MODELS.register("perceptron")
def perceptron(in_channels: int, num_classes: int, image_size: int) -> Classifier:
    """A linear classifier on the raw pixels; its embedding is the flattened image."""
    return Classifier(nn.Flatten(), nn.Linear(in_channels * image_size**2, num_classes))


@MODELS.register("mlp1")
def mlp1(in_channels: int, num_classes: int, image_size: int, *, width: float = 1.0,
         dropout: float = 0.0) -> Classifier:
    return _mlp(in_channels, num_classes, image_size, [scaled(256, width)], dropout)


@MODELS.register("mlp2")
def mlp2(in_channels: int, num_classes: int, image_size: int, *, width: float = 1.0,
         dropout: float = 0.0) -> Classifier:
    return _mlp(in_channels, num_classes, image_size, [scaled(c, width) for c in (256, 128)], dropout)


@MODELS.register("mlp4")
def mlp4(in_channels: int, num_classes: int, image_size: int, *, width: float = 1.0,
         dropout: float = 0.0) -> Classifier:
    return _mlp(in_channels, num_classes, image_size, [scaled(c, width) for c in (256, 128, 64)], dropout)


@MODELS.register("conv4")
def conv4(in_channels: int, num_classes: int, image_size: int, *, width: float = 1.0,
          dropout: float = 0.0) -> Classifier:
    layers: list[nn.Module] = []
    channels = in_channels
    for out_channels in (scaled(c, width) for c in (32, 64, 128, 256)):
        layers += [nn.Conv2d(channels, out_channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        channels = out_channels
    layers.append(nn.Flatten())
    flat = output_dim(nn.Sequential(*layers), in_channels, image_size)
    hidden = scaled(1000, width)
    body = nn.Sequential(*layers, *_fully_connected(flat, [hidden], dropout))
    return Classifier(body, nn.Linear(hidden, num_classes))


@MODELS.register("lenet")
def lenet(in_channels: int, num_classes: int, image_size: int, *, width: float = 1.0,
          dropout: float = 0.0) -> Classifier:
    """LeNet-5 with ReLU and max pooling: conv5x5(6)-pool-conv5x5(16)-pool-fc120-fc84-fc.

    LeNet-5 was designed for 32x32 inputs (LeCun et al. padded MNIST's 28x28 digits to 32x32);
    the first convolution's zero padding does the same here, so both sizes give the standard net.
    """
    c1, c2 = scaled(6, width), scaled(16, width)
    convs = nn.Sequential(
        nn.Conv2d(in_channels, c1, 5, padding=max(0, (32 - image_size) // 2)),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
    )
    flat = output_dim(convs, in_channels, image_size)
    hidden = [scaled(120, width), scaled(84, width)]
    body = nn.Sequential(*convs, *_fully_connected(flat, hidden, dropout))
    return Classifier(body, nn.Linear(hidden[-1], num_classes))


@MODELS.register("tinyconv")
def tinyconv(in_channels: int, num_classes: int, image_size: int, *, width: float = 1.0) -> Classifier:
    """2x average pooling, conv4x4(4, stride 2)-ReLU, conv3x3(8, stride 2)-ReLU and the output layer.

    For seed 004's brute-force perfect ordering, which trains and tests 104,400 copies of "one
    small convolutional network" (its size unstated): the fixed pooling runs once per image for
    every copy evaluated side by side (robustrepro.training.side_by_side), and the two strided
    convolutions keep the per-copy work to about 3k multiply-adds an image, so the whole
    experiment takes minutes on a laptop CPU. A 28x28 digit ends as 8 channels of 2x2.
    """
    c1, c2 = scaled(4, width), scaled(8, width)
    convs = nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(in_channels, c1, 4, stride=2), nn.ReLU(),
                          nn.Conv2d(c1, c2, 3, stride=2), nn.ReLU(), nn.Flatten())
    return Classifier(convs, nn.Linear(output_dim(convs, in_channels, image_size), num_classes))

"""The model zoo: every architecture the papers train, built by name.

Every model is a `Classifier`: `embed(x)` gives penultimate features [B, D] and `head` is the
final nn.Linear, with `forward(x) == head(embed(x))`. Inputs are float [B, C, H, W]; any
C and H = W of 28 or 32 work. `width` scales every channel and hidden width (1.0 is the
standard architecture; the perceptron has none and ignores it). `dropout` is accepted only
by models with a natural place for it (see each module); elsewhere a nonzero value is an error.

A builder's signature is its contract: it declares which of in_channels, num_classes,
image_size, width and dropout it uses, and any model-specific options (e.g. `wrn`'s depth
and widen), which arrive as `model.<key>` in a run config.
"""

from __future__ import annotations

import inspect
from numbers import Real
from typing import Callable

from torch import nn

from robustrepro.errors import UserError, unknown_choice
from robustrepro.models import preact, resnet, small, vgg
from robustrepro.models.common import Classifier

MODELS: dict[str, Callable[..., Classifier]] = {
    "resnet20": resnet.resnet20,
    "resnet32": resnet.resnet32,
    "resnet56": resnet.resnet56,
    "resnet18": resnet.resnet18,
    "preact_resnet56": preact.preact_resnet56,
    "wrn28_10": preact.wrn28_10,
    "wrn40_4": preact.wrn40_4,
    "wrn": preact.wrn,
    "vgg16_bn": vgg.vgg16_bn,
    "lenet": small.lenet,
    "perceptron": small.perceptron,
    "mlp1": small.mlp1,
    "mlp2": small.mlp2,
    "mlp4": small.mlp4,
    "conv4": small.conv4,
}

_COMMON = ("in_channels", "num_classes", "image_size", "width", "dropout")


def build_model(
    name: str, in_channels: int, num_classes: int, image_size: int, width: float = 1.0, dropout: float = 0.0, **kwargs
) -> nn.Module:
    """A freshly initialised model (drawing from torch's global generator: seed it first)."""
    if name not in MODELS:
        raise unknown_choice("model.name", name, MODELS)
    if isinstance(width, bool) or not isinstance(width, Real) or not width > 0:
        raise UserError(f"model.width: must be a number > 0 (1.0 is the standard architecture); got {width!r}")
    if isinstance(dropout, bool) or not isinstance(dropout, Real) or not 0 <= dropout < 1:
        raise UserError(f"model.dropout: must be a probability in [0, 1); got {dropout!r}")
    builder = MODELS[name]
    params = inspect.signature(builder).parameters
    options = [p for p in params if p not in _COMMON]
    for key in kwargs:
        if key not in options:
            known = f"its options are: {', '.join(options)}" if options else "it takes no options"
            raise UserError(f"model.{key}: model {name!r} has no option {key!r}; {known}")
    for key in options:
        if key not in kwargs:
            raise UserError(f"model.{key}: model {name!r} needs this option")
    if dropout and "dropout" not in params:
        with_dropout = sorted(n for n, b in MODELS.items() if "dropout" in inspect.signature(b).parameters)
        raise UserError(
            f"model.dropout: model {name!r} has no dropout layer; set it to 0 or use one of: {', '.join(with_dropout)}"
        )
    given = dict(in_channels=in_channels, num_classes=num_classes, image_size=image_size, width=width, dropout=dropout)
    return builder(**{k: v for k, v in given.items() if k in params}, **kwargs)


__all__ = ["MODELS", "Classifier", "build_model"]

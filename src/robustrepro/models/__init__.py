"""The model zoo: every architecture the papers train, built by name.

Every model is a `Classifier`: `embed(x)` gives penultimate features [B, D] and `head` is the
final nn.Linear, with `forward(x) == head(embed(x))`. Inputs are float [B, C, H, W]; any
C and H = W of 28 or 32 work. `width` scales every channel and hidden width (1.0 is the
standard architecture; the perceptron has none and ignores it). `dropout` is accepted only
by models with a natural place for it (see each module); elsewhere a nonzero value is an error.

Each module of this package registers its builders in MODELS (robustrepro.registry) when it is
imported, and every module is imported with the package (below), so a model in a new file
registers itself. Builders are called as
builder(in_channels, num_classes, image_size, **options); their keyword-only parameters are
the options a run config gives as `model.<key>`: width and dropout where the model uses them,
and any of its own (e.g. `wrn`'s depth and widen). Build through `build_model`, which also
handles the two options every run config carries for every model.
"""

from __future__ import annotations

from torch import nn

from robustrepro.errors import UserError
from robustrepro.models.common import MODELS, Classifier
from robustrepro.options import integer, number
from robustrepro.registry import import_all


def build_model(name: str, in_channels: int, num_classes: int, image_size: int, **options) -> nn.Module:
    """A freshly initialised model (drawing from torch's global generator: seed it first).

    `options` is the run's model section less its name. `outputs` (optional) widens the output
    layer beyond the view's `num_classes`. width and dropout are checked here for
    every model, since resolved runs give both to all of them; a builder that does not declare
    one has no use for it: its width is ignored and its dropout must be 0.
    """
    takes = MODELS.options(name)  # an unknown name fails here, listing the models
    options = dict(options)
    if options.get("outputs") is not None:
        # A head wider than the data's classes: the extra outputs are classes no example is labelled with
        # (seed 004's brute force: MNIST's usual 10-way head, trained and tested on zeros and ones).
        num_classes = integer("model.outputs", options["outputs"], at_least=num_classes)
    options.pop("outputs", None)
    if "width" in options:
        number("model.width", options["width"], above=0)
        if "width" not in takes:
            del options["width"]
    if "dropout" in options:
        number("model.dropout", options["dropout"], at_least=0, below=1)
        if "dropout" not in takes:
            if options["dropout"]:
                with_dropout = [n for n in MODELS if "dropout" in MODELS.options(n)]
                raise UserError(f"model.dropout: model {name!r} has no dropout layer; set it to 0 or use one of: "
                                f"{', '.join(with_dropout)}")
            del options["dropout"]
    return MODELS.build({"name": name, **options}, in_channels, num_classes, image_size)


# Every module of this package registers its models on import (they need MODELS from common and may
# use build_model, defined above): adding a model is adding a file, with no list of modules to keep.
MODULES = import_all(__name__, __path__)

__all__ = ["MODELS", "Classifier", "build_model"]

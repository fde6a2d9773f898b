"""Randomised test-time defences: a model wrapped so that every call predicts from fresh random copies of its inputs.

    defended = DEFENCES.build({"name": "sum_augment", "k": 3, "samples": 8}, model, pool, generator)
    log_probs = defended(x)   # x float [B, C, H, W] in [0, 1] -> [B, classes]

`model` maps [0, 1] images to logits (see attacks.Normalized). A defence makes `samples`
random copies of each input, runs the model on all B * samples copies in one batch, and returns
what the copies' outputs average to (option `average`):
- "probabilities" (the default): the log of the mean softmax prediction over each input's copies, a
  soft vote. These are log-probabilities; cross-entropy treats them as logits and gets the same loss
  (softmax(log p) = p).
- "logits": the mean of the copies' logits (what seed 004's authors' code does for its test-time sum
  augmentation; its text says "the average vote over all augmented images").
Either way an attack with `eot_samples` n attacks a defence by averaging the gradients of n
independent calls.

Every random draw comes from `generator` (on the device of the model and pool; None means one
seeded with DEFAULT_SEED), so two defences built with equally seeded generators give the same
outputs, call by call.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch
from torch import nn

from robustrepro.compute.device_data import crop_flip
from robustrepro.errors import UserError
from robustrepro.evaluation.attacks import default_generator
from robustrepro.options import integer, number
from robustrepro.registry import Registry

DEFENCES = Registry("defence")


AVERAGES = ("probabilities", "logits")


class Randomised(nn.Module, ABC):
    """The prediction averaged over `samples` random copies per input: log mean_s softmax(model(copy_s(x)))
    (average "probabilities"), or mean_s model(copy_s(x)) (average "logits")."""

    def __init__(self, model: nn.Module, samples: int, generator: torch.Generator | None, device: torch.device,
                 average: str = "probabilities"):
        super().__init__()
        self.model, self.samples, self.average = model, samples, average
        if generator is None:
            generator = default_generator(device)
        if torch.device(generator.device) != torch.device(device):
            raise ValueError(f"defence: the generator is on {generator.device} but the model on {device}; "
                             f"make it with torch.Generator(device={str(device)!r})")
        self.generator = generator

    @abstractmethod
    def copies(self, x: torch.Tensor) -> torch.Tensor:
        """[B * samples, C, H, W]: the random copies, input by input (those of x[0] first)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.model(self.copies(x)).float().view(x.shape[0], self.samples, -1)
        if self.average == "logits":
            return logits.mean(dim=1)
        return torch.logsumexp(logits.log_softmax(-1), dim=1) - math.log(self.samples)


class SumAugment(Randomised):
    """Seed 004's Test Time Sum Augmentation (section 3.6): each copy is (weight * input + k - 1 pool images) / (weight + k - 1)."""

    def __init__(self, model: nn.Module, pool: torch.Tensor, generator: torch.Generator | None, k: int, samples: int,
                 weight: float = 1.0, average: str = "probabilities"):
        super().__init__(model, samples, generator, pool.device, average)
        self.k, self.weight = k, weight
        self.register_buffer("pool", pool, persistent=False)

    def copies(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1:] != self.pool.shape[1:]:
            raise ValueError(f"sum_augment: inputs {tuple(x.shape[1:])} do not match the pool's images "
                             f"{tuple(self.pool.shape[1:])}")
        b, n = x.shape[0], self.pool.shape[0]
        count = b * self.samples * (self.k - 1)
        picks = torch.randint(0, n, (count,), generator=self.generator, device=self.pool.device)
        others = self.pool[picks].view(b, self.samples, self.k - 1, *x.shape[1:]).sum(dim=2)
        # weight 1: alpha 1 and a divisor of k leave today's plain mean bit for bit
        return others.add_(x.unsqueeze(1), alpha=self.weight).div_(self.weight + self.k - 1).flatten(0, 1)


class RandomCropFlip(Randomised):
    """Each copy is a random crop of the input zero-padded by `padding` pixels, flipped horizontally at random."""

    def __init__(self, model: nn.Module, generator: torch.Generator | None, padding: int, flip: bool, samples: int,
                 device: torch.device, average: str = "probabilities"):
        super().__init__(model, samples, generator, device, average)
        self.padding, self.flip = padding, flip

    def copies(self, x: torch.Tensor) -> torch.Tensor:
        return crop_flip(x.repeat_interleave(self.samples, dim=0), self.padding, self.flip, self.generator)


def _samples(samples) -> int:
    return integer("defence.samples", samples, at_least=1)


def _average(average) -> str:
    if average not in AVERAGES:
        raise UserError(f"defence.average: {average!r} is not one of {', '.join(AVERAGES)} (what the copies' outputs "
                        "are averaged as: softmax probabilities, a soft vote, or raw logits)")
    return average


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters(), torch.empty(0)).device


@DEFENCES.register("sum_augment")
def sum_augment(model: nn.Module, pool: torch.Tensor, generator: torch.Generator | None = None, *, k: int,
                samples: int, weight: float = 1.0, average: str = "probabilities") -> nn.Module:
    """Test Time Sum Augmentation: `samples` copies per input, each averaged with k - 1 random `pool` images.

    `pool` is float [N, C, H, W] in [0, 1] (seed 004 draws from the test set), on the model's
    device. `weight` is the input's weight against each pool image's 1, seed 004's parameter that
    "determines how much weight should the images we want to infer on have": a copy is
    (weight * x + the k - 1 pool images) / (weight + k - 1); 1 is the plain mean, 2 counts x twice.
    """
    k = integer("defence.k", k, at_least=2)
    weight = number("defence.weight", weight, above=0, meaning="the input's weight against each pool image's 1")
    samples = _samples(samples)
    if not isinstance(pool, torch.Tensor) or not pool.is_floating_point() or pool.dim() != 4 or pool.shape[0] == 0:
        raise ValueError(f"sum_augment: pool must be a non-empty float tensor [N, C, H, W]; "
                         f"got {getattr(pool, 'shape', pool)!r}")
    low, high = torch.aminmax(pool)
    if not bool((low >= 0) & (high <= 1)):
        raise ValueError("sum_augment: pool must hold images in [0, 1], as the model's inputs are")
    if pool.device != _model_device(model):
        raise ValueError(f"sum_augment: the pool is on {pool.device} but the model on {_model_device(model)}")
    return SumAugment(model, pool, generator, k, samples, weight, _average(average))


@DEFENCES.register("random_crop_flip")
def random_crop_flip(model: nn.Module, pool: torch.Tensor | None = None, generator: torch.Generator | None = None, *,
                     padding: int = 4, flip: bool = True, samples: int = 1,
                     average: str = "probabilities") -> nn.Module:
    """Random pad-crop by `padding` pixels and random horizontal flips, per copy; `pool` is not used."""
    padding = integer("defence.padding", padding, at_least=0)
    if not isinstance(flip, bool):
        raise UserError(f"defence.flip: must be true or false; got {flip!r}")
    if padding == 0 and not flip:
        raise UserError("defence.padding: with padding 0 and flip false the defence draws nothing; "
                        "set padding >= 1 or flip true")
    return RandomCropFlip(model, generator, padding, flip, _samples(samples), _model_device(model), _average(average))


__all__ = ["DEFENCES", "Randomised", "SumAugment", "RandomCropFlip", "sum_augment", "random_crop_flip"]

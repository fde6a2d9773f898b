"""Samplers: which training examples form each batch of an epoch, and with which weights.

A sampler is built from the run's `sampler` section by SAMPLERS.build(config, ctx) and yields
`Batch(indices, weights)` on the device. Weights scale each example's loss in the step
(a weighted mean over the batch, see steps.weighted_mean); None means all equal.
Samplers that re-select data (online facility location) do it in end_epoch, where the
context gives them the model and the device data.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
import itertools
import math
from typing import Iterator

import torch

from robustrepro.options import integer, number
from robustrepro.training.context import Batch, Part, TrainContext
from robustrepro.registry import Registry
from robustrepro.training.seeding import derive_seed, make_generator

SAMPLERS = Registry("sampler")


class Sampler(Part, ABC):
    @abstractmethod
    def steps_per_epoch(self) -> int:
        """Batches per epoch; per-iteration schedules plan with it."""

    @abstractmethod
    def batches(self, ctx: TrainContext) -> Iterator[Batch]:
        """The (indices, weights) of each batch of this epoch, in order."""

    def resume_batches(self, ctx: TrainContext, done: int) -> Iterator[Batch]:
        """The rest of this epoch's batches after the first `done`, for a run resumed within an epoch.

        Replaying the epoch's draws is exact for a sampler whose batches depend on the epoch's
        generator and its own state only; one that scores candidates with the model must keep
        what it chose in its state_dict and override this."""
        return itertools.islice(self.batches(ctx), done, None)

    def summary(self) -> dict:
        """Numbers about the selection for metrics.json (e.g. the number of clusters)."""
        return {}


class SubsetSampler(Sampler):
    """Batches over a fixed set of training positions, reshuffled every epoch or in order.

    The last batch of an epoch may be smaller: every example is seen once per epoch.
    """

    def __init__(self, positions: torch.Tensor, batch_size: int, shuffle: bool):
        self.positions = positions
        self.batch_size = batch_size
        self.shuffle = shuffle

    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.positions) / self.batch_size)

    def batches(self, ctx: TrainContext) -> Iterator[Batch]:
        order = self.positions
        if self.shuffle:
            generator = ctx.generator("sampler")
            order = order[torch.randperm(len(order), generator=generator, device=generator.device)]
        for start in range(0, len(order), self.batch_size):
            yield Batch(order[start:start + self.batch_size], None)


def batch_size(ctx: TrainContext) -> int:
    return integer("batch_size", ctx.run["batch_size"], at_least=1)


@SAMPLERS.register("shuffle")
def shuffle(ctx: TrainContext) -> Sampler:
    """Every training example once per epoch, in a new random order each epoch."""
    return SubsetSampler(torch.arange(len(ctx.data), device=ctx.device), batch_size(ctx), shuffle=True)


@SAMPLERS.register("sequential")
def sequential(ctx: TrainContext) -> Sampler:
    """Every training example once per epoch, in view order."""
    return SubsetSampler(torch.arange(len(ctx.data), device=ctx.device), batch_size(ctx), shuffle=False)


class WarmupSubsetSampler(SubsetSampler):
    """All positions for the first `warmup_epochs` epochs, then a fixed subset of them."""

    def __init__(self, everything: torch.Tensor, subset: torch.Tensor, batch_size: int, warmup_epochs: int):
        super().__init__(everything if warmup_epochs else subset, batch_size, shuffle=True)
        self.everything, self.subset, self.warmup_epochs = everything, subset, warmup_epochs

    def start_epoch(self, ctx: TrainContext) -> None:
        # Chosen from the epoch alone, so a resumed run picks the same set.
        self.positions = self.everything if ctx.epoch <= self.warmup_epochs else self.subset


@SAMPLERS.register("fixed_subset")
def fixed_subset(ctx: TrainContext, *, fraction: float, warmup_epochs: int = 0) -> Sampler:
    """A random `fraction` of the training view, drawn once from the run seed, reshuffled every epoch.

    warmup_epochs: full-data epochs before the subset takes over (seed 000's random baseline gets
    the warm-up of the facility-location run it is compared with)."""
    number("sampler.fraction", fraction, above=0, at_most=1, meaning="the share of training examples to keep")
    integer("sampler.warmup_epochs", warmup_epochs, at_least=0, meaning="full-data epochs before the subset")
    n = len(ctx.data)
    size = max(1, round(fraction * n))
    # Drawn on the CPU so the subset is the same on every device.
    generator = make_generator(derive_seed(ctx.seed, "fixed_subset"))
    subset = torch.randperm(n, generator=generator)[:size].sort().values
    return WarmupSubsetSampler(torch.arange(n, device=ctx.device), subset.to(ctx.device), batch_size(ctx),
                               warmup_epochs)

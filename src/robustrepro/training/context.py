"""What every training part sees (the context) and what parts hand each other (batches, step results).

A method of a paper is one part: a sampler (which examples, with which weights), a step (how a
batch becomes an update), a schedule, or an epoch metric. Samplers, steps and metrics share
the hooks of `Part`; each receives the `TrainContext`, which holds the model, the device data,
the view, the optimizer, the epoch and generators derived from the run seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

import torch
from torch import nn

from robustrepro.compute.device import autocast
from robustrepro.compute.device_data import DeviceData
from robustrepro.training.seeding import derive_seed, make_generator
from robustrepro.views import View


class Batch(NamedTuple):
    """One batch as a sampler chose it."""

    indices: torch.Tensor  # int64 [B] positions in the training view, on the device
    weights: torch.Tensor | None  # float32 [B] per-example loss weights, or None for a plain mean


class StepResult(NamedTuple):
    """What a step reports for the epoch metrics; every tensor is detached and stays on the device."""

    losses: torch.Tensor  # float32 [B'] per-example cross-entropy on `labels`
    logits: torch.Tensor  # [B', K]
    labels: torch.Tensor  # int64 [B'] the hard labels trained on (for soft targets: the dominant one)
    indices: torch.Tensor  # int64 [B'] training-view positions of those examples


@dataclass
class TrainContext:
    run: dict  # the resolved run config
    seed: int
    device: torch.device
    data: DeviceData
    view: View
    model: nn.Module  # the module itself: its parameters, state_dict, functional calls
    forward: Callable[[torch.Tensor], torch.Tensor]  # the model or its torch.compile'd version
    optimizer: torch.optim.Optimizer | None = None
    epoch: int = 0  # the epoch being trained, from 1
    global_step: int = 0  # optimizer steps taken before the current one
    steps_per_epoch: int = 0  # batches in the epoch being trained
    clustering: str | None = None  # the run's set-cover file (run key `clustering`), built by the workflow

    def generator(self, purpose: str, device: torch.device | str | None = None) -> torch.Generator:
        """A fresh generator for this epoch and purpose (e.g. "sampler", "augment", "mixup")."""
        return make_generator(derive_seed(self.seed, self.epoch, purpose), device or self.device)

    def autocast(self):
        return autocast(self.device)


class Part:
    """Hooks shared by samplers, steps and epoch metrics; all are optional.

    State that must survive a resume goes in state_dict (plain Python values and tensors);
    randomness must come from ctx.generator, never from state carried across epochs.
    """

    def start_epoch(self, ctx: TrainContext) -> None:
        pass

    def end_epoch(self, ctx: TrainContext) -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

"""What every training part sees (the context) and what parts hand each other (batches, step results).

A method of a paper is one part: a sampler (which examples, with which weights), a step (how a
batch becomes an update), a schedule, or an epoch metric. Samplers, steps and metrics share
the hooks of `Part`; each receives the `TrainContext`, which holds the model, the device data,
the view, the optimizer, the epoch and generators derived from the run seed.

After every update each part's `after_step(ctx, batch, result)` sees the step's per-example
losses, logits and labels (no second forward pass). A part that needs more pays for it through
the context: `ctx.score(indices)` is a no_grad forward pass over chosen training examples,
`ctx.update(batch)` one update through the run's step, and `ctx.save_state()` /
`ctx.restore_state(state)` (or `with ctx.rollback():`) put the model and optimizer back
exactly as they were around trial updates.
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass
from typing import Callable, Iterator, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from robustrepro.compute.device_data import DeviceData
from robustrepro.compute.recipe import PLAIN, Recipe
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
    weights: torch.Tensor | None = None  # float [B'] the example weights the update used; None: a plain mean


@dataclass
class TrainContext:
    run: dict  # the resolved run config
    seed: int
    device: torch.device
    data: DeviceData
    view: View
    model: nn.Module  # the module itself: its parameters, state_dict, functional calls
    forward: Callable[[torch.Tensor], torch.Tensor]  # the model or its torch.compile'd version
    recipe: Recipe = PLAIN  # precision, layout, compilation (robustrepro.compute.recipe)
    optimizer: torch.optim.Optimizer | None = None
    epoch: int = 0  # the epoch being trained, from 1
    global_step: int = 0  # optimizer steps taken before the current one
    steps_per_epoch: int = 0  # batches in the epoch being trained
    clustering: str | None = None  # the run's set-cover file (run key `clustering`), built by the workflow
    # One update through the run's step on a batch (the trainer sets it): for trial updates.
    # It leaves the lr as scheduled and calls no after_step hooks; it does not count as a step.
    update: Callable[[Batch], StepResult] | None = None
    # For this step only (the trainer sets it): a step metric that measures the update's gradients
    # (step_log metric grad_cosine). A step that supports it calls probe(ctx, batch, losses, loss)
    # in place of loss.backward(); the probe leaves loss's gradient in .grad, as backward would.
    probe: Callable[["TrainContext", Batch, torch.Tensor, torch.Tensor], None] | None = None

    def generator(self, purpose: str, device: torch.device | str | None = None) -> torch.Generator:
        """A fresh generator for this epoch and purpose (e.g. "sampler", "augment", "mixup")."""
        return make_generator(derive_seed(self.seed, self.epoch, purpose), device or self.device)

    def autocast(self):
        """The forward passes' precision: bf16 autocast under the bf16 recipe, else plain fp32."""
        return self.recipe.autocast(self.device)

    @torch.no_grad()
    def score(self, indices: torch.Tensor, role: str = "train") -> StepResult:
        """Per-example losses and logits of the current model on examples `indices` of `role`.

        Unaugmented and in eval mode (batch norm uses and keeps its running statistics), so a
        sampler scoring candidates changes nothing the training sees.
        """
        was_training = self.model.training
        self.model.eval()
        try:
            with self.autocast():
                logits = self.forward(self.data.inputs(role, indices)).float()
        finally:
            self.model.train(was_training)
        labels = self.data.labels(role, indices)
        return StepResult(F.cross_entropy(logits, labels, reduction="none"), logits, labels, indices)

    def save_state(self) -> "TrainState":
        """A copy, on the device, of everything an update changes: weights, buffers, optimizer state,
        and torch's global random state (dropout draws from it), so a rolled-back trial update
        leaves the rest of the run's draws as they would have been."""
        rng = {"cpu": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return TrainState({k: v.detach().clone() for k, v in self.model.state_dict().items()},
                          copy.deepcopy(self.optimizer.state_dict()), rng)

    def restore_state(self, state: "TrainState") -> None:
        """Put back the model and optimizer of `save_state`, bit for bit; `state` may be restored again."""
        with torch.no_grad():
            for key, value in self.model.state_dict().items():
                value.copy_(state.model[key])  # in place: the optimizer keeps pointing at these tensors
        # load_state_dict copies the tensors in, so the saved state stays untouched.
        self.optimizer.load_state_dict(copy.deepcopy(state.optimizer))
        torch.set_rng_state(state.rng["cpu"])
        if "cuda" in state.rng:
            torch.cuda.set_rng_state(state.rng["cuda"], self.device)

    @contextlib.contextmanager
    def rollback(self) -> Iterator["TrainState"]:
        """Whatever happens inside (trial updates), the model and optimizer leave as they came in."""
        state = self.save_state()
        try:
            yield state
        finally:
            self.restore_state(state)


@dataclass(frozen=True)
class TrainState:
    model: dict[str, torch.Tensor]
    optimizer: dict
    rng: dict[str, torch.Tensor]


class Part:
    """Hooks shared by samplers, steps and epoch metrics; all are optional.

    State that must survive a resume goes in state_dict (plain Python values and tensors);
    randomness must come from ctx.generator, never from state carried across epochs.
    """

    def start_epoch(self, ctx: TrainContext) -> None:
        pass

    def after_step(self, ctx: TrainContext, batch: Batch, result: StepResult) -> None:
        """Called after every update with what the step computed (detached, on the device)."""

    def end_epoch(self, ctx: TrainContext) -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

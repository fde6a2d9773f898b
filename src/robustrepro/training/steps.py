"""Steps: how one batch becomes one parameter update.

A step is built from the run's `step` section by STEPS.build(config, ctx) and called as
step(ctx, batch, x, y) with the batch the sampler chose, its (augmented, normalised) inputs
and the labels trained on. It runs the forward pass under ctx.autocast(), updates the
parameters through ctx.optimizer (the trainer has already set this step's lr), and returns a
StepResult for the epoch metrics.

Later steps fit the same call: a meta step (learning to reweight) draws clean examples with
ctx.data.inputs("holdout", ...) and differentiates through torch.func.functional_call(ctx.model,
...); soft-target steps (mixup, SamplePairing, sum augmentation) mix `x` and `y` with
ctx.generator(...) and report the dominant label in StepResult.labels.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
import torch
import torch.nn.functional as F

from robustrepro.training.context import Batch, Part, StepResult, TrainContext
from robustrepro.registry import Registry

STEPS = Registry("step")


class Step(Part, ABC):
    takes_probe = False  # whether ctx.probe may replace its backward (gradient step metrics)

    @abstractmethod
    def __call__(self, ctx: TrainContext, batch: Batch, x: torch.Tensor, y: torch.Tensor) -> StepResult:
        """One update from one batch."""


def weighted_mean(losses: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """sum(w * loss) / sum(w): the sampler's weights say how much each example counts.

    Weights that are all zero (possible in learning to reweight) give a zero loss, not NaN.
    """
    if weights is None:
        return losses.mean()
    weights = weights.to(losses.dtype)
    return (weights * losses).sum() / weights.sum().clamp_min(torch.finfo(losses.dtype).tiny)


class WeightedStep(Step):
    """Cross-entropy per example, weighted mean over the batch, one optimizer step."""

    takes_probe = True

    def __call__(self, ctx: TrainContext, batch: Batch, x: torch.Tensor, y: torch.Tensor) -> StepResult:
        with ctx.autocast():
            logits = ctx.forward(x)
        losses = F.cross_entropy(logits.float(), y, reduction="none")
        ctx.optimizer.zero_grad(set_to_none=True)
        loss = weighted_mean(losses, batch.weights)
        if ctx.probe is None:
            loss.backward()
        else:
            ctx.probe(ctx, batch, losses, loss)
        ctx.optimizer.step()
        return StepResult(losses.detach(), logits.detach(), y, batch.indices, batch.weights)


@STEPS.register("weighted")
def weighted(ctx: TrainContext) -> Step:
    return WeightedStep()

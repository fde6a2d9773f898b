"""Seed 001: learning to reweight examples (Ren et al. 2018), the step of the seed's Algorithm 1.

The algorithm, for a training batch (X_f, y_f) and a clean batch (X_g, y_g) of the holdout:
eps = 0 (one per example); l_f = sum_i eps_i C_i; the virtual step theta_hat = theta - alpha *
d l_f / d theta; l_g = mean clean cross-entropy at theta_hat; w~ = max(-d l_g / d eps, 0);
w = w~ / (sum w~ + delta(sum w~)) (weights summing to 1, or all zero when no example helps the
clean loss); the real update on sum_i w_i C_i through the optimizer.

How it is computed: at eps = 0 the virtual step is theta itself, so by the chain rule
-d l_g / d eps_i = alpha * grad C_i(theta) . grad l_g(theta), exactly (the seed's Eq. 1 is this
agreement written out layer by layer). alpha > 0 scales every weight alike and the normalisation
removes it. So one step is: the clean batch's gradient v at theta (a forward and backward pass
through torch.func.functional_call: no copy of the model), then one forward pass of the
training batch with forward-mode tangents along v (torch.autograd.forward_ad), whose primal is
the real forward and whose tangent is every example's grad C_i . v at once, then the real
backward. That is cheaper than differentiating through the virtual step (a double backward:
about 4x a plain step for ResNet-32 on a CPU against about 3x here, bench/bench_reweight.py) and
gives the same weights: tests/test_reweight.py checks them against finite differences of the
clean loss after explicit virtual steps on a copy of the model.

Readings of what the seed leaves open:
- The clean batch: `clean_batch` examples of the holdout (default: the training batch size,
  capped at the holdout: the original draws clean batches of the training batch's size; with
  the seed's 10 or 100 clean images that is the whole set every step). A smaller batch is drawn
  without replacement per step, from a generator seeded by (run seed, step).
- BatchNorm: the training forward runs in train mode and moves the running statistics once, as
  a plain step does; the clean pass normalises with the clean batch's own statistics (train
  mode, as the virtual forward of the algorithm) and updates copies of the buffers, so it
  leaves the running statistics alone.
- A sampler's weights would be overridden: the step refuses a sampler that gives any.

`reweight_gated` is the update the seed's MNIST BACKGROUNDFLIP notebook actually makes: it computes
the same weights, then takes the real loss as sum(w * mean_i C_i), the batch's mean loss (PyTorch's
default reduction) times sum(w), which is 1 or 0. So its "reweighted" LeNet trains on the
unweighted mean and merely skips the batches where no example helps the clean loss. It is here to
reproduce what the seed ran, beside Algorithm 1 (seed 001's paper module says how they differ).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd import forward_ad
from torch.func import functional_call

from robustrepro.errors import UserError
from robustrepro.options import integer
from robustrepro.training.context import Batch, StepResult, TrainContext
from robustrepro.training.seeding import derive_seed, make_generator
from robustrepro.training.steps import STEPS, Step


def reweight(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, clean_x: torch.Tensor,
             clean_y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(logits, per-example losses, weights w) of Algorithm 1 for the batch (x, y).

    The logits and losses are the training forward at the current parameters, with their graph
    for the caller's real update; w is detached and sums to 1 (or is all zero).
    """
    params = {name: p for name, p in model.named_parameters() if p.requires_grad}
    buffers = dict(model.named_buffers())
    copies = {name: b.clone() for name, b in buffers.items()}  # the clean pass moves copies only
    clean_logits = functional_call(model, {**copies, **params}, (clean_x,))
    direction = torch.autograd.grad(F.cross_entropy(_at_least_float32(clean_logits), clean_y), list(params.values()))
    with forward_ad.dual_level():
        duals = {name: forward_ad.make_dual(p, d) for (name, p), d in zip(params.items(), direction)}
        logits = functional_call(model, {**buffers, **duals}, (x,))
        losses, agreement = forward_ad.unpack_dual(F.cross_entropy(_at_least_float32(logits), y, reduction="none"))
        logits = forward_ad.unpack_dual(logits).primal
    w = torch.clamp(agreement.detach(), min=0)
    total = w.sum()
    return logits, losses, w / (total + (total == 0))


def _at_least_float32(logits: torch.Tensor) -> torch.Tensor:
    """Logits for the loss: bf16 (autocast) up to float32, float64 (the reference tests) kept."""
    return logits.to(torch.promote_types(logits.dtype, torch.float32))


class ReweightStep(Step):
    """One learning-to-reweight update (module docstring)."""

    def __init__(self, clean_batch: int, gated_mean: bool = False):
        self.clean_batch = clean_batch
        self.gated_mean = gated_mean  # the seed's notebook's update (module docstring)
        self.last_weights: torch.Tensor | None = None  # the latest batch's weights, for step metrics

    def clean(self, ctx: TrainContext) -> tuple[torch.Tensor, torch.Tensor]:
        n = len(ctx.data.splits["holdout"])
        if self.clean_batch >= n:
            indices = torch.arange(n, device=ctx.device)
        else:
            generator = make_generator(derive_seed(ctx.seed, "reweight", ctx.global_step), ctx.device)
            indices = torch.randperm(n, generator=generator, device=ctx.device)[:self.clean_batch]
        return ctx.data.inputs("holdout", indices), ctx.data.labels("holdout", indices)

    def __call__(self, ctx: TrainContext, batch: Batch, x: torch.Tensor, y: torch.Tensor) -> StepResult:
        if batch.weights is not None:
            raise UserError("step.name: the reweight step computes its own example weights; use a sampler that "
                            "gives none (e.g. shuffle)")
        clean_x, clean_y = self.clean(ctx)
        with ctx.autocast():
            # Through the module itself (functional_call), not ctx.forward: forward-mode tangents
            # do not pass through a torch.compile'd forward.
            logits, losses, w = reweight(ctx.model, x, y, clean_x, clean_y)
        if self.gated_mean:
            w = (w.sum() / len(w)).expand_as(w)  # the mean loss times sum(w): 1/n each, or 0
        ctx.optimizer.zero_grad(set_to_none=True)
        (w * losses).sum().backward()
        ctx.optimizer.step()
        self.last_weights = w
        return StepResult(losses.detach(), logits.detach(), y, batch.indices, w)


@STEPS.register("reweight")
def reweight_step(ctx: TrainContext, *, clean_batch: int | None = None) -> Step:
    """Learning to reweight on the run's clean holdout (run key holdout: {size: n, per_class: ...})."""
    return _build(ctx, clean_batch, gated_mean=False)


@STEPS.register("reweight_gated")
def reweight_gated_step(ctx: TrainContext, *, clean_batch: int | None = None) -> Step:
    """The seed's notebook's update: the unweighted mean loss, skipped when every weight is zero."""
    return _build(ctx, clean_batch, gated_mean=True)


def _build(ctx: TrainContext, clean_batch: int | None, gated_mean: bool) -> Step:
    if not ctx.data.has("holdout") or len(ctx.data.splits["holdout"]) == 0:
        raise UserError("step.name: the reweight step needs clean examples: give the run a holdout, e.g. "
                        "holdout: {size: 100, per_class: true}")
    n = len(ctx.data.splits["holdout"])
    if clean_batch is None:
        clean_batch = min(n, ctx.run["batch_size"])
    integer("step.clean_batch", clean_batch, at_least=1, meaning="clean examples per step")
    return ReweightStep(min(clean_batch, n), gated_mean)

"""Seed 001: learning to reweight examples (Ren et al. 2018), the step of the seed's Algorithm 1.

Every update, for the training batch (X_f, y_f) and a clean batch (X_g, y_g) of the holdout:

1. forward X_f at theta; C_i = cross-entropy of example i (the real update reuses this forward);
2. eps = 0 (one per example), l_f = sum_i eps_i C_i, and its gradient in theta as a function of
   eps (create_graph);
3. the virtual SGD step theta_hat = theta - alpha * d l_f / d theta;
4. l_g = mean cross-entropy of the clean batch at theta_hat, through
   torch.func.functional_call: no copy of the model;
5. w~ = max(-d l_g / d eps, 0), w = w~ / (sum w~ + delta(sum w~)): weights summing to 1, or all
   zero when no example helps the clean loss (delta(0) = 1 keeps that from dividing by zero);
6. the real update on sum_i w_i C_i through the optimizer (its momentum and weight decay).

Readings of what the seed leaves open:
- alpha is the step's scheduled learning rate (the seed's PyTorch reference uses the
  optimizer's lr). With eps = 0 the virtual step is theta itself, so -d l_g / d eps_i =
  alpha * grad C_i . grad l_g: alpha scales every weight alike and the normalisation removes it.
- The clean batch: `clean_batch` examples of the holdout (default: the training batch size,
  capped at the holdout: the original draws clean batches of the training batch's size; with
  the seed's 10 or 100 clean images that is the whole set every step). A smaller batch is drawn
  without replacement per step, from a generator seeded by (run seed, step).
- BatchNorm: the training forward runs in train mode and moves the running statistics once,
  as a plain step does; the clean forward at theta_hat normalises with the clean batch's own
  statistics (train mode) and updates copies of the buffers, so it leaves the running
  statistics alone.
- A sampler's weights would be overridden: the step refuses a sampler that gives any.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.func import functional_call

from robustrepro.errors import UserError
from robustrepro.options import integer, number
from robustrepro.training.context import Batch, StepResult, TrainContext
from robustrepro.training.seeding import derive_seed, make_generator
from robustrepro.training.steps import STEPS, Step


def reweight(model: torch.nn.Module, losses: torch.Tensor, clean_x: torch.Tensor, clean_y: torch.Tensor,
             alpha: float, params: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """Algorithm 1's example weights w [B] for per-example `losses` of `model` (steps 2-5).

    `losses` must come from a forward pass of `model` with the graph kept; that graph is kept
    for the caller's real update.
    """
    params = params if params is not None else {k: p for k, p in model.named_parameters() if p.requires_grad}
    eps = torch.zeros_like(losses, requires_grad=True)
    grads = torch.autograd.grad((eps * losses).sum(), list(params.values()), create_graph=True, retain_graph=True)
    virtual = {name: p - alpha * g for (name, p), g in zip(params.items(), grads)}
    buffers = {name: b.clone() for name, b in model.named_buffers()}  # the clean pass moves copies only
    clean_logits = functional_call(model, {**buffers, **virtual}, (clean_x,))
    clean_loss = F.cross_entropy(clean_logits.float(), clean_y)
    (grad_eps,) = torch.autograd.grad(clean_loss, eps, retain_graph=True)
    w = torch.clamp(-grad_eps, min=0)
    total = w.sum()
    return (w / (total + (total == 0))).detach()


class ReweightStep(Step):
    """One learning-to-reweight update (module docstring)."""

    def __init__(self, clean_batch: int, virtual_lr: float | None):
        self.clean_batch, self.virtual_lr = clean_batch, virtual_lr
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
        alpha = self.virtual_lr if self.virtual_lr is not None else ctx.optimizer.param_groups[0]["lr"]
        clean_x, clean_y = self.clean(ctx)
        with ctx.autocast():
            # The module itself, not ctx.forward: a torch.compile'd forward has no double backward.
            logits = ctx.model(x)
            losses = F.cross_entropy(logits.float(), y, reduction="none")
            w = reweight(ctx.model, losses, clean_x, clean_y, alpha)
        ctx.optimizer.zero_grad(set_to_none=True)
        (w * losses).sum().backward()
        ctx.optimizer.step()
        self.last_weights = w
        return StepResult(losses.detach(), logits.detach(), y, batch.indices)


@STEPS.register("reweight")
def reweight_step(ctx: TrainContext, *, clean_batch: int | None = None, virtual_lr: float | None = None) -> Step:
    """Learning to reweight on the run's clean holdout (run key holdout: {size: n, per_class: ...})."""
    if not ctx.data.has("holdout") or len(ctx.data.splits["holdout"]) == 0:
        raise UserError("step.name: the reweight step needs clean examples: give the run a holdout, e.g. "
                        "holdout: {size: 100, per_class: true}")
    n = len(ctx.data.splits["holdout"])
    if clean_batch is None:
        clean_batch = min(n, ctx.run["batch_size"])
    integer("step.clean_batch", clean_batch, at_least=1, meaning="clean examples per step")
    if virtual_lr is not None:
        number("step.virtual_lr", virtual_lr, above=0, meaning="the virtual step's learning rate (null: the lr)")
    return ReweightStep(min(clean_batch, n), virtual_lr)

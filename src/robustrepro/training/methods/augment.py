"""Seed 004 chapter 3: sum augmentation, its gradual cascade, and the mixup and SamplePairing baselines.

Steps (registered on STEPS):

sum_augment {k}         §3.3: the batch is split by position into k sum groups; augmented example j
                        is the mean of the examples at position j of every group, its target the
                        same mean of their one-hot labels, the loss binary cross-entropy divided by k.
                        k = 1 is the plain cross-entropy step (§3.4's final fine-tuning phase).
                        `set_groups(k)` changes k between phases (the cascade controller calls it).
gradual_sum {k, epochs} §3.5: the k groups mixed with `cascade_coefficients(k, g)`, g rising from 0
                        to 1 over `epochs`, then unmixed fine-tuning.
mixup {alpha}           Zhang et al.: lambda ~ Beta(alpha, alpha) per batch, two-way mix, mixed CE.
sample_pairing {...}    Inoue 2018: each image averaged with another of the batch, the first's label,
                        on for chosen epochs only.

`sum_images` (mixing k groups by position) and `cascade_coefficients` are pure functions; the steps
call them, so the figures that draw them (figure3_3, figure3_4) show the code that trains.

Where the seed was read (/work/shared/seeds/004_34a48cf8b8a0c413.txt, chapter 3, whose formulas
did not survive the text extraction):
- §3.3: "we split the original batch into [k] groups of equal size, and each element in the
  augmented batch is computed as the mean of all the elements at the same index in all groups";
  the target is "the same linear combination over the one-hot encoding of the labels"; "We chose
  to calculate the loss by using the binary cross entropy and dividing it by [k]"; k is chosen
  among the divisors of the batch size. Binary cross-entropy here is with logits, per class, and
  averaged over the classes: the seed does not say how the classes are reduced; the mean is
  torch's default and what the authors' public code (Tensor-Reloaded/Cascading-Sum-Augmentation,
  main.py) computes. That code does not divide by k; the seed's text does, and so does this.
- §3.4: cascading from k groups down to "k = 1 when the model does its last fine-tuning step with
  the original training dataset samples"; the authors' code trains that phase with the plain
  cross-entropy criterion, so sum_augment with k = 1 is the plain step.
- §3.2 on SamplePairing: a final fine-tuning on the original set, and the first image's label
  (the seed found mixed targets better; sample_pairing is the baseline as Inoue defined it).

Readings of what the seed leaves open:
- Groups are contiguous slices of the batch as the sampler ordered it: with the shuffling sampler
  that is the seed's random grouping (the authors' code shuffles the batch first).
- A batch whose size k does not divide (the epoch's short last batch) loses its last B mod k
  examples; a batch of fewer than k examples becomes a single mix of all of them, its loss divided
  by that count.
- Sampler weights are mixed like the targets (the mean weight of a mix's members).
- StepResult: losses are the per-augmented-example training loss (what the update minimised),
  labels the dominant class of the mixed target (ties: the first group's label), indices the first
  group's examples (the example at position j of group 0 stands for mix j).
- Random draws (mixup's lambda and partners, SamplePairing's partners) come from ctx.generator with
  the global step in the purpose: every step draws afresh, a resume at any step and a trial update
  (ctx.update) at the same step draw the same, and no generator state has to be checkpointed.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from robustrepro.errors import UserError
from robustrepro.options import integer, number
from robustrepro.training.context import Batch, StepResult, TrainContext
from robustrepro.training.steps import STEPS, Step, weighted_mean


# --- the pure functions behind the steps and the figures ------------------------------------------

def sum_images(x: torch.Tensor, k: int, coefficients: torch.Tensor | None = None) -> torch.Tensor:
    """Mix k groups of `x` by position: out[j] = sum_i c_i x[i * n + j] with n = len(x) // k.

    Group i is the slice x[i*n:(i+1)*n]; the last len(x) mod k rows fill no group and are
    dropped. Without coefficients each c_i is 1/k (the mean, sum augmentation); with them
    (shape [k], e.g. cascade_coefficients) it is their weighted sum. Works for images [B, C, H, W],
    one-hot targets [B, K] and weights [B] alike, so inputs and targets mix the same way.
    """
    if not 1 <= k <= len(x):
        raise ValueError(f"sum_images: k must be between 1 and the batch size {len(x)}; got {k}")
    n = len(x) // k
    groups = x[:k * n].reshape(k, n, *x.shape[1:])
    if coefficients is None:
        return groups.mean(0)
    if coefficients.shape != (k,):
        raise ValueError(f"sum_images: need {k} coefficients; got shape {tuple(coefficients.shape)}")
    return torch.tensordot(coefficients.to(device=x.device, dtype=x.dtype), groups, dims=1)


def cascade_coefficients(k: int, g: float | torch.Tensor) -> torch.Tensor:
    """The gradually cascading coefficients of k groups at granularity g in [0, 1]: [k] (or [*g.shape, k]).

    A reconstruction: the seed's equations (3.1)-(3.6) were lost from its text; what survived
    describes their parts, and this is built from that description (and agrees with the
    get_k_weights of the authors' public code, evaluated here at the current g rather than
    refreshed at epoch ends as there, so that it is continuous). With p = g (k - 1):
      e = floor(p) coefficients are already eliminated, m = k - e are in use, s = p - e is how far
      the current one (position m - 1) has gone towards 0;
      the centroid c = 1/m + s / (m (m - 1)) moves from the mean of m (1/m) to the mean of m - 1;
      the remainder r = 1 - (m - 1) c = (1 - s) / m is what is left for position m - 1;
      eps = r s / (k - 1)^2 moves a further share of the remainder onto the main coefficients;
      coefficients: positions < m - 1 get c + eps / (m - 1), position m - 1 gets r - eps, the rest 0.
    Properties (tests/test_augment_steps.py): all 1/k at g = 0; [1, 0, ..., 0] at g = 1; always
    non-negative and summing to 1; one coefficient shrinks to 0 at a time, its weight spread over the
    others, the last first; continuous in g. g outside [0, 1] is clamped.
    """
    k = integer("k", k, at_least=1, meaning="groups to mix")
    g = torch.as_tensor(g)
    dtype = g.dtype if g.is_floating_point() else torch.get_default_dtype()
    g = g.to(dtype).clamp(0, 1).unsqueeze(-1)
    p = g * (k - 1)
    eliminated = torch.floor(p).clamp(max=k - 1)
    s = p - eliminated
    m = k - eliminated
    main = (m - 1).clamp(min=1)  # m = 1 only at g = 1, where s = 0 and no position is "main"
    centroid = 1 / m + s / (m * main)
    remainder = 1 - (m - 1) * centroid
    eps = remainder * s / max(k - 1, 1) ** 2
    position = torch.arange(k, dtype=dtype, device=g.device)
    coefficients = torch.where(position < m - 1, centroid + eps / main, remainder - eps)
    return torch.where(position < m, coefficients, 0.0)


# --- shared pieces ---------------------------------------------------------------------------------

def soft_bce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per example: binary cross-entropy with logits against soft targets, averaged over the classes."""
    return F.binary_cross_entropy_with_logits(logits.float(), targets, reduction="none").mean(1)


def dominant_label(targets: torch.Tensor, first: torch.Tensor) -> torch.Tensor:
    """The class with the largest mixed target; where the first group's label ties for it, that label."""
    best = targets.max(1).values
    # A small tolerance: equal shares summed in a different order may differ in the last bit.
    first_ties = targets.gather(1, first[:, None]).squeeze(1) >= best - 1e-6
    return torch.where(first_ties, first, targets.argmax(1))


def step_generator(ctx: TrainContext, purpose: str, device: torch.device | str | None = None) -> torch.Generator:
    """ctx's generator for this epoch, purpose and global step (module docstring: why per step)."""
    return ctx.generator(f"{purpose}/step{ctx.global_step}", device)


def update(ctx: TrainContext, loss: torch.Tensor) -> None:
    ctx.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    ctx.optimizer.step()


def plain_step(ctx: TrainContext, batch: Batch, x: torch.Tensor, y: torch.Tensor) -> StepResult:
    """Cross-entropy on the unmixed batch: the fine-tuning phases of every method here."""
    with ctx.autocast():
        logits = ctx.forward(x)
    losses = F.cross_entropy(logits.float(), y, reduction="none")
    update(ctx, weighted_mean(losses, batch.weights))
    return StepResult(losses.detach(), logits.detach(), y, batch.indices, batch.weights)


def mixed_step(ctx: TrainContext, batch: Batch, x: torch.Tensor, y: torch.Tensor, groups: int,
               coefficients: torch.Tensor | None, divisor: float) -> StepResult:
    """One update on the batch mixed in `groups` groups (sum_images), BCE / divisor against the mixed one-hots."""
    if groups > len(x):  # a batch of fewer examples than groups: one equal mix of them all
        groups, coefficients = len(x), None
    onehot = F.one_hot(y, ctx.view.num_classes).to(torch.float32)
    mixed_x = sum_images(x, groups, coefficients)
    targets = sum_images(onehot, groups, coefficients)
    weights = None if batch.weights is None else sum_images(batch.weights.to(torch.float32), groups, coefficients)
    with ctx.autocast():
        logits = ctx.forward(mixed_x)
    losses = soft_bce(logits, targets) / divisor
    update(ctx, weighted_mean(losses, weights))
    n = len(mixed_x)
    labels = dominant_label(targets, y[:n])
    return StepResult(losses.detach(), logits.detach(), labels, batch.indices[:n], weights)


# --- sum augmentation ------------------------------------------------------------------------------

class SumAugment(Step):
    """§3.3 sum augmentation with k groups (module docstring); k = 1 is the plain step."""

    def __init__(self, k: int, batch_size: int):
        self.batch_size = batch_size
        self.k = 1
        self.set_groups(k)

    def set_groups(self, k: int) -> None:
        """Mix k groups from the next step on (the cascade's phases: e.g. 8, 4, 2, then 1)."""
        k = integer("step.k", k, at_least=1, meaning="sum groups per batch")
        if self.batch_size % k:
            raise UserError(f"step.k: {k} sum groups do not divide the batch size {self.batch_size}; choose a "
                            f"divisor of it (e.g. {', '.join(map(str, divisors(self.batch_size)[:6]))}) or change "
                            "batch_size")
        self.k = k

    def __call__(self, ctx: TrainContext, batch: Batch, x: torch.Tensor, y: torch.Tensor) -> StepResult:
        if self.k == 1:
            return plain_step(ctx, batch, x, y)
        return mixed_step(ctx, batch, x, y, self.k, None, divisor=min(self.k, len(x)))

    def state_dict(self) -> dict:
        return {"k": self.k}  # the cascade's current phase survives a resume

    def load_state_dict(self, state: dict) -> None:
        if "k" in state:
            self.set_groups(state["k"])


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


@STEPS.register("sum_augment")
def sum_augment(ctx: TrainContext, *, k: int) -> Step:
    """Sum augmentation with k sum groups (k divides batch_size; 1: plain cross-entropy)."""
    return SumAugment(k, integer("batch_size", ctx.run["batch_size"], at_least=1))


# --- gradually cascading sum augmentation ----------------------------------------------------------

class GradualSum(Step):
    """§3.5: k groups mixed with cascade_coefficients(k, g), g = global step / (epochs x steps per epoch).

    Groups whose coefficient has reached 0 are not formed: the batch is split into the m groups
    still in use (the authors' code splits into its current number of sum groups too), so no
    example is spent on a zero weight; the remainder of B mod m is dropped. The loss is the
    binary cross-entropy divided by the starting k throughout (a constant scale: the seed states
    the division for sum augmentation, and a divisor following m would jump at every elimination,
    the very jumps this method is meant to smooth). Once g reaches 1 the step is the plain
    cross-entropy on the unmixed batch: the seed's fine-tuning "using normal images (since t = 1)".
    """

    def __init__(self, k: int, epochs: float):
        self.k = k
        self.epochs = epochs

    def granularity(self, ctx: TrainContext) -> float:
        """g in [0, 1] at this step, from host counters (no device sync)."""
        planned = self.epochs * max(ctx.steps_per_epoch, 1)
        return min(max(ctx.global_step / planned, 0.0), 1.0)

    def __call__(self, ctx: TrainContext, batch: Batch, x: torch.Tensor, y: torch.Tensor) -> StepResult:
        g = self.granularity(ctx)
        in_use = self.k - min(math.floor(g * (self.k - 1)), self.k - 1)
        if in_use == 1:
            return plain_step(ctx, batch, x, y)
        # Made on the device from a fill (no host-to-device copy), in float64 so that its count of
        # coefficients in use is the host's (the same floor of the same double).
        g_on_device = torch.full((), g, dtype=torch.float64, device=ctx.device)
        coefficients = cascade_coefficients(self.k, g_on_device)[:in_use].float()
        return mixed_step(ctx, batch, x, y, in_use, coefficients, divisor=self.k)


@STEPS.register("gradual_sum")
def gradual_sum(ctx: TrainContext, *, k: int, epochs: float) -> Step:
    """Gradually cascading sum augmentation from k groups to none over `epochs` epochs."""
    return GradualSum(integer("step.k", k, at_least=2, meaning="starting sum groups"),
                      number("step.epochs", epochs, above=0, meaning="epochs of the gradual cascade"))


# --- mixup -----------------------------------------------------------------------------------------

def beta_draw(generator: torch.Generator, alpha: float) -> float:
    """lambda ~ Beta(alpha, alpha) from a CPU generator (numpy draws it from a seed taken from it)."""
    seed = int(torch.randint(0, 2 ** 62, (1,), generator=generator))
    return float(np.random.default_rng(seed).beta(alpha, alpha))


class Mixup(Step):
    """x' = lam x + (1 - lam) x[perm]; loss lam CE(y) + (1 - lam) CE(y[perm]); labels: the larger share's."""

    def __init__(self, alpha: float):
        self.alpha = alpha

    def __call__(self, ctx: TrainContext, batch: Batch, x: torch.Tensor, y: torch.Tensor) -> StepResult:
        lam = beta_draw(step_generator(ctx, "mixup", "cpu"), self.alpha)
        perm = torch.randperm(len(x), generator=step_generator(ctx, "mixup_pairs"), device=x.device)
        with ctx.autocast():
            logits = ctx.forward(lam * x + (1 - lam) * x[perm])
        logits32 = logits.float()
        losses = lam * F.cross_entropy(logits32, y, reduction="none") + \
            (1 - lam) * F.cross_entropy(logits32, y[perm], reduction="none")
        update(ctx, weighted_mean(losses, batch.weights))
        labels = y if lam >= 0.5 else y[perm]
        return StepResult(losses.detach(), logits.detach(), labels, batch.indices, batch.weights)


@STEPS.register("mixup")
def mixup(ctx: TrainContext, *, alpha: float = 1.0) -> Step:
    """Mixup with lambda ~ Beta(alpha, alpha) per batch (Zhang et al. use alpha = 1 on CIFAR-10)."""
    return Mixup(number("step.alpha", alpha, above=0, meaning="the Beta distribution's parameter"))


# --- SamplePairing ---------------------------------------------------------------------------------

class SamplePairing(Step):
    """Inoue 2018: x' = (x + x[partner]) / 2 with the first image's label, on the epochs `pairing(epoch)` says.

    Inoue's schedule: plain training first, then pairing (from_epoch), intermittently switched off
    (on_epochs on, off_epochs off, in cycles from from_epoch), and a final plain fine-tuning after
    until_epoch. The partner is another image of the same (shuffled) batch: a random cyclic shift
    of a random order, so nobody pairs with itself. Inoue draws the partner from the whole training
    set; a uniformly shuffled batch is a uniform sample of it, and staying in the batch keeps the
    step one forward pass without extra reads.
    """

    def __init__(self, from_epoch: int, until_epoch: int, on_epochs: int | None, off_epochs: int):
        self.from_epoch, self.until_epoch = from_epoch, until_epoch
        self.on_epochs, self.off_epochs = on_epochs, off_epochs

    def pairing(self, epoch: int) -> bool:
        if not self.from_epoch <= epoch <= self.until_epoch:
            return False
        if self.on_epochs is None or self.off_epochs == 0:
            return True
        return (epoch - self.from_epoch) % (self.on_epochs + self.off_epochs) < self.on_epochs

    def __call__(self, ctx: TrainContext, batch: Batch, x: torch.Tensor, y: torch.Tensor) -> StepResult:
        if not self.pairing(ctx.epoch) or len(x) < 2:
            return plain_step(ctx, batch, x, y)
        order = torch.randperm(len(x), generator=step_generator(ctx, "sample_pairing"), device=x.device)
        partner = torch.empty_like(order)
        partner[order] = order.roll(1)
        with ctx.autocast():
            logits = ctx.forward((x + x[partner]) / 2)
        losses = F.cross_entropy(logits.float(), y, reduction="none")
        update(ctx, weighted_mean(losses, batch.weights))
        return StepResult(losses.detach(), logits.detach(), y, batch.indices, batch.weights)


@STEPS.register("sample_pairing")
def sample_pairing(ctx: TrainContext, *, until_epoch: int, from_epoch: int = 1, on_epochs: int | None = None,
                   off_epochs: int = 0) -> Step:
    """SamplePairing on epochs from_epoch..until_epoch (then plain fine-tuning), optionally on_epochs on /
    off_epochs off in cycles (Inoue's CIFAR schedule: from epoch 101, 8 on / 2 off, fine-tuning at the end)."""
    from_epoch = integer("step.from_epoch", from_epoch, at_least=1, meaning="the first epoch with pairing")
    until_epoch = integer("step.until_epoch", until_epoch, at_least=from_epoch,
                          meaning="the last epoch with pairing (plain fine-tuning after it)")
    if on_epochs is not None:
        on_epochs = integer("step.on_epochs", on_epochs, at_least=1, meaning="epochs on per cycle")
    off_epochs = integer("step.off_epochs", off_epochs, at_least=0, meaning="epochs off per cycle")
    if off_epochs and on_epochs is None:
        raise UserError("step.on_epochs: off_epochs cycles need on_epochs too, e.g. on_epochs: 8, off_epochs: 2")
    return SamplePairing(from_epoch, until_epoch, on_epochs, off_epochs)

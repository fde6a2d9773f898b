"""L-inf gradient attacks on a classifier, built by name from an evaluation's `attack` section.

    attack = ATTACKS.build({"name": "pgd", "eps": 8/255, "step_size": 2/255, "iterations": 10})
    x_adv = attack(model, x, y, generator=g)

`model` is an nn.Module mapping images in [0, 1] to logits (wrap a model trained on normalised
inputs in `Normalized`); x is float [B, C, H, W] in [0, 1] and y int64 [B], on the model's
device. The result is detached, in [0, 1] and within eps of x in L-inf. The loss is the
batch-mean cross-entropy and every update is the one torchattacks 3.5.1 makes, so the numbers
compare with papers that used it (tests/test_attacks.py checks x_adv against it).

While it attacks, the model runs in eval mode (BatchNorm uses and keeps its running statistics,
dropout is off, as in torchattacks) with its parameters' requires_grad switched off, so no graph
is kept for parameter gradients; each module's mode and each parameter's requires_grad are put
back afterwards and no .grad is written. Inside the loop nothing waits on the device.

Every attack takes `eot_samples` (expectation over transformation, Athalye et al. 2018): each
step's gradient is the mean over that many forward/backward passes, which is how a randomised
model (robustrepro.evaluation.defences) is attacked; 1 gives the plain attack.

Adding an attack is one module here: a subclass of Attack registered with
@ATTACKS.register(name), whose keyword-only __init__ parameters are its options; every module
of the package is imported (and so registered) with it.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from contextlib import contextmanager
from typing import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from robustrepro.options import integer, number
from robustrepro.registry import Registry, import_all

ATTACKS = Registry("attack")

# The seed of the generator an attack draws from when the caller passes none, so that the same
# call twice gives the same adversarial examples.
DEFAULT_SEED = 0


class Normalized(nn.Module):
    """`model` fed (x - mean) / std: a network trained on normalised inputs seen as a map from [0, 1] images.

    Attacks bound the perturbation in pixel units, so the normalisation belongs inside the model.
    `mean` and `std` have one value per channel.
    """

    def __init__(self, model: nn.Module, mean: Sequence[float] | torch.Tensor, std: Sequence[float] | torch.Tensor):
        super().__init__()
        device = next(model.parameters(), torch.empty(0)).device
        mean = torch.as_tensor(mean, dtype=torch.float32, device=device).flatten()
        std = torch.as_tensor(std, dtype=torch.float32, device=device).flatten()
        if mean.shape != std.shape or mean.numel() == 0:
            raise ValueError(f"Normalized: mean and std need one value per channel; "
                             f"got {mean.numel()} and {std.numel()}")
        if not bool((std > 0).all()):
            raise ValueError(f"Normalized: every std must be > 0; got {std.tolist()}")
        self.model = model
        self.register_buffer("mean", mean.view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", std.view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model((x - self.mean) / self.std)


@contextmanager
def input_gradients_only(model: nn.Module) -> Iterator[None]:
    """Run `model` in eval mode with gradients enabled for inputs only; restore every mode and flag after."""
    modes = [(module, module.training) for module in model.modules()]
    trainable = [p for p in model.parameters() if p.requires_grad]
    try:
        model.eval()
        for p in trainable:
            p.requires_grad_(False)
        with torch.enable_grad():
            yield
    finally:
        for p in trainable:
            p.requires_grad_(True)
        for module, training in modes:
            module.training = training


def default_generator(device: torch.device) -> torch.Generator:
    """The generator used when a caller gives none: seeded with DEFAULT_SEED, on `device`."""
    return torch.Generator(device=device).manual_seed(DEFAULT_SEED)


def _check_batch(model, x, y, generator) -> None:
    """One clear error for a call that cannot be attacked; the range check is the call's one host sync."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"attack: model must be an nn.Module mapping [0, 1] images to logits; "
                        f"got {type(model).__name__}")
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() < 2 or x.shape[0] == 0:
        raise ValueError(f"attack: x must be a non-empty float tensor [B, C, H, W]; got {getattr(x, 'shape', x)!r}")
    if not isinstance(y, torch.Tensor) or y.dtype != torch.int64 or y.shape != x.shape[:1]:
        raise ValueError(f"attack: y must be int64 labels of shape [{x.shape[0]}]; got {getattr(y, 'dtype', type(y))} "
                         f"{tuple(getattr(y, 'shape', ()))}")
    if y.device != x.device:
        raise ValueError(f"attack: x is on {x.device} but y on {y.device}; put both on the model's device")
    if generator is not None and torch.device(generator.device) != x.device:
        raise ValueError(f"attack: the generator is on {generator.device} but x on {x.device}; "
                         f"make it with torch.Generator(device=x.device)")
    low, high = torch.aminmax(x.detach())
    if not bool((low >= 0) & (high <= 1)):
        raise ValueError("attack: x must be images in [0, 1]; wrap a model that expects normalised inputs in "
                         "Normalized(model, mean, std) and pass unnormalised images")


class Attack(ABC):
    """An L-inf attack with budget `eps` whose gradients are averaged over `eot_samples` passes.

    Subclasses implement `perturb`; `__call__` checks the batch, sets up the model and detaches.
    """

    def __init__(self, *, eps: float, eot_samples: int = 1):
        self.eps = number("attack.eps", eps, at_least=0, at_most=1)
        self.eot_samples = integer("attack.eot_samples", eot_samples, at_least=1)

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Adversarial examples for (x, y): detached, in [0, 1], within eps of x."""
        _check_batch(model, x, y, generator)
        x = x.detach().clone()  # a plain tensor even when x was made under inference_mode
        with input_gradients_only(model):
            x_adv = self.perturb(model, x, y, generator)
        return x_adv.detach()

    @abstractmethod
    def perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                generator: torch.Generator | None) -> torch.Tensor:
        """The attack itself; `model` is already in eval mode with frozen parameters. Must not modify x."""

    def gradient(self, model: nn.Module, x_adv: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """d(batch-mean cross-entropy)/d(x_adv), the mean over eot_samples forward/backward passes.

        Returns a fresh tensor the caller may modify in place.
        """
        x_adv = x_adv.detach().requires_grad_()
        total = None
        for _ in range(self.eot_samples):
            loss = F.cross_entropy(model(x_adv).float(), y)
            (grad,) = torch.autograd.grad(loss, x_adv)
            total = grad if total is None else total.add_(grad)
        return total if self.eot_samples == 1 else total.div_(self.eot_samples)

    def __repr__(self) -> str:
        params = inspect.signature(type(self)).parameters.values()
        options = ", ".join(f"{p.name}={getattr(self, p.name)!r}" for p in params if p.kind is p.KEYWORD_ONLY)
        return f"{type(self).__name__}({options})"


def check_steps(step_size, iterations) -> tuple[float, int]:
    """The step size and iteration count options shared by the iterative attacks."""
    step_size = number("attack.step_size", step_size, above=0, at_most=1)
    return step_size, integer("attack.iterations", iterations, at_least=1)


# Every module of this package is an attack that registers itself on import (it needs ATTACKS
# and Attack, defined above): adding an attack is adding a file.
MODULES = import_all(__name__, __path__)

__all__ = ["ATTACKS", "Attack", "Normalized", "DEFAULT_SEED", "default_generator", "input_gradients_only"]

"""Many copies of one nn.Module trained side by side in one process (torch.func).

`step` is the one stacked training step of the project: every copy's forward, gradient and
optimizer update on its own batch, one vmapped call, each copy with its own learning rate. Its
users keep the copies' tensors as they need them: a `Stacked` (params, buffers and SGD momenta,
every tensor with a leading copy dimension [R, ...]; `sgd_step` steps one) for seed 004's every
order (perfect_ordering) and loss_delta's vmapped trials (methods/ordering), and a pack's stacked
tensors, which its runs' own modules and optimizers view row by row (training/pack). `evaluate`
runs every copy on one shared set of examples. The module itself only supplies the architecture
(torch.func.functional_call): its own weights are never read or changed here, except by
`unstack`, which writes one copy back into it.

The updates are torch.optim's, term for term and in its order of operations: `SGD` with dampening
0 (weight decay added to the gradient, momentum buffer `m = momentum * m + g`, Nesterov's
`g + momentum * m`) and `Adadelta` (its two running averages); `rule_of` reads either from a torch
optimizer. So a copy trained here follows the same trajectory as the module trained with the torch
optimizer, up to float rounding of the batched kernels. A momentum buffer of zeros gives exactly
SGD's first step (which starts the buffer at the gradient), so copies that never stepped need no
flag. The loss is taken in float32 from the logits, so a caller's autocast changes the forward
pass only, as in the trainer's own step.

BatchNorm: vmap cannot update an unbatched buffer in place with a batched value, so each
copy's running statistics go in as batched inputs; they are cloned inside the vmapped
function, updated there by the module's own BatchNorm code, returned and copied back.
Dropout and any other randomness inside the model is refused by vmap (randomness="error"):
side by side copies could not draw what the module alone would.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap


@dataclass
class Stacked:
    """R copies of a model's state; every tensor has a leading copy dimension [R, ...]."""

    params: dict[str, torch.Tensor]
    buffers: dict[str, torch.Tensor]  # BatchNorm running stats etc., per copy
    momenta: dict[str, torch.Tensor]  # SGD momentum buffers per copy (zeros before the first step)

    def __len__(self) -> int:
        first = next(iter(self.params.values()))
        return first.shape[0]

    def _map(self, fn) -> "Stacked":
        return Stacked({k: fn(v) for k, v in self.params.items()}, {k: fn(v) for k, v in self.buffers.items()},
                       {k: fn(v) for k, v in self.momenta.items()})

    def select(self, index: torch.Tensor) -> "Stacked":
        """The copies at `index` (repeats allowed: a copy may be continued several ways)."""
        index = torch.as_tensor(index, dtype=torch.long, device=next(iter(self.params.values())).device)
        return self._map(lambda v: v.index_select(0, index))

    def to(self, device: torch.device | str) -> "Stacked":
        return self._map(lambda v: v.to(device))

    def state_dict(self) -> dict:
        """Plain nested dicts of tensors (for torch.save with weights_only)."""
        return {"params": dict(self.params), "buffers": dict(self.buffers), "momenta": dict(self.momenta)}

    @classmethod
    def from_state_dict(cls, state: dict) -> "Stacked":
        return cls(dict(state["params"]), dict(state["buffers"]), dict(state["momenta"]))


def concat(parts: list[Stacked]) -> Stacked:
    """One Stacked of all the copies of `parts`, in order."""
    first = parts[0]
    return Stacked({k: torch.cat([p.params[k] for p in parts]) for k in first.params},
                   {k: torch.cat([p.buffers[k] for p in parts]) for k in first.buffers},
                   {k: torch.cat([p.momenta[k] for p in parts]) for k in first.momenta})


def stack(model: nn.Module, copies: int, optimizer: torch.optim.Optimizer | None = None) -> Stacked:
    """`copies` identical copies of the model's current parameters and buffers.

    Momenta come from the SGD optimizer's `momentum_buffer` of each parameter where it has one,
    else zeros."""
    if copies < 1:
        raise ValueError(f"copies must be at least 1, got {copies}")
    state = optimizer.state if optimizer is not None else {}

    def repeat(t: torch.Tensor) -> torch.Tensor:
        return t.detach().unsqueeze(0).repeat(copies, *([1] * t.dim())).clone()

    params, momenta = {}, {}
    for name, p in model.named_parameters():
        params[name] = repeat(p)
        buffer = state.get(p, {}).get("momentum_buffer")
        momenta[name] = repeat(buffer) if buffer is not None else torch.zeros_like(params[name])
    buffers = {name: repeat(b) for name, b in model.named_buffers()}
    return Stacked(params, buffers, momenta)


def unstack(stacked: Stacked, index: int, model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> None:
    """Write copy `index` into `model` (and its momenta into the SGD `optimizer`, when given)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(stacked.params[name][index])
            if optimizer is not None:
                optimizer.state[p]["momentum_buffer"] = stacked.momenta[name][index].detach().clone()
        for name, b in model.named_buffers():
            b.copy_(stacked.buffers[name][index])


def _train_one(model: nn.Module):
    """Per copy: (params, buffers, x, y) -> (grads, (per-example losses, logits, updated buffers))."""

    def loss(params, buffers, x, y):
        buffers = {k: v.clone() for k, v in buffers.items()}  # BatchNorm updates these in place
        logits = functional_call(model, (params, buffers), (x,))
        losses = F.cross_entropy(logits.float(), y, reduction="none")  # float32 under autocast too
        return losses.mean(), (losses.detach(), logits.detach(), buffers)

    return grad(loss, has_aux=True)


@dataclass(frozen=True)
class SGD:
    """torch.optim.SGD's update with dampening 0, in its order of operations."""

    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    state_keys: ClassVar[tuple[str, ...]] = ("momentum_buffer",)

    def __post_init__(self):
        if self.nesterov and self.momentum <= 0:
            raise ValueError("Nesterov momentum needs momentum > 0")

    def direction(self, p: torch.Tensor, g: torch.Tensor, state: dict[str, torch.Tensor]) -> torch.Tensor:
        """What lr multiplies (p -= lr * direction); the momentum buffer is updated in place."""
        if self.weight_decay:
            g = g.add(p, alpha=self.weight_decay)
        if self.momentum:
            # torch starts the buffer at the gradient; a buffer of zeros gives exactly that: 0 * m + g.
            buffer = state["momentum_buffer"].mul_(self.momentum).add_(g)
            g = g.add(buffer, alpha=self.momentum) if self.nesterov else buffer
        return g


@dataclass(frozen=True)
class Adadelta:
    """torch.optim.Adadelta's update, in its order of operations."""

    rho: float = 0.9
    eps: float = 1e-6
    weight_decay: float = 0.0
    state_keys: ClassVar[tuple[str, ...]] = ("square_avg", "acc_delta")

    def direction(self, p: torch.Tensor, g: torch.Tensor, state: dict[str, torch.Tensor]) -> torch.Tensor:
        """What lr multiplies (p -= lr * direction); both running averages are updated in place."""
        if self.weight_decay:
            g = g.add(p, alpha=self.weight_decay)
        square, acc = state["square_avg"], state["acc_delta"]
        square.mul_(self.rho).addcmul_(g, g, value=1 - self.rho)
        delta = acc.add(self.eps).sqrt_().div_(square.add(self.eps).sqrt_()).mul_(g)
        acc.mul_(self.rho).addcmul_(delta, delta, value=1 - self.rho)
        return delta


Rule = SGD | Adadelta


def rule_of(optimizer: torch.optim.Optimizer) -> Rule:
    """The update of a torch optimizer as its one parameter group stands now (lr aside: `step` takes
    it per copy). ValueError for an optimizer or an option that `step` does not implement."""
    groups = optimizer.param_groups
    group = groups[0]
    if len(groups) != 1 or group.get("maximize") or group.get("differentiable"):
        raise ValueError("stacked steps implement one parameter group, minimising")
    if isinstance(optimizer, torch.optim.SGD):
        if group["dampening"]:
            raise ValueError("stacked steps implement SGD without dampening")
        return SGD(float(group["momentum"]), bool(group["nesterov"]), float(group["weight_decay"]))
    if isinstance(optimizer, torch.optim.Adadelta):
        return Adadelta(float(group["rho"]), float(group["eps"]), float(group["weight_decay"]))
    raise ValueError(f"stacked steps implement SGD and Adadelta, not {type(optimizer).__name__}")


def _per_copy(lr: float | torch.Tensor, like: torch.Tensor) -> float | torch.Tensor:
    """A float or 0-dim lr as it is; an lr per copy [R] as [R, 1, ...], broadcasting against `like`."""
    if not isinstance(lr, torch.Tensor) or lr.dim() == 0:
        return lr
    return lr.view(-1, *([1] * (like.dim() - 1)))


class _Mode:
    """Put the model in train or eval mode for a block and restore its mode after."""

    def __init__(self, model: nn.Module, training: bool):
        self.model, self.training, self.was = model, training, model.training

    def __enter__(self):
        self.model.train(self.training)

    def __exit__(self, *exc):
        self.model.train(self.was)


# torch.compile'd vmapped gradients, one per model: its graphs are cached on the compiled function.
_COMPILED: "weakref.WeakKeyDictionary[nn.Module, object]" = weakref.WeakKeyDictionary()


def _gradients(model: nn.Module, compiled: bool):
    """vmap of _train_one(model), compiled once per model when asked."""
    if not compiled:
        return vmap(_train_one(model))
    if model not in _COMPILED:
        _COMPILED[model] = torch.compile(vmap(_train_one(model)))
    return _COMPILED[model]


def step(model: nn.Module, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor],
         state: dict[str, dict[str, torch.Tensor]], x: torch.Tensor, y: torch.Tensor, *,
         lr: float | torch.Tensor, rule: Rule, compiled: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """One update of every copy on its own batch, x [R, B, ...], y [R, B], in place.

    params, buffers: the copies' tensors by the module's names, each [R, ...]; state: the optimizer's
    per-parameter state by torch's key (rule.state_keys: "momentum_buffer"; "square_avg", "acc_delta")
    and parameter name, each [R, ...]. lr: one float for every copy, or a tensor [R] of each copy's.
    The model runs in train mode (BatchNorm normalises by batch statistics and updates each copy's
    running stats). Under the caller's autocast the forward pass runs as the module's own would; the
    loss is taken in float32 from the logits, the update in the parameters' dtype. compiled: the
    vmapped forward and gradient through torch.compile (the update stays eager).

    Returns the per-example cross-entropy losses [R, B] of the forward pass (float32; the gradient is
    of their mean over the batch) and its logits [R, B, classes]."""
    copies = next(iter(params.values())).shape[0]
    if x.shape[0] != copies or y.shape[0] != copies:
        raise ValueError(f"x and y need one batch per copy ({copies}); got {x.shape[0]} and {y.shape[0]}")
    if isinstance(lr, torch.Tensor) and lr.dim() and lr.shape != (copies,):
        raise ValueError(f"lr: one float, or one per copy ({copies}); got shape {tuple(lr.shape)}")
    missing = [key for key in rule.state_keys if key not in state]
    if missing:
        raise ValueError(f"state: {type(rule).__name__} keeps {', '.join(missing)} per parameter; not given")
    with _Mode(model, True):
        grads, (losses, logits, new_buffers) = _gradients(model, compiled)(params, buffers, x, y)
    with torch.no_grad():
        for name, p in params.items():
            direction = rule.direction(p, grads[name], {key: state[key][name] for key in rule.state_keys})
            p.sub_(_per_copy(lr, p) * direction)
        for name, b in buffers.items():
            b.copy_(new_buffers[name])
    return losses, logits


def sgd_step(model: nn.Module, stacked: Stacked, x: torch.Tensor, y: torch.Tensor, *, lr: float | torch.Tensor,
             momentum: float = 0.0, nesterov: bool = False,
             weight_decay: float = 0.0) -> tuple[Stacked, torch.Tensor]:
    """`step` with torch.optim.SGD's update on the copies of `stacked`, which it updates in place and
    returns, with the per-example losses [R, B]."""
    losses, _ = step(model, stacked.params, stacked.buffers, {"momentum_buffer": stacked.momenta}, x, y, lr=lr,
                     rule=SGD(momentum, nesterov, weight_decay))
    return stacked, losses


def evaluate(model: nn.Module, stacked: Stacked, x: torch.Tensor, y: torch.Tensor,
             chunk: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """Every copy in eval mode on the shared examples x [N, ...], y [N], `chunk` examples at a time.

    Returns per-copy per-example cross-entropy losses [R, N] and whether each was classified
    correctly [R, N] (bool)."""

    def one(params, buffers, x):
        return functional_call(model, (params, buffers), (x,))

    forward = vmap(one, in_dims=(0, 0, None))
    losses, correct = [], []
    with _Mode(model, False), torch.no_grad():
        for start in range(0, x.shape[0], chunk):
            xs, ys = x[start:start + chunk], y[start:start + chunk]
            logits = forward(stacked.params, stacked.buffers, xs)  # [R, n, classes]
            targets = ys.expand(logits.shape[0], -1)
            losses.append(F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none")
                          .view_as(targets))
            correct.append(logits.argmax(-1) == targets)
    return torch.cat(losses, 1), torch.cat(correct, 1)

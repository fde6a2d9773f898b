"""Many copies of one nn.Module trained side by side in one process (torch.func).

A `Stacked` holds R copies of a model's state, every tensor with a leading copy dimension.
`sgd_step` updates every copy on its own batch with one vmapped forward, gradient and SGD
update; `evaluate` runs every copy on one shared set of examples. The module itself only
supplies the architecture (torch.func.functional_call): its own weights are never read or
changed here, except by `unstack`, which writes one copy back into it.

The update is torch.optim.SGD's with dampening 0, term for term (weight decay added to the
gradient, momentum buffer `m = momentum * m + g`, Nesterov's `g + momentum * m`), so a copy
trained here follows the same trajectory as the module trained with torch.optim.SGD, up to
float rounding of the batched kernels. A momentum buffer of zeros gives exactly SGD's first
step (which starts the buffer at the gradient), so copies that never stepped need no flag.

BatchNorm: vmap cannot update an unbatched buffer in place with a batched value, so each
copy's running statistics go in as batched inputs; they are cloned inside the vmapped
function, updated there by the module's own BatchNorm code and returned as new buffers.
Dropout and any other randomness inside the model is refused by vmap (randomness="error"):
side by side copies could not draw what the module alone would.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    """Per copy: (params, buffers, x, y) -> (grads, (per-example losses, updated buffers))."""

    def loss(params, buffers, x, y):
        buffers = {k: v.clone() for k, v in buffers.items()}  # BatchNorm updates these in place
        logits = functional_call(model, (params, buffers), (x,))
        losses = F.cross_entropy(logits, y, reduction="none")
        return losses.mean(), (losses.detach(), buffers)

    return grad(loss, has_aux=True)


def _sgd(p, g, m, lr, momentum, nesterov, weight_decay):
    """torch.optim.SGD's update with dampening 0, in its order of operations."""
    if weight_decay:
        g = g + weight_decay * p
    if momentum:
        m = momentum * m + g
        g = g + momentum * m if nesterov else m
    return p - lr * g, m


class _Mode:
    """Put the model in train or eval mode for a block and restore its mode after."""

    def __init__(self, model: nn.Module, training: bool):
        self.model, self.training, self.was = model, training, model.training

    def __enter__(self):
        self.model.train(self.training)

    def __exit__(self, *exc):
        self.model.train(self.was)


def sgd_step(model: nn.Module, stacked: Stacked, x: torch.Tensor, y: torch.Tensor, *, lr: float,
             momentum: float = 0.0, nesterov: bool = False,
             weight_decay: float = 0.0) -> tuple[Stacked, torch.Tensor]:
    """One SGD update of every copy on its own batch: x [R, B, ...], y [R, B].

    The model runs in train mode (BatchNorm normalises by batch statistics and updates each
    copy's running stats). Returns the new state and the per-example cross-entropy losses
    [R, B] of the forward pass; the gradient is of their mean over the batch."""
    if x.shape[0] != len(stacked) or y.shape[0] != len(stacked):
        raise ValueError(f"x and y need one batch per copy ({len(stacked)}); got {x.shape[0]} and {y.shape[0]}")
    if nesterov and momentum <= 0:
        raise ValueError("Nesterov momentum needs momentum > 0")
    with _Mode(model, True):
        grads, (losses, buffers) = vmap(_train_one(model))(stacked.params, stacked.buffers, x, y)
    params, momenta = {}, {}
    with torch.no_grad():
        for name, p in stacked.params.items():
            params[name], momenta[name] = _sgd(p, grads[name], stacked.momenta[name], lr, momentum, nesterov,
                                               weight_decay)
    return Stacked(params, buffers, momenta), losses


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

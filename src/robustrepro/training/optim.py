"""Optimizers, built by name from the run's `optimizer` section (torch's implementations)."""

from __future__ import annotations

from typing import Iterable

import torch

from robustrepro.errors import UserError
from robustrepro.options import number
from robustrepro.registry import Registry

OPTIMIZERS = Registry("optimizer")


def _number(key: str, value, **bounds) -> float:
    return number(f"optimizer.{key}", value, **bounds)


@OPTIMIZERS.register("sgd")
def sgd(params: Iterable, *, lr: float, momentum: float = 0.0, nesterov: bool = False,
        weight_decay: float = 0.0, dampening: float = 0.0) -> torch.optim.Optimizer:
    momentum = _number("momentum", momentum, at_least=0)
    if nesterov and (momentum <= 0 or dampening != 0):
        raise UserError("optimizer.nesterov: Nesterov momentum needs momentum > 0 and dampening 0")
    return torch.optim.SGD(params, lr=_number("lr", lr, above=0), momentum=momentum, nesterov=bool(nesterov),
                           weight_decay=_number("weight_decay", weight_decay, at_least=0),
                           dampening=_number("dampening", dampening, at_least=0))


@OPTIMIZERS.register("adadelta")
def adadelta(params: Iterable, *, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
             weight_decay: float = 0.0) -> torch.optim.Optimizer:
    return torch.optim.Adadelta(params, lr=_number("lr", lr, above=0), rho=_number("rho", rho, at_least=0, below=1),
                                eps=_number("eps", eps, above=0),
                                weight_decay=_number("weight_decay", weight_decay, at_least=0))


@OPTIMIZERS.register("adam")
def adam(params: Iterable, *, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
         weight_decay: float = 0.0) -> torch.optim.Optimizer:
    if not isinstance(betas, (list, tuple)) or len(betas) != 2:
        raise UserError(f"optimizer.betas: two numbers in [0, 1), e.g. [0.9, 0.999]; got {betas!r}")
    betas = tuple(_number("betas", b, at_least=0, below=1) for b in betas)
    return torch.optim.Adam(params, lr=_number("lr", lr, above=0), betas=betas, eps=_number("eps", eps, above=0),
                            weight_decay=_number("weight_decay", weight_decay, at_least=0))


def build_optimizer(config: dict, params: Iterable) -> torch.optim.Optimizer:
    return OPTIMIZERS.build(config, params)

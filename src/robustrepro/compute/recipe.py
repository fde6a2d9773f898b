"""How a job computes on its device: precision, memory layout and compilation (its "recipe").

By default (`auto`) a run on CUDA trains under bf16 autocast (bf16 keeps fp32's exponent range, so
no loss scaling) with every tensor in channels_last; on a CPU it trains in fp32, channels_last for
the architectures and widths bench/bench_cpu_layout.py measured faster that way (CPU_CHANNELS_LAST).
torch.compile is off unless asked for. Each can be forced either way on any device (config keys
`precision`, `channels_last`, `compile`), so the CUDA recipe runs, and is tested, on a CPU
(tests/test_gpu_recipe.py). A run's numbers depend on its recipe (bf16 rounds differently; a
layout or a compiled graph sums in another order), so each training session records it
(metrics.json's provenance) beside its device.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import asdict, dataclass

import torch

from robustrepro.errors import UserError, unknown_choice

PRECISIONS = ("auto", "fp32", "bf16")

# On a CPU, channels_last for these models from this `width` up: where bench/bench_cpu_layout.py
# measured a training step faster than contiguous (one thread, best of 2 rounds, 2026-12-06, 2-core
# x86_64, torch 2.13; step / evaluation ratios): conv4 1.17x / 1.74x (1.66x / 1.95x at 1/4 width),
# lenet 1.33x / 1.37x (1.26x / 0.79x at 1/4, 1.10x / 1.26x at 1/2 on 3x32x32), vgg16_bn at 1/16
# 1.03x / 1.60x, resnet32 at 1/2 1.25x / 1.15x but 0.85x / 1.03x at 1/4 (resnet20 and resnet56
# are its blocks at other depths). Not tinyconv (1.09x a step, 0.86x an evaluation, and its brute
# force evaluates more than it trains). Not the models with strided 1x1 convolutions (resnet18, the
# pre-activation family) either: at narrow widths (4 input channels) their weight gradient in
# channels_last crashes torch 2.13's CPU backend (a segfault, e.g. Conv2d(4, 8, 1, stride=2)).
# Fully connected models have no layout. Add a model once the bench measures it faster.
CPU_CHANNELS_LAST = {"conv4": 0.25, "lenet": 0.25, "vgg16_bn": 0.0625, "resnet20": 0.5, "resnet32": 0.5,
                     "resnet56": 0.5}


@dataclass(frozen=True)
class Recipe:
    precision: str  # "fp32" or "bf16" (autocast)
    channels_last: bool
    compile: bool  # torch.compile (inductor) of the model's forward

    def autocast(self, device: torch.device):
        """bf16 autocast on the job's device under precision bf16; plain fp32 otherwise."""
        if self.precision == "bf16":
            return torch.autocast(device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def place(self, model: torch.nn.Module) -> torch.nn.Module:
        """The model in this recipe's memory layout (it is already on its device)."""
        return model.to(memory_format=torch.channels_last) if self.channels_last else model

    def as_dict(self) -> dict:
        return asdict(self)


# fp32, contiguous, eager: what a plain PyTorch loop runs.
PLAIN = Recipe("fp32", channels_last=False, compile=False)


def pick_recipe(device: torch.device, model: dict, precision: str = "auto", channels_last="auto",
                compile: bool = False) -> Recipe:
    """The recipe of a job on `device` training or reading `model` (a run's model section)."""
    if precision not in PRECISIONS:
        raise unknown_choice("precision", precision, PRECISIONS)
    if not (channels_last == "auto" or isinstance(channels_last, bool)):
        raise UserError(f"channels_last: auto, true or false; got {channels_last!r}")
    if not isinstance(compile, bool):
        raise UserError(f"compile: true or false; got {compile!r}")
    cuda = device.type == "cuda"
    if precision == "auto":
        precision = "bf16" if cuda else "fp32"
    if channels_last == "auto":
        from_width = CPU_CHANNELS_LAST.get(model["name"], math.inf)
        channels_last = cuda or (model.get("width") or 1.0) >= from_width
    return Recipe(precision, channels_last, compile)

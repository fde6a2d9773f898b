"""Scales: presets that turn a run written at the paper's settings into a cheaper run.

- smoke: synthetic stand-ins of the same shape, tiny models, an epoch or two; the whole DAG
  runs in minutes on a CPU (CI).
- quick: the real data, subsets and fewer epochs; shows the trends in about an hour on one GPU.
- paper: the paper's own settings, unchanged.

A run group gives its own per-scale overrides (e.g. {"quick": {"epochs": 5}}); the smoke
scale also swaps each real dataset for its synthetic stand-in.
"""

from __future__ import annotations

from robustrepro.runs import resolve

SCALES = ("smoke", "quick", "paper")

SYNTHETIC = {
    "mnist": "synthetic-mnist",
    "fashion-mnist": "synthetic-fashion-mnist",
    "cifar10": "synthetic-cifar10",
    "cifar100": "synthetic-cifar100",
}

# What smoke does to every run unless the group says otherwise: tiny model, one epoch.
SMOKE_DEFAULTS = {"epochs": 1, "model": {"width": 0.25}, "train_subset": None, "test_subset": None}


def at_scale(run: dict, scale: str, overrides: dict | None = None) -> dict:
    """The resolved run for `scale`, given the paper-scale run and a group's per-scale overrides."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    run = resolve(run)
    if scale == "smoke":
        run = _deep_update(run, SMOKE_DEFAULTS)
        run["dataset"] = SYNTHETIC.get(run["dataset"], run["dataset"])
    return resolve(_deep_update(run, (overrides or {}).get(scale, {})))


def _deep_update(base: dict, update: dict) -> dict:
    out = dict(base)
    for key, value in update.items():
        out[key] = _deep_update(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def shrink(budget, share: float, minimum: int = 1):
    """A paper's budget at a smaller scale, in proportion: an amount (iterations, epochs, steps, images)
    times `share`, rounded, at least `minimum`; or a schedule's milestones (a list or tuple), each
    shrunk alike, so that they fall at the same shares of the shrunk run (milestones that land on the
    same step merge). E.g. shrink([40000, 60000], 8000 / 80000) == [4000, 6000]."""
    if isinstance(budget, (list, tuple)):
        return sorted({shrink(m, share, minimum) for m in budget})
    return max(minimum, round(budget * share))

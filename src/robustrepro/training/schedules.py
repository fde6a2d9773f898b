"""Learning-rate (and momentum) schedules, as functions of the global step.

Every schedule but reduce-on-plateau is a closed form in the step count, so it is restored
from a checkpoint by the step count alone and its curve can be drawn without training
(`lr_curve`, for seed 002's figure of the three schedulers). The trainer sets the lr (and
momentum, where the schedule cycles it) before every optimizer step, so epoch-wise and
per-iteration schedules are handled alike. Epoch counts in options (step_size, milestones,
warmup_epochs) are converted to steps with the sampler's batches per epoch, and plateau's
patience_steps the other way, to whole epochs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
import math
from dataclasses import dataclass

import numpy as np
import torch

from robustrepro.errors import UserError
from robustrepro.options import integer, number
from robustrepro.training.early_stopping import Tracker
from robustrepro.registry import Registry

SCHEDULES = Registry("schedule")


@dataclass(frozen=True)
class Plan:
    """What a schedule is planned against."""

    base_lr: float  # the optimizer's lr
    steps_per_epoch: int
    epochs: int
    has_momentum: bool = True  # whether the optimizer has a momentum (SGD) or beta1 (Adam) to cycle
    iterations: int | None = None  # the run's budget in optimizer steps, when it has one

    @property
    def total_steps(self) -> int:
        return self.iterations if self.iterations is not None else self.steps_per_epoch * self.epochs


class Schedule(ABC):
    tracker: Tracker | None = None  # the epoch metric a schedule follows (plateau)

    @abstractmethod
    def lr(self, step: int) -> float:
        """The learning rate at this global step."""

    def momentum(self, step: int) -> float | None:
        """None: leave the optimizer's momentum as configured."""
        return None

    def end_epoch(self, epoch: int, row: dict) -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def _number(key: str, value, **bounds) -> float:
    return number(f"schedule.{key}", value, **bounds)


def _steps(key: str, value, plan: Plan) -> int:
    """An optional step count; None means the whole run."""
    if value is None:
        return plan.total_steps
    return integer(f"schedule.{key}", value, at_least=1, meaning="optimizer steps, or null for the whole run")


def _cos(start: float, end: float, pct: float) -> float:
    return end + (start - end) / 2 * (1 + math.cos(math.pi * pct))


def _linear(start: float, end: float, pct: float) -> float:
    return start + (end - start) * pct


class Constant(Schedule):
    def __init__(self, lr: float):
        self.value = lr

    def lr(self, step: int) -> float:
        return self.value


class EpochDecay(Schedule):
    """lr = base * gamma ** (number of decays so far), decays happening at epoch boundaries
    (or, with `per_step`, after the given numbers of optimizer steps)."""

    def __init__(self, plan: Plan, gamma: float, decays_after, per_step: bool = False):
        self.plan, self.gamma, self.decays_after, self.per_step = plan, gamma, decays_after, per_step

    def lr(self, step: int) -> float:
        done = step if self.per_step else step // self.plan.steps_per_epoch
        return self.plan.base_lr * self.gamma ** self.decays_after(done)


class Cosine(Schedule):
    """Linear warmup, then cosine annealing to eta_min at total_steps, constant after.

    The lr of step t is torch's CosineAnnealingLR(T_max=total_steps) after t scheduler steps;
    seed 002 stops the schedule at its maximum scheduling steps and keeps the lr from there.
    """

    def __init__(self, plan: Plan, eta_min: float, warmup_steps: int, total_steps: int):
        self.base, self.eta_min, self.warmup, self.total = plan.base_lr, eta_min, warmup_steps, total_steps

    def lr(self, step: int) -> float:
        if step < self.warmup:
            return self.base * (step + 1) / self.warmup
        pct = min(step - self.warmup, self.total - self.warmup) / (self.total - self.warmup)
        return _cos(self.base, self.eta_min, pct)


class OneCycle(Schedule):
    """Smith and Topin's one-cycle policy, as torch's OneCycleLR (two phases), per optimizer step.

    The lr rises from max_lr / div_factor to max_lr over the first pct_start of total_steps
    while the momentum falls from max_momentum to base_momentum; then the lr anneals to
    max_lr / (div_factor * final_div_factor) while the momentum rises back. After total_steps
    both stay at their final values (seed 002).
    """

    def __init__(self, max_lr: float, total_steps: int, pct_start: float, div_factor: float,
                 final_div_factor: float, anneal, momenta: tuple[float, float] | None):
        initial = max_lr / div_factor
        self.peak_step = float(pct_start * total_steps) - 1
        self.last_step = total_steps - 1
        self.lrs = (initial, max_lr, initial / final_div_factor)
        self.momenta = momenta  # (base, max) or None when momentum is not cycled
        self.anneal = anneal

    def _at(self, step: int, values: tuple[float, float, float]) -> float:
        step = min(step, self.last_step)
        if step <= self.peak_step:
            return self.anneal(values[0], values[1], step / self.peak_step if self.peak_step > 0 else 1.0)
        return self.anneal(values[1], values[2], (step - self.peak_step) / (self.last_step - self.peak_step))

    def lr(self, step: int) -> float:
        return self._at(step, self.lrs)

    def momentum(self, step: int) -> float | None:
        if self.momenta is None:
            return None
        base, high = self.momenta
        return self._at(step, (high, base, high))


class Plateau(Schedule):
    """Reduce the lr by `factor` once `metric` has not improved for more than `patience` epochs.

    Same rule as torch's ReduceLROnPlateau (threshold 0, no cooldown): with patience 2 the
    lr drops at the end of the third epoch in a row without a new best.
    """

    def __init__(self, plan: Plan, factor: float, patience: int, metric: str, mode: str | None, min_lr: float):
        self.base, self.factor, self.patience, self.min_lr = plan.base_lr, factor, patience, min_lr
        self.tracker = Tracker("schedule", metric, mode)
        self.scale = 1.0

    def lr(self, step: int) -> float:
        return max(self.base * self.scale, self.min_lr)

    def end_epoch(self, epoch: int, row: dict) -> None:
        self.tracker.update(epoch, row)
        if self.tracker.bad_epochs > self.patience:
            self.scale *= self.factor
            self.tracker.bad_epochs = 0

    def state_dict(self) -> dict:
        return {"scale": self.scale, "tracker": self.tracker.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.scale = state["scale"]
        self.tracker.load_state_dict(state["tracker"])


@SCHEDULES.register("constant")
def constant(plan: Plan) -> Schedule:
    return Constant(plan.base_lr)


@SCHEDULES.register("step")
def step(plan: Plan, *, step_size: int, gamma: float = 0.1) -> Schedule:
    """Decay by gamma every step_size epochs."""
    integer("schedule.step_size", step_size, at_least=1, meaning="epochs between decays")
    return EpochDecay(plan, _number("gamma", gamma, above=0), lambda epoch: epoch // step_size)


@SCHEDULES.register("multistep")
def multistep(plan: Plan, *, milestones: list[int], gamma: float = 0.1, unit: str = "epochs") -> Schedule:
    """Decay by gamma once each listed epoch has been completed (e.g. [120]: from epoch 121 on);
    with unit "steps", once each listed number of optimizer steps is done (seed 001's iteration
    milestones: [40000, 60000] decays from the 40001st step on)."""
    if unit not in ("epochs", "steps"):
        raise UserError(f"schedule.unit: what milestones count, 'epochs' or 'steps'; got {unit!r}")
    if not isinstance(milestones, (list, tuple)) or not all(
            isinstance(m, int) and not isinstance(m, bool) and m >= 1 for m in milestones):
        raise UserError(f"schedule.milestones: a list of {unit} (integers >= 1) after which to decay; "
                        f"got {milestones!r}")
    marks = sorted(milestones)
    return EpochDecay(plan, _number("gamma", gamma, above=0), lambda done: sum(m <= done for m in marks),
                      per_step=unit == "steps")


@SCHEDULES.register("cosine")
def cosine(plan: Plan, *, eta_min: float = 0.0, warmup_epochs: int = 0, total_steps: int | None = None) -> Schedule:
    """Cosine annealing from the optimizer's lr to eta_min over total_steps (default: the whole run)."""
    integer("schedule.warmup_epochs", warmup_epochs, at_least=0)
    total = _steps("total_steps", total_steps, plan)
    warmup = warmup_epochs * plan.steps_per_epoch
    if warmup >= total:
        raise UserError(f"schedule.warmup_epochs: {warmup_epochs} warmup epochs leave no steps to anneal "
                        f"over ({total} steps in all); use fewer")
    return Cosine(plan, _number("eta_min", eta_min, at_least=0), warmup, total)


@SCHEDULES.register("onecycle")
def onecycle(plan: Plan, *, max_lr: float | None = None, total_steps: int | None = None, pct_start: float = 0.3,
             div_factor: float = 25.0, final_div_factor: float = 1e4, anneal_strategy: str = "cos",
             cycle_momentum: bool = True, base_momentum: float = 0.85, max_momentum: float = 0.95) -> Schedule:
    """One-cycle lr and momentum; max_lr defaults to the optimizer's lr, other defaults are torch's."""
    if anneal_strategy not in ("cos", "linear"):
        raise UserError(f"schedule.anneal_strategy: 'cos' or 'linear'; got {anneal_strategy!r}")
    if cycle_momentum and not plan.has_momentum:
        raise UserError("schedule.cycle_momentum: this optimizer has no momentum to cycle; "
                        "set cycle_momentum: false or use sgd or adam")
    momenta = (_number("base_momentum", base_momentum, at_least=0, at_most=1),
               _number("max_momentum", max_momentum, at_least=0, at_most=1))
    return OneCycle(_number("max_lr", plan.base_lr if max_lr is None else max_lr, above=0),
                    _steps("total_steps", total_steps, plan), _number("pct_start", pct_start, above=0, at_most=1),
                    _number("div_factor", div_factor, above=0), _number("final_div_factor", final_div_factor, above=0),
                    _cos if anneal_strategy == "cos" else _linear, momenta if cycle_momentum else None)


@SCHEDULES.register("plateau")
def plateau(plan: Plan, *, metric: str = "val_loss", mode: str | None = None, factor: float = 0.1,
            patience: int | None = None, patience_steps: int | None = None, min_lr: float = 0.0) -> Schedule:
    """Reduce-on-plateau on an epoch metric (a validation or train column of history.csv).

    `patience` counts epochs (default 10); `patience_steps`, instead of it, counts optimizer steps
    (seed 004: "when the learning stagnates for 300 gradient update steps"), rounded up to whole
    epochs of the plan because the metric is an epoch column: 300 steps of 8 per epoch are 38 epochs.
    """
    if patience is not None and patience_steps is not None:
        raise UserError("schedule.patience_steps: give the plateau's patience in epochs (patience) or in steps "
                        "(patience_steps), not both; drop one")
    if patience_steps is not None:
        steps = integer("schedule.patience_steps", patience_steps, at_least=0,
                        meaning="optimizer steps without a new best before the lr drops")
        patience = math.ceil(steps / max(plan.steps_per_epoch, 1))
    patience = integer("schedule.patience", 10 if patience is None else patience, at_least=0)
    return Plateau(plan, _number("factor", factor, above=0, at_most=1), patience, metric, mode,
                   _number("min_lr", min_lr, at_least=0))


def build_schedule(config: dict, plan: Plan) -> Schedule:
    return SCHEDULES.build(config, plan)


def set_hyperparameters(optimizer: torch.optim.Optimizer, lr: float, momentum: float | None) -> None:
    """Set every parameter group's lr, and its momentum (SGD) or beta1 (Adam) when given."""
    for group in optimizer.param_groups:
        group["lr"] = lr
        if momentum is not None:
            if "betas" in group:
                group["betas"] = (momentum, group["betas"][1])
            else:
                group["momentum"] = momentum


def lr_curve(schedule: dict, base_lr: float, steps_per_epoch: int, epochs: int) -> dict[str, np.ndarray]:
    """The lr (and momentum: NaN where not scheduled) a schedule gives each step of a run, untrained.

    Returns arrays "step" (0 .. steps-1), "epoch" (fractional, from 0), "lr" and "momentum".
    """
    built = build_schedule(schedule, Plan(base_lr, steps_per_epoch, epochs))
    if built.tracker is not None:
        raise UserError(f"schedule.name: {schedule['name']!r} follows a training metric, so it has no curve "
                        "without training; plot the lr column of the run's history.csv instead")
    steps = np.arange(steps_per_epoch * epochs)
    momentum = [built.momentum(int(s)) for s in steps]
    return {"step": steps, "epoch": steps / steps_per_epoch, "lr": np.array([built.lr(int(s)) for s in steps]),
            "momentum": np.array([math.nan if m is None else m for m in momentum])}

"""Seed 004 chapter 3.4, cascading sum augmentation: train on k sum groups, then k/2, ..., then 1.

"We would first train a model using k sum groups, saving a checkpoint for every new best test
accuracy. When the model plateaus and doesn't improve anymore we transfer the weights from the
best previous checkpoint and continue training using k/2 sum groups. The process repeats until
k = 1 when the model does its last fine-tuning step with the original training dataset samples."

Run key `cascade: {"patience": n, "metric": "test_acc1", "mode": null, "until": 1}` on a run whose
step has `k` and `set_groups(k)` (sum_augment): its starting k, a power of two, is the first phase,
then k/2 down to `until` (a power of two, at most the starting k), whose plateau ends the run.
`until: 2` stops at k = 2 (seed 004 §3.7.3's models for its test-time sum augmentation tables). A
cascade that starts at k = 1 is a single phase on the original data that ends when it plateaus:
the seed's baseline under the same stopping rule.
The trainer builds a `Cascade` and calls it at every epoch's end with the epoch's row.

Choices where the seed is silent, each with what it does say:
- A plateau counts epochs (`patience` evaluated epochs without a new best of `metric`, as
  early stopping counts): the seed keeps "a checkpoint for every new best test accuracy",
  an evaluation the trainer makes once per epoch, and speaks of models that "train for more
  epochs before they plateau". Its 300-step stagnation is the lr's (schedule `plateau`).
- The best is the best of the current phase: every phase restarts its tracker, so a k/2 phase
  is not judged against the easier-to-beat or harder-to-beat numbers of the k phase.
- A transition is transfer learning ("transferring this knowledge", "when we use
  transfer-learning, the model usually requires an adjustment training period"): the next
  phase starts from the best epoch's weights and buffers with a fresh optimizer (no momentum)
  and the schedule's state as at the run's start (a reduce-on-plateau lr back to its base; a
  closed-form schedule has no state and goes on following the global step).
- After the k = until phase plateaus the run stops (with until 1 the seed's "last fine-tuning
  step"), and metrics.json and the `best` snapshot are the best epoch of the phase the run ended
  in, the seed's "best checkpoint" (its chapter 3.7.3 reads "the best-performing weights of models
  trained with the cascading algorithm"); an epoch budget that runs out first ends it too.

The checkpoint is loaded at the start of the epoch after the plateau, not at the plateau epoch's
end: that epoch's row, snapshots and checkpoint keep the weights it trained and evaluated, and
its row's `restored_from_epoch` names the epoch whose weights the next phase starts from.
history.csv gets `phase` (0, 1, ...), `sum_groups` (the epoch's k) and `restored_from_epoch`.
The best weights are a copy on the device and go into the checkpoint, so a resumed run, at an
epoch boundary or within an epoch of any phase, goes on exactly as an uninterrupted one.
"""

from __future__ import annotations

import copy
import math

import torch

from robustrepro.errors import UserError
from robustrepro.options import integer
from robustrepro.registry import check_options
from robustrepro.runs import CASCADE_DEFAULTS
from robustrepro.training.context import Part, TrainContext
from robustrepro.training.early_stopping import Tracker

COLUMNS = ("phase", "sum_groups", "restored_from_epoch")


def _starting_groups(step) -> int:
    """The k the step starts at (its `k`), or a UserError when it has no sum groups to halve."""
    groups = getattr(step, "k", None)
    if not callable(getattr(step, "set_groups", None)) or isinstance(groups, bool) or not isinstance(groups, int):
        raise UserError(f"cascade: step {type(step).__name__} has no sum groups to halve between phases; use "
                        f"step sum_augment (e.g. {{name: sum_augment, k: 8}}) or set cascade to null")
    if not _power_of_two(groups):
        raise UserError(f"cascade: the step starts at k {groups}; a cascade halves k down to 1 (the original "
                        f"data), so start it at a power of two (1, 2, 4, 8 as in the seed) or set cascade to null")
    return groups


def _power_of_two(n: int) -> bool:
    return n >= 1 and not n & (n - 1)


def _last_groups(until, start: int) -> int:
    """The k whose plateau ends the run: a power of two the halving from `start` reaches."""
    until = integer("cascade.until", until, at_least=1, at_most=start, meaning="the k of the last phase")
    if not _power_of_two(until):
        raise UserError(f"cascade.until: the k of the last phase, a power of two (1, 2, 4, ...) that halving "
                        f"k {start} reaches; got {until}")
    return until


class Cascade(Part):
    """The phases of one run: which k trains, the phase's best weights, when to go on."""

    def __init__(self, ctx: TrainContext, step, schedule, patience: int, metric: str, mode: str | None,
                 until: int = 1):
        self.step, self.schedule, self.device = step, schedule, ctx.device
        self.patience = patience
        self.metric, self.mode = metric, mode
        self.tracker = Tracker("cascade", metric, mode)
        self.schedule_at_start = copy.deepcopy(schedule.state_dict())
        self.phase = 0
        self.groups = _starting_groups(step)
        self.until = _last_groups(until, self.groups)
        self.best_model: dict[str, torch.Tensor] | None = None  # the phase's best epoch's weights and buffers
        self.pending = False  # the phase plateaued: the next epoch starts the next one
        self.finished = False  # the k = until phase plateaued: the run is done

    @property
    def best_epoch(self) -> int | None:
        """The best epoch of the phase trained last: the checkpoint the cascade reports."""
        return self.tracker.best_epoch

    def start_epoch(self, ctx: TrainContext) -> None:
        if self.pending:
            self._next_phase(ctx)

    def _next_phase(self, ctx: TrainContext) -> None:
        if self.best_model is not None:  # None only if the metric was NaN all phase: go on from here
            with torch.no_grad():
                for key, value in ctx.model.state_dict().items():
                    value.copy_(self.best_model[key])  # in place: the optimizer keeps pointing at these
        ctx.optimizer.state.clear()  # a fresh optimizer: no momentum carried over from the old task
        self.schedule.load_state_dict(copy.deepcopy(self.schedule_at_start))
        self.phase += 1
        self.groups //= 2
        self.step.set_groups(self.groups)
        self.tracker = Tracker("cascade", self.metric, self.mode)
        self.best_model = None
        self.pending = False

    def after_evaluation(self, ctx: TrainContext, row: dict) -> None:
        """At the epoch's end, with its evaluated row: note a new best, decide on a plateau."""
        row.update(phase=self.phase, sum_groups=self.groups, restored_from_epoch=math.nan)
        if self.tracker.update(ctx.epoch, row):
            self.best_model = {k: v.detach().clone() for k, v in ctx.model.state_dict().items()}
        if self.tracker.bad_epochs < self.patience:
            return
        if self.groups == self.until:
            self.finished = True
        else:
            self.pending = True
            if self.best_model is not None:
                row["restored_from_epoch"] = self.tracker.best_epoch

    def state_dict(self) -> dict:
        return {"phase": self.phase, "groups": self.groups, "tracker": self.tracker.state_dict(),
                "best_model": self.best_model, "pending": self.pending, "finished": self.finished}

    def load_state_dict(self, state: dict) -> None:
        self.phase, self.groups = state["phase"], state["groups"]
        self.tracker.load_state_dict(state["tracker"])
        best = state["best_model"]
        self.best_model = None if best is None else {k: v.to(self.device) for k, v in best.items()}
        self.pending, self.finished = state["pending"], state["finished"]
        self.step.set_groups(self.groups)


def _options(*, patience: int, metric: str = CASCADE_DEFAULTS["metric"], mode: str | None = CASCADE_DEFAULTS["mode"],
             until: int = CASCADE_DEFAULTS["until"]):
    """The keys of a run's `cascade` section, checked by check_options (runs.resolve fills the defaults)."""


def build_cascade(run: dict, ctx: TrainContext, step, schedule) -> Cascade | None:
    config = run["cascade"]
    if config is None:
        return None
    if not isinstance(config, dict):
        raise UserError(f"cascade: null or a mapping like {{patience: 10, metric: test_acc1}}; got {config!r}")
    check_options("cascade", None, _options, config)
    config = {**CASCADE_DEFAULTS, **config}
    if run["early_stopping"] is not None:
        raise UserError("early_stopping: a cascade ends the run itself once its last phase plateaus; "
                        "set early_stopping to null (cascade.patience is its patience)")
    patience = integer("cascade.patience", config["patience"], at_least=1,
                       meaning="epochs without a new best before the next phase")
    if not isinstance(config["metric"], str):
        raise UserError(f"cascade.metric: an epoch column of history.csv such as test_acc1; got {config['metric']!r}")
    return Cascade(ctx, step, schedule, patience, config["metric"], config["mode"], config["until"])

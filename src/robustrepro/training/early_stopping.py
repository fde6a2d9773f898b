"""Early stopping on an epoch metric, and the best-value tracker it shares with reduce-on-plateau."""

from __future__ import annotations

import math

from robustrepro.errors import UserError
from robustrepro.options import integer
from robustrepro.registry import check_options


def default_mode(metric: str) -> str:
    return "min" if metric.endswith("loss") else "max"


class Tracker:
    """The best value of one metric so far and how many epochs have passed without beating it."""

    def __init__(self, key: str, metric: str, mode: str | None):
        mode = mode or default_mode(metric)
        if mode not in ("min", "max"):
            raise UserError(f"{key}.mode: 'min' or 'max'; got {mode!r}")
        self.key, self.metric, self.mode = key, metric, mode
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.bad_epochs = 0

    def require(self, columns) -> None:
        """Fail before training if the metric is not one the epochs will report."""
        if self.metric not in columns:
            raise UserError(f"{self.key}.metric: {self.metric!r} is not reported every epoch by this run; "
                            f"choose one of: {', '.join(columns)}")

    def update(self, epoch: int, row: dict) -> bool:
        """Record `row`'s value; True if it is a new best. NaN never is."""
        value = row.get(self.metric, math.nan)
        better = not math.isnan(value) and (
            self.best is None or (value < self.best if self.mode == "min" else value > self.best))
        if better:
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
        else:
            self.bad_epochs += 1
        return better

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_epoch, self.bad_epochs = state["best"], state["best_epoch"], state["bad_epochs"]


class EarlyStopping(Tracker):
    """Stop once `patience` epochs in a row have not improved on the best; report the best epoch.

    As in seed 003: train until the validation accuracy stops increasing, keep the best epoch.
    """

    def __init__(self, *, patience: int, metric: str = "val_acc1", mode: str | None = None):
        integer("early_stopping.patience", patience, at_least=1, meaning="epochs without improvement before stopping")
        super().__init__("early_stopping", metric, mode)
        self.patience = patience

    def should_stop(self) -> bool:
        return self.bad_epochs >= self.patience


def build_early_stopping(config: dict | None) -> EarlyStopping | None:
    if config is None:
        return None
    if not isinstance(config, dict):
        raise UserError(f"early_stopping: null or a mapping like {{patience: 3, metric: val_acc1}}; got {config!r}")
    check_options("early_stopping", None, EarlyStopping, config)
    return EarlyStopping(**config)

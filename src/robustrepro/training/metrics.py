"""Epoch metrics: evaluation of a split, and metrics accumulated while training.

An epoch metric is a Part that accumulates in `after_step(ctx, batch, result)` and gives
`result(ctx) -> {column: value}` for history.csv after end_epoch; it declares its columns up front.
Its state_dict holds what it accumulated so far, so a run resumed within an epoch goes on counting.
Sums stay on the device during the epoch and are read once at its end (one host sync), so
metrics never stall the GPU per batch. Later metrics (gradient cosine similarity between
clean and all examples, model norm, data covered) are one registered part each: they get
the model and the device data from the context.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
import math

import torch
import torch.nn.functional as F

from robustrepro.training.context import Batch, Part, StepResult, TrainContext
from robustrepro.registry import Registry

METRICS = Registry("metrics")


class EpochMetric(Part, ABC):
    columns: tuple[str, ...] = ()

    @abstractmethod
    def result(self, ctx: TrainContext) -> dict[str, float]:
        """This epoch's values, one per column."""


def _ratio(num: float, den: float) -> float:
    return num / den if den else math.nan


@METRICS.register("train")
class TrainMetrics(EpochMetric):
    """Loss and accuracy on the labels trained on, and accuracy on the noisy and clean examples.

    noisy_acc is the share of noisily labelled examples predicted as their noisy label
    (memorisation); clean_acc the same on the examples whose label is correct. Both come
    from the training forward passes of the epoch, as seed 002's per-batch accuracies do.
    """

    columns = ("train_loss", "train_acc", "noisy_acc", "clean_acc")

    def __init__(self, ctx: TrainContext):
        self.count = 0  # examples this epoch: known on the host from the batch shapes
        self.sums = torch.zeros(5, dtype=torch.float64, device=ctx.device)

    def start_epoch(self, ctx: TrainContext) -> None:
        self.count = 0
        self.sums.zero_()

    def after_step(self, ctx: TrainContext, batch: Batch, result: StepResult) -> None:
        correct = result.logits.argmax(1) == result.labels
        noisy = ctx.data.noisy_mask[result.indices]
        self.count += len(correct)
        self.sums += torch.stack([result.losses.sum().double(), correct.sum().double(), noisy.sum().double(),
                                  (correct & noisy).sum().double(), (correct & ~noisy).sum().double()])

    def state_dict(self) -> dict:
        return {"count": self.count, "sums": self.sums.cpu()}

    def load_state_dict(self, state: dict) -> None:
        if state:  # checkpoints of epoch boundaries from before this state was kept hold none
            self.count = state["count"]
            self.sums.copy_(state["sums"])

    def running(self) -> dict[str, float]:
        """Loss and accuracy so far this epoch (syncs with the device: for progress bars)."""
        loss, correct = self.sums[:2].tolist()
        return {"loss": _ratio(loss, self.count), "acc": _ratio(correct, self.count)}

    def result(self, ctx: TrainContext) -> dict[str, float]:
        n = self.count
        loss, correct, n_noisy, correct_noisy, correct_clean = self.sums.tolist()
        return {"train_loss": _ratio(loss, n), "train_acc": _ratio(correct, n),
                "noisy_acc": _ratio(correct_noisy, n_noisy), "clean_acc": _ratio(correct_clean, n - n_noisy)}


def build_metrics(names, ctx: TrainContext) -> list[EpochMetric]:
    """The always-on train metrics, then the named extra ones."""
    ordered = list(dict.fromkeys(["train", *names]))
    return [METRICS.build({"name": name}, ctx) for name in ordered]


@torch.no_grad()
def evaluate(ctx: TrainContext, role: str, batch_size: int = 1024) -> dict[str, float]:
    """acc1, acc5 (top-k with k capped at the number of classes) and mean loss on a whole split."""
    was_training = ctx.model.training
    ctx.model.eval()
    k = min(5, ctx.data.num_classes)
    totals = torch.zeros(3, dtype=torch.float64, device=ctx.device)
    for x, y in ctx.data.batches(role, batch_size):
        with ctx.autocast():
            logits = ctx.forward(x)
        logits = logits.float()
        hits = logits.topk(k, dim=1).indices == y[:, None]
        totals += torch.stack([hits[:, 0].sum().double(), hits.any(1).sum().double(),
                               F.cross_entropy(logits, y, reduction="sum").double()])
    ctx.model.train(was_training)
    n = len(ctx.data.splits[role])
    acc1, acc5, loss = totals.tolist()
    return {"acc1": _ratio(acc1, n), "acc5": _ratio(acc5, n), "loss": _ratio(loss, n)}


@METRICS.register("model_norm")
class ModelNorm(EpochMetric):
    """The L2 norm of all trainable parameters at the end of the epoch (seed 004's figures 3.5 and 3.7:
    the norm during cascading sum augmentation). Buffers (batch-norm statistics) are not parameters."""

    columns = ("model_norm",)

    def __init__(self, ctx: TrainContext):
        pass

    @torch.no_grad()
    def result(self, ctx: TrainContext) -> dict[str, float]:
        squares = [p.detach().double().pow(2).sum() for p in ctx.model.parameters() if p.requires_grad]
        return {"model_norm": torch.stack(squares).sum().sqrt().item()}

"""Per-step logs: `steps.csv` beside history.csv, for runs whose curves are drawn against steps.

A run asks for one with its `step_log` section (off when null):

    step_log: {every: 10, metrics: [batch], eval_steps: 500, eval_seconds: null}

- every: a row every n optimizer steps (null: rows at evaluation points only).
- metrics: step metrics by name (STEP_METRICS), each adding columns computed from the step's
  result; "batch" gives the loss and accuracy of the batch just trained on, "batch_noise" its
  accuracy on the noisy and the clean examples, "example_weights" how the update spread its
  weight over the batch, "grad_cosine" the cosine similarity between the gradient of the batch's
  clean examples and the gradient of the whole batch (measured on the `every` rows only).
- eval_steps / eval_seconds: evaluation points, every n steps and/or every s seconds of
  training, where the test (and validation) split is evaluated as at the end of an epoch.

Every row has step (optimizer steps done), epoch (the epoch it belongs to, from 1), time_s,
lr and momentum (as used by that step; empty when the optimizer has none). The step metrics'
values stay on the device, one small tensor per logged row, and reach the host in one
transfer when the log is flushed: at evaluation points, epoch ends and checkpoints. So logging
adds no host sync per step.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
import math
import time

import torch
import torch.nn.functional as F

from robustrepro.errors import UserError
from robustrepro.options import integer, number
from robustrepro.registry import Registry, check_options
from robustrepro.training.context import Batch, StepResult, TrainContext

STEP_METRICS = Registry("step_log.metrics")

BASE_COLUMNS = ("step", "epoch", "time_s", "lr", "momentum")


class StepMetric(ABC):
    columns: tuple[str, ...] = ()
    width: int | None = None  # how many raw values `values` gives, when not one per column
    needs_probe = False  # whether it measures the update's gradients through ctx.probe

    @abstractmethod
    def values(self, ctx: TrainContext, batch: Batch, result: StepResult) -> torch.Tensor:
        """float [width] on the device: this step's raw values (no host sync)."""

    def finish(self, raw: list[float]) -> list[float]:
        """The columns' values from the raw ones, on the host at a flush (few device ops per step)."""
        return raw


@STEP_METRICS.register("batch")
class BatchMetric(StepMetric):
    """Mean loss and accuracy of the batch just trained on, on the labels it trained on."""

    columns = ("batch_loss", "batch_acc")

    def __init__(self, ctx: TrainContext):
        pass

    def values(self, ctx: TrainContext, batch: Batch, result: StepResult) -> torch.Tensor:
        correct = (result.logits.argmax(1) == result.labels).float().mean()
        return torch.stack([result.losses.float().mean(), correct])


@STEP_METRICS.register("batch_noise")
class BatchNoiseMetric(StepMetric):
    """Accuracy on the noisily and on the correctly labelled examples of the batch (NaN if it has none)."""

    columns = ("batch_noisy_acc", "batch_clean_acc")

    def __init__(self, ctx: TrainContext):
        pass

    width = 4

    def values(self, ctx: TrainContext, batch: Batch, result: StepResult) -> torch.Tensor:
        correct = result.logits.argmax(1) == result.labels
        # counts of (clean, wrong), (clean, right), (noisy, wrong), (noisy, right)
        return torch.bincount(ctx.data.noisy_mask[result.indices] * 2 + correct, minlength=4)

    def finish(self, raw: list[float]) -> list[float]:
        clean_wrong, clean_right, noisy_wrong, noisy_right = raw
        return [_share(noisy_right, noisy_wrong), _share(clean_right, clean_wrong)]


@STEP_METRICS.register("example_weights")
class ExampleWeightsMetric(StepMetric):
    """How the update spread its weight over the batch: the largest normalised example weight and
    the share of examples with any weight (1/B and 1 for a plain mean; learning to reweight drops
    the examples that disagree with the clean set)."""

    columns = ("weight_max", "weight_nonzero")

    def __init__(self, ctx: TrainContext):
        pass

    def values(self, ctx: TrainContext, batch: Batch, result: StepResult) -> torch.Tensor:
        w = result.weights
        if w is None:
            w = torch.ones_like(result.losses)
        w = w.float() / w.float().sum().clamp_min(torch.finfo(torch.float32).tiny)
        return torch.stack([w.max(), (w > 0).float().mean()])


@STEP_METRICS.register("grad_cosine")
class GradCosineMetric(StepMetric):
    """Cosine similarity between the mean-loss gradient of the batch's clean examples (labels not
    changed by the noise) and the update's gradient, the mean loss of the whole batch, over all
    parameters (seed 002's Figures 7-9). NaN when the batch has no clean example.

    Without per-sample gradients: on a measured step the step's backward is replaced by two
    (robustrepro.training.context: ctx.probe), one of the clean examples' mean loss through the
    retained graph and then the step's own, which leaves the update exactly as it was. So it costs
    one backward pass on the steps it measures, the `every` rows of the log, and nothing elsewhere
    (bench/bench_grad_cosine.py); rows written at other steps (evaluation points) read NaN.
    """

    columns = ("grad_cosine",)
    needs_probe = True

    def __init__(self, ctx: TrainContext):
        self.measured: tuple[int, torch.Tensor] | None = None  # (step, cosine) of the last probe

    def probe(self, ctx: TrainContext, batch: Batch, losses: torch.Tensor, loss: torch.Tensor) -> None:
        clean = ~ctx.data.noisy_mask[batch.indices]
        weights = clean.to(losses.dtype) if batch.weights is None else batch.weights.to(losses.dtype) * clean
        clean_loss = (weights * losses).sum() / weights.sum().clamp_min(torch.finfo(losses.dtype).tiny)
        params = [p for p in ctx.model.parameters() if p.requires_grad]
        clean_grads = torch.autograd.grad(clean_loss, params, retain_graph=True, allow_unused=True)
        loss.backward()
        pairs = [(c, p.grad) for c, p in zip(clean_grads, params) if c is not None and p.grad is not None]
        cosine = F.cosine_similarity(torch.cat([c.flatten() for c, _ in pairs]).float(),
                                     torch.cat([g.flatten() for _, g in pairs]).float(), dim=0).clamp(-1, 1)  # rounding can pass 1
        self.measured = (ctx.global_step + 1, torch.where(clean.any(), cosine, torch.nan))

    def values(self, ctx: TrainContext, batch: Batch, result: StepResult) -> torch.Tensor:
        if self.measured is not None and self.measured[0] == ctx.global_step:
            return self.measured[1].reshape(1)
        return torch.full((1,), math.nan, device=result.losses.device)


def _share(right: float, wrong: float) -> float:
    return right / (right + wrong) if right + wrong else math.nan


def _section(config: dict | None) -> dict:
    def options(*, every: int | None = None, metrics: list = (), eval_steps: int | None = None,
                eval_seconds: float | None = None) -> dict:
        return {"every": every, "metrics": list(metrics), "eval_steps": eval_steps, "eval_seconds": eval_seconds}

    if not isinstance(config, dict):
        raise UserError(f"step_log: a mapping with keys every, metrics, eval_steps, eval_seconds; got {config!r}")
    check_options("step_log", None, options, config)
    out = options(**config)
    for key in ("every", "eval_steps"):
        if out[key] is not None:
            integer(f"step_log.{key}", out[key], at_least=1)
    if out["eval_seconds"] is not None:
        number("step_log.eval_seconds", out["eval_seconds"], above=0)
    if not isinstance(config.get("metrics", []), (list, tuple)):
        raise UserError(f"step_log.metrics: a list of step metric names; got {config['metrics']!r}")
    if out["every"] is None and out["eval_steps"] is None and out["eval_seconds"] is None:
        raise UserError("step_log: says neither when to write a row nor when to evaluate; set every, eval_steps "
                        "or eval_seconds")
    return out


def current_momentum(optimizer: torch.optim.Optimizer) -> float:
    group = optimizer.param_groups[0]
    if "betas" in group:
        return float(group["betas"][0])
    return float(group["momentum"]) if "momentum" in group else math.nan


class StepLog:
    """The rows of steps.csv: host values now, device values buffered until the next flush."""

    def __init__(self, config: dict | None, ctx: TrainContext, eval_columns: tuple[str, ...]):
        section = _section(config)
        self.every, self.eval_steps, self.eval_seconds = section["every"], section["eval_steps"], section["eval_seconds"]
        self.metrics = [STEP_METRICS.build({"name": name} if isinstance(name, str) else name, ctx)
                        for name in section["metrics"]]
        self.metric_columns = tuple(c for m in self.metrics for c in m.columns)
        self.probes = [m for m in self.metrics if m.needs_probe]
        if self.probes and self.every is None:
            raise UserError("step_log.every: grad_cosine is measured on the rows written every `every` steps; "
                            "set step_log.every (e.g. 50)")
        if len(self.probes) > 1:
            raise UserError("step_log.metrics: more than one gradient probe; list grad_cosine once")
        self.eval_columns = eval_columns
        self.columns = BASE_COLUMNS + self.metric_columns + eval_columns
        self.rows: list[dict] = []  # flushed rows
        self.pending: list[tuple[dict, torch.Tensor | None]] = []  # host part, device values
        self.last_eval = time.monotonic()

    def probe_for(self, step: int):
        """The gradient probe for the step about to be taken as number `step` (from 1), or None."""
        if not self.probes or step % self.every:
            return None
        return self.probes[0].probe

    @property
    def evaluates(self) -> bool:
        return self.eval_steps is not None or self.eval_seconds is not None

    def after_step(self, ctx: TrainContext, batch: Batch, result: StepResult, lr: float, time_s: float) -> bool:
        """Log the step just taken if it is due; True when it is an evaluation point."""
        step = ctx.global_step
        evaluate = (self.eval_steps is not None and step % self.eval_steps == 0) or (
            self.eval_seconds is not None and time.monotonic() - self.last_eval >= self.eval_seconds)
        if evaluate or (self.every is not None and step % self.every == 0):
            host = {"step": step, "epoch": ctx.epoch, "time_s": time_s, "lr": lr,
                    "momentum": current_momentum(ctx.optimizer)}
            values = torch.cat([m.values(ctx, batch, result).float() for m in self.metrics]) if self.metrics else None
            self.pending.append((host, values))
        return evaluate

    def evaluated(self, values: dict[str, float]) -> None:
        """Attach an evaluation point's numbers to the row of the step just logged."""
        self.pending[-1][0].update(values)
        self.last_eval = time.monotonic()

    def flush(self) -> list[dict]:
        """Every row so far, complete; one device-to-host transfer for the pending ones."""
        if self.pending:
            device_values = [v for _, v in self.pending if v is not None]
            stacked = torch.stack(device_values).tolist() if device_values else []
            for i, (host, _) in enumerate(self.pending):
                row = dict.fromkeys(self.columns, math.nan)
                row.update(host)
                if stacked:
                    row.update(zip(self.metric_columns, self._columns(stacked[i])))
                self.rows.append(row)
            self.pending = []
        return self.rows

    def _columns(self, raw: list[float]) -> list[float]:
        out, start = [], 0
        for metric in self.metrics:
            width = metric.width or len(metric.columns)
            out += metric.finish(raw[start:start + width])
            start += width
        return out

    def state_dict(self) -> dict:
        return {"rows": self.flush()}

    def load_state_dict(self, state: dict) -> None:
        self.rows = [dict(r) for r in state["rows"]]
        self.pending = []
        self.last_eval = time.monotonic()

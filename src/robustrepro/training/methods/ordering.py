"""Seed 004 chapter 2's Perfect Ordering Approximation strategies (sections 2.3-2.4.2) as samplers.

The chapter's framework has a learning item (an example or a batch), a scoring mechanism, a
sampler strategy (draw a batch by the scores, with replacement across steps, so no epochs) or
an ordering strategy (hand out the best-scored item, then drop it), and a data loader that
decides when to re-score. In all three samplers here the data loader re-scores after every
gradient step, and only on randomly drawn candidates (section 2.4.1, point 5: "the data loader
randomly selects learning items to consider"), `candidates` = K of them per step.

loss_order    2.4.1's ordering variant, the "Multi Attempt Loss Orderer" (table 2.2). Learning
              item: a batch. Score: its mean loss under the current model. Ordering: the
              lowest-loss ("ascending", the paper's plotted runs) or highest ("descending", which
              "was incapable of learning anything") of the K candidates is trained on and removed.
loss_sample   2.4.1's sampling variant. Learning item: an example. Score: its loss. Sampling:
              K x B candidate examples drawn uniformly, then B of them without replacement with
              probability proportional to the loss ("direct") or to its inverse ("inverse").
              With replacement across steps; an epoch is ceil(N / B) steps, for the schedules.
loss_delta    2.4.2's "Maximum Loss Delta Orderer" (tables 2.3, 2.4). Learning item: a batch.
              Score: the loss before minus the loss after one trial update on it, measured on
              the batch itself ("same", table 2.3) or on a static batch of `external_size` (512)
              images drawn from the test set at the start of every epoch ("external", table
              2.4: the paper draws it from the test set, so this variant looks at test images;
              with a smaller test split, all of it). After each trial the weights and the SGD
              momentum are rolled back. Ordering: the largest drop is trained on and removed.

Where this reads the paper:
- loss_order and loss_delta draw their candidates from the epoch's remaining batches (a fresh
  shuffle into batches each epoch), so every example is still trained on once per epoch and an
  epoch has its usual number of steps; the paper's "eliminate the samples from the list for
  the next function calls" without saying how the list is refilled.
- Scores are taken in eval mode (TrainContext.score: no dropout, BatchNorm on its running
  statistics), unaugmented: scoring changes nothing training sees. A trial update itself is a
  train-mode step (ctx.update), so it does move BatchNorm's running statistics before the
  eval-mode after-score, as a real update would; the rollback puts them back.
- A trial uses the optimizer's lr, momentum and weight decay as they stand when the batch is
  asked for: the trainer sets the scheduled values of the step before it asks, so a trial runs
  at the lr of the update it competes for.
- The paper's relative loss drop ("a slightly worse performance") is not offered.

Costs per step: loss_order one forward over K x B examples; loss_sample the same; loss_delta
K trial updates, each a forward and backward over B examples plus the after-scores (and one
forward over the candidates or the external batch for the before-scores). loss_delta's
`trials` runs them one after another through the run's own step, rolled back each time
("sequential"), or all K side by side in one vmapped update (robustrepro.training.side_by_side,
"vmap": the plain `weighted` step and SGD only, no dropout). Both pick the same batch: their
scores agree to float rounding (within 1e-6 on the tests' LeNet and BatchNorm WRN, which allow
1e-5; the closest two candidates there were 7e-6 apart).
On CUDA the sequential trial runs under the run's bf16 autocast and the side-by-side one in
float32, so there they agree less closely.

Resuming within an epoch: loss_order and loss_delta keep the epoch's chosen batches in their
state; resume_batches replays the epoch's random draws with those choices instead of scores,
which puts the remaining batches and the generator exactly where they were. loss_sample's
later steps do not depend on what it chose, so it replays the draws of the steps done.
"""

from __future__ import annotations

from abc import abstractmethod
import math
from typing import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap

from robustrepro.errors import UserError, unknown_choice
from robustrepro.options import integer
from robustrepro.training import side_by_side
from robustrepro.training.context import Batch, TrainContext
from robustrepro.training.samplers import SAMPLERS, Sampler, batch_size

ORDERS = ("ascending", "descending")
WEIGHTINGS = ("direct", "inverse")
SCORE_ON = ("same", "external")
TRIALS = ("vmap", "sequential")
EXTERNAL_SIZE = 512  # 2.4.2: "a batch of 512 images from the test dataset at the start of each epoch"
# bench/bench_loss_delta.py on 2 shared CPU cores: vmap trials took 1.3x the sequential ones' time
# per step on LeNet at batch 128 (K = 8: 410 vs 311 ms) and 1.5x (K = 32: 1903 vs 1302 ms), and
# on the half-width one-block-a-stage PreAct ResNet at batch 64 1.3x (K = 8) and 6.5x (K = 32:
# 21.4 vs 3.3 s): the CPU runs K copies' batched kernels no faster than K plain ones.
DEFAULT_TRIALS = "sequential"


def _candidates(value) -> int:
    return integer("sampler.candidates", value, at_least=1,
                   meaning="candidates scored per step (K; 1 trains on random batches unscored)")


def _choice(key: str, value, choices: Sequence[str]) -> str:
    if value not in choices:
        raise unknown_choice(key, value, choices)
    return value


def _batch_means(losses: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """float32 [K]: the mean of each consecutive run of `sizes` per-example losses."""
    return torch.stack([part.mean() for part in losses.split(sizes)])


# --- orderers: K of the epoch's remaining batches per step ---

class CandidateOrderer(Sampler):
    """Each epoch the training positions shuffled into batches; every step K of the batches
    still left are drawn, `choose` picks one, and it is trained on and removed."""

    def __init__(self, n: int, batch_size: int, candidates: int, device: torch.device):
        self.n, self.batch_size, self.candidates, self.device = n, batch_size, candidates, device
        self.epoch = 0  # the epoch `chosen` belongs to
        self.chosen: list[int] = []  # batch numbers (in the epoch's shuffle) trained on so far, in order
        self.last_candidates: list[torch.Tensor] = []  # the last scored step's candidates, for tests and logs
        self.last_scores: torch.Tensor | None = None  # their scores, aligned

    def steps_per_epoch(self) -> int:
        return math.ceil(self.n / self.batch_size)

    @abstractmethod
    def scores(self, ctx: TrainContext, candidates: list[torch.Tensor]) -> torch.Tensor:
        """float32 [K]: one score per candidate batch; the largest is trained on."""

    def start_scoring(self, ctx: TrainContext) -> None:
        """Per-epoch preparation of the scoring (loss_delta's external batch)."""

    def batches(self, ctx: TrainContext) -> Iterator[Batch]:
        return self._epoch(ctx, replay=[])

    def resume_batches(self, ctx: TrainContext, done: int) -> Iterator[Batch]:
        if self.epoch != ctx.epoch or len(self.chosen) < done:
            raise RuntimeError(f"resume at step {done} of epoch {ctx.epoch}, but the sampler's state holds "
                               f"{len(self.chosen)} choices of epoch {self.epoch}")
        return self._epoch(ctx, replay=self.chosen[:done])

    def _epoch(self, ctx: TrainContext, replay: list[int]) -> Iterator[Batch]:
        self.start_scoring(ctx)
        generator = ctx.generator("sampler")
        order = torch.randperm(self.n, generator=generator, device=generator.device).to(self.device)
        batches = list(order.split(self.batch_size))
        remaining = list(range(len(batches)))
        self.epoch, self.chosen = ctx.epoch, []
        while remaining:
            # The draw depends on how many are left only, so replaying it with the recorded choices
            # leaves `remaining` and the generator exactly as the interrupted epoch had them.
            picks = torch.randperm(len(remaining), generator=generator, device=generator.device)[:self.candidates]
            ids = [remaining[p] for p in picks.tolist()]
            step = len(self.chosen)
            if step < len(replay):
                choice = replay[step]
                if choice not in ids:
                    raise RuntimeError(f"replaying epoch {ctx.epoch}: batch {choice} of step {step} was not a candidate")
            elif len(ids) == 1:
                choice = ids[0]  # nothing to compare: K = 1, or the epoch's last batch
            else:
                self.last_candidates = [batches[i] for i in ids]
                self.last_scores = self.scores(ctx, self.last_candidates)
                choice = ids[int(self.last_scores.argmax())]  # first of equal scores
            remaining.remove(choice)
            self.chosen.append(choice)  # before the yield: a checkpoint after this step holds it
            if step >= len(replay):
                yield Batch(batches[choice], None)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "chosen": torch.tensor(self.chosen, dtype=torch.int64)}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.chosen = state["epoch"], state["chosen"].tolist()


class LossOrderer(CandidateOrderer):
    """2.4.1's Multi Attempt Loss Orderer: the candidate batch of lowest (or highest) mean loss."""

    def __init__(self, n: int, batch_size: int, candidates: int, device: torch.device, order: str):
        super().__init__(n, batch_size, candidates, device)
        self.order = _choice("sampler.order", order, ORDERS)

    def scores(self, ctx: TrainContext, candidates: list[torch.Tensor]) -> torch.Tensor:
        # One forward over all K x B examples; the score is negated for ascending, so the
        # largest score is always the batch to train on.
        means = _batch_means(ctx.score(torch.cat(candidates)).losses, [len(c) for c in candidates])
        return -means if self.order == "ascending" else means


@SAMPLERS.register("loss_order")
def loss_order(ctx: TrainContext, *, candidates: int, order: str = "ascending") -> Sampler:
    """Seed 004 2.4.1 (table 2.2): each step the lowest-loss ("ascending") or highest-loss
    ("descending") of `candidates` batches drawn from the epoch's remaining ones."""
    return LossOrderer(len(ctx.data), batch_size(ctx), _candidates(candidates), ctx.device, order)


# --- loss delta ---

class LossDeltaOrderer(CandidateOrderer):
    """2.4.2's Maximum Loss Delta Orderer: the candidate batch whose trial update lowers the loss most."""

    def __init__(self, ctx: TrainContext, candidates: int, score_on: str, external_size: int, trials: str):
        super().__init__(len(ctx.data), batch_size(ctx), candidates, ctx.device)
        self.score_on, self.trials = score_on, trials
        self.external_size = min(external_size, len(ctx.data.splits["test"]))
        self.external: torch.Tensor | None = None  # int64 [external_size] test positions of this epoch

    def summary(self) -> dict:
        return {"loss_delta_external_size": self.external_size} if self.score_on == "external" else {}

    def start_scoring(self, ctx: TrainContext) -> None:
        if self.score_on == "external":
            generator = ctx.generator("external")
            n_test = len(ctx.data.splits["test"])
            drawn = torch.randperm(n_test, generator=generator, device=generator.device)[:self.external_size]
            self.external = drawn.to(self.device)

    def scores(self, ctx: TrainContext, candidates: list[torch.Tensor]) -> torch.Tensor:
        sizes = [len(c) for c in candidates]
        if self.score_on == "same":
            before = _batch_means(ctx.score(torch.cat(candidates)).losses, sizes)
        else:
            before = ctx.score(self.external, "test").losses.mean()  # the same for every candidate
        trial = self._after_side_by_side if self.trials == "vmap" else self._after_sequential
        return before - trial(ctx, candidates)

    def _after(self, ctx: TrainContext, batch: torch.Tensor) -> torch.Tensor:
        if self.score_on == "same":
            return ctx.score(batch).losses.mean()
        return ctx.score(self.external, "test").losses.mean()

    def _after_sequential(self, ctx: TrainContext, candidates: list[torch.Tensor]) -> torch.Tensor:
        """Mean loss after one update on each candidate through the run's step, rolled back after each."""
        after = []
        state = ctx.save_state()  # one copy, restored after every trial
        try:
            for batch in candidates:
                ctx.update(Batch(batch, None))
                after.append(self._after(ctx, batch))
                ctx.restore_state(state)
        except BaseException:
            ctx.restore_state(state)
            raise
        return torch.stack(after)

    def _after_side_by_side(self, ctx: TrainContext, candidates: list[torch.Tensor]) -> torch.Tensor:
        """The same trials as K model copies updated at once; the model itself is never touched."""
        hyper = _sgd_hyperparameters(ctx.optimizer)
        after = torch.empty(len(candidates), device=self.device)
        # vmap needs one batch size: the epoch's last, smaller batch gets a group of its own.
        for size in sorted({len(c) for c in candidates}):
            members = [i for i, c in enumerate(candidates) if len(c) == size]
            indices = torch.stack([candidates[i] for i in members])  # [k, B]
            x = ctx.data.inputs("train", indices.flatten()).unflatten(0, indices.shape)
            y = ctx.data.labels("train", indices.flatten()).view(indices.shape)
            with ctx.autocast():
                stacked, _ = side_by_side.sgd_step(ctx.model, side_by_side.stack(ctx.model, len(members), ctx.optimizer),
                                                   x, y, **hyper)
                if self.score_on == "same":
                    losses = _each_on_its_own(ctx.model, stacked, x, y)
                else:
                    losses, _ = side_by_side.evaluate(ctx.model, stacked, ctx.data.inputs("test", self.external),
                                                      ctx.data.labels("test", self.external))
            after[members] = losses.float().mean(1)
        return after


def _sgd_hyperparameters(optimizer: torch.optim.Optimizer) -> dict:
    """The optimizer's current lr, momentum, nesterov and weight decay, for side_by_side.sgd_step."""
    groups = optimizer.param_groups
    group = groups[0]
    if (not isinstance(optimizer, torch.optim.SGD) or len(groups) != 1 or group["dampening"] != 0
            or group.get("maximize", False)):
        raise UserError("sampler.trials: vmap trials copy torch's SGD with one parameter group and dampening 0; "
                        "this optimizer is not that: use trials: sequential")
    return {"lr": float(group["lr"]), "momentum": float(group["momentum"]), "nesterov": bool(group["nesterov"]),
            "weight_decay": float(group["weight_decay"])}


@torch.no_grad()
def _each_on_its_own(model: nn.Module, stacked: side_by_side.Stacked, x: torch.Tensor,
                     y: torch.Tensor) -> torch.Tensor:
    """[R, B] eval-mode losses of copy r on its own batch x[r] (side_by_side.evaluate shares one batch)."""

    def one(params, buffers, inputs):
        return functional_call(model, (params, buffers), (inputs,))

    was_training = model.training
    model.eval()
    try:
        logits = vmap(one)(stacked.params, stacked.buffers, x).float()
    finally:
        model.train(was_training)
    return F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view_as(y)


def _check_side_by_side(ctx: TrainContext) -> None:
    """vmap trials reproduce the plain weighted step with torch's SGD, and cannot draw dropout."""
    step, optimizer = ctx.run["step"]["name"], ctx.run["optimizer"]
    if step != "weighted":
        raise UserError(f"sampler.trials: vmap trials reproduce the plain `weighted` step; this run's step is "
                        f"{step!r}: use trials: sequential")
    if optimizer["name"] != "sgd" or optimizer.get("dampening", 0) != 0:
        raise UserError(f"sampler.trials: vmap trials reproduce SGD without dampening; this run's optimizer is "
                        f"{optimizer['name']!r}: use trials: sequential")
    if any(isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0 for m in ctx.model.modules()):
        raise UserError("sampler.trials: vmap trials cannot draw the model's dropout as the model alone would; "
                        "use trials: sequential (or model.dropout: 0)")


@SAMPLERS.register("loss_delta")
def loss_delta(ctx: TrainContext, *, candidates: int, score_on: str = "same", external_size: int = EXTERNAL_SIZE,
               trials: str = DEFAULT_TRIALS) -> Sampler:
    """Seed 004 2.4.2 (tables 2.3, 2.4): each step the one of `candidates` batches, drawn from the
    epoch's remaining ones, whose trial update lowers the mean loss most, on the batch itself
    ("same") or on `external_size` test images drawn each epoch ("external")."""
    _choice("sampler.score_on", score_on, SCORE_ON)
    integer("sampler.external_size", external_size, at_least=1, meaning="test images the external loss is taken on")
    if _choice("sampler.trials", trials, TRIALS) == "vmap":
        _check_side_by_side(ctx)
    return LossDeltaOrderer(ctx, _candidates(candidates), score_on, external_size, trials)


# --- loss sampler ---

def weighted_draw(losses: torch.Tensor, uniforms: torch.Tensor, size: int, weighting: str) -> torch.Tensor:
    """Positions of `size` of the losses drawn without replacement, each draw with probability
    proportional to the loss ("direct") or to 1 / loss ("inverse") among those not yet drawn.

    Exponential race (Efraimidis & Spirakis): with E = -log(1 - U) ~ Exp(1), the `size`
    smallest keys E / w are such a draw, and the randomness used does not depend on the losses.
    Zero losses need no guard value: under "direct" their key is infinite (drawn only when
    fewer than `size` losses are positive), under "inverse" it is E * 0 = 0 (drawn first).
    """
    exponential = -torch.log1p(-uniforms.double())
    losses = losses.double()
    if weighting == "direct":
        keys = torch.where(losses > 0, exponential / losses, torch.inf)
    else:
        keys = exponential * losses
    return keys.argsort(stable=True)[:size]


class LossSampler(Sampler):
    """2.4.1's loss sampler: every step B of K x B random examples, drawn by their losses."""

    def __init__(self, n: int, batch_size: int, candidates: int, weighting: str, device: torch.device):
        self.n, self.batch_size, self.device = n, batch_size, device
        self.pool = min(candidates * batch_size, n)
        self.weighting = _choice("sampler.weighting", weighting, WEIGHTINGS)
        self.epoch, self.steps = 0, 0  # steps drawn in `epoch`

    def steps_per_epoch(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def batches(self, ctx: TrainContext) -> Iterator[Batch]:
        return self._epoch(ctx, skip=0)

    def resume_batches(self, ctx: TrainContext, done: int) -> Iterator[Batch]:
        if self.epoch != ctx.epoch or self.steps < done:
            raise RuntimeError(f"resume at step {done} of epoch {ctx.epoch}, but the sampler's state is at step "
                               f"{self.steps} of epoch {self.epoch}")
        return self._epoch(ctx, skip=done)

    def _epoch(self, ctx: TrainContext, skip: int) -> Iterator[Batch]:
        generator = ctx.generator("sampler")
        self.epoch, self.steps = ctx.epoch, 0
        for step in range(self.steps_per_epoch()):
            # Drawn whether or not the step is replayed, so a resumed epoch draws what it drew.
            pool = torch.randperm(self.n, generator=generator, device=generator.device)[:self.pool].to(self.device)
            uniforms = torch.rand(self.pool, dtype=torch.float64, generator=generator,
                                  device=generator.device).to(self.device)
            self.steps = step + 1
            if step < skip:
                continue
            if self.pool <= self.batch_size:
                yield Batch(pool, None)  # K = 1 (or a tiny training set): every candidate is taken
                continue
            losses = ctx.score(pool).losses
            yield Batch(pool[weighted_draw(losses, uniforms, self.batch_size, self.weighting)], None)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.steps = state["epoch"], state["steps"]


@SAMPLERS.register("loss_sample")
def loss_sample(ctx: TrainContext, *, candidates: int, weighting: str = "direct") -> Sampler:
    """Seed 004 2.4.1's sampling variant: each step `candidates` x batch_size random examples,
    of which batch_size are drawn with probability proportional to their loss ("direct") or
    its inverse ("inverse"). Examples may repeat across steps; an epoch is ceil(N / B) steps."""
    return LossSampler(len(ctx.data), batch_size(ctx), _candidates(candidates), weighting, ctx.device)

"""Seed 000's samplers (sections 5.3, 6.1, 6.2) and its "data covered" epoch metric.

clusters            offline set-cover clusters: each epoch one random member of every cluster,
                    clusters in a random order, weighted by cluster size (faster training:
                    s_c / sum of s_b over the batch) or by label confidence (robust training:
                    the share of the cluster whose training label is the member's).
facility_location   the full data (shuffled) for `warmup_epochs`, then at the end of each epoch
                    per-class facility location on the normalised softmax-layer gradients
                    p - y of every example; the next epoch trains on the facilities in greedy
                    order ("maintaining the ordering ... worked better than random shuffling",
                    6.1.2), weighted by cluster size (6.1.2 "FL"), equally (6.2 "FL only") or
                    by ball count (6.2 "FL Weighted").
ball_weighted       the full data (shuffled), each example weighted by its ball count after
                    `warmup_epochs` (6.2 "Weighted only").
data_covered        (metric) share of the training examples trained on at least once since
                    the sampler started selecting (Tables 4 and 7).

Set-cover clusters come from the run's `clustering` (ctx.clustering: the file the workflow
builds). Ball counts (points within radius r of a point) come from that file or, given
`radius`, are counted within each class on the current model's vectors in `space`: the
softmax gradients or the penultimate features, both scaled to unit length so that a radius
(at most 2) means the same for any model. Counted among the points of the same training label,
in feature space a mislabelled point, sitting among another class's points, has few.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from robustrepro.errors import UserError, unknown_choice
from robustrepro.options import integer, number
from robustrepro.selection.vectors import extract
from robustrepro.selection.facility import per_class_ball_counts, per_class_facility_location
from robustrepro.selection.setcover import load_set_cover
from robustrepro.training.context import Batch, StepResult, TrainContext
from robustrepro.training.metrics import METRICS, EpochMetric
from robustrepro.training.samplers import SAMPLERS, Sampler, SubsetSampler, batch_size

DEFAULT_WARMUP_EPOCHS = 5  # 6.1.2: "train the model on the full dataset for 5 epochs"
GRADIENT_BATCH = 1024
CLUSTER_WEIGHTS = ("size", "confidence")
FACILITY_WEIGHTS = ("size", "equal", "ball")
BALL_SPACES = ("grad_softmax", "features")


# --- clusters ---

class ClusterSampler(Sampler):
    """One random member of every cluster per epoch, the clusters in a random order."""

    def __init__(self, assignment: torch.Tensor, n_clusters: int, labels: torch.Tensor, batch_size: int,
                 weighting: str, radius: float = float("nan")):
        """assignment: int64 [N] cluster of each training example; labels: int64 [N] its training label."""
        if weighting not in CLUSTER_WEIGHTS:
            raise unknown_choice("sampler.weighting", weighting, CLUSTER_WEIGHTS)
        self.batch_size, self.weighting, self.radius = batch_size, weighting, radius
        self.sizes = torch.bincount(assignment, minlength=n_clusters)
        self.members = torch.argsort(assignment, stable=True)  # grouped by cluster
        self.starts = torch.cumsum(self.sizes, 0) - self.sizes
        self.labels = labels
        num_classes = int(labels.max()) + 1
        # agree[c, y]: members of cluster c whose training label is y
        self.agree = torch.bincount(assignment * num_classes + labels,
                                    minlength=n_clusters * num_classes).view(n_clusters, num_classes)

    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.sizes) / self.batch_size)

    def summary(self) -> dict:
        return {"clusters": len(self.sizes), "cluster_radius": self.radius}

    def batches(self, ctx: TrainContext):
        generator = ctx.generator("sampler")
        n_clusters = len(self.sizes)
        u = torch.rand(n_clusters, dtype=torch.float64, generator=generator, device=generator.device)
        offsets = torch.minimum((u * self.sizes).long(), self.sizes - 1)
        drawn = self.members[self.starts + offsets]  # drawn[c]: this epoch's member of cluster c
        order = torch.randperm(n_clusters, generator=generator, device=generator.device)
        for start in range(0, n_clusters, self.batch_size):
            clusters = order[start:start + self.batch_size]
            indices = drawn[clusters]
            sizes = self.sizes[clusters].float()
            if self.weighting == "size":
                weights = sizes / sizes.sum()
            else:
                weights = self.agree[clusters, self.labels[indices]].float() / sizes
            yield Batch(indices, weights)


def _clustering(ctx: TrainContext, key: str):
    """The run's set cover, checked against the training view."""
    if ctx.clustering is None:
        raise UserError(f"{key}: needs set-cover clusters; give the run a `clustering` "
                        "(source run, space, checkpoints, radius or share) and the workflow builds them")
    cover = load_set_cover(ctx.clustering)
    n = len(ctx.data)
    if len(cover.assignment) != n:
        raise UserError(f"clustering: set cover {ctx.clustering} clusters {len(cover.assignment)} points but the "
                        f"training view has {n}; delete it and rebuild it from this run's view")
    return cover


@SAMPLERS.register("clusters")
def clusters(ctx: TrainContext, *, weighting: str = "size") -> Sampler:
    """Iterate over the run's set-cover clusters (section 5.3)."""
    cover = _clustering(ctx, "sampler.name: clusters")
    inside = (cover.assignment >= 0) & (cover.assignment < cover.n_clusters)
    if not inside.all() or len(np.unique(cover.assignment)) != cover.n_clusters:
        raise UserError(f"clustering: set cover {ctx.clustering} assigns points to missing clusters or leaves a "
                        "cluster empty: the file is corrupt; delete it and rebuild it")
    assignment = torch.as_tensor(cover.assignment, dtype=torch.int64, device=ctx.device)
    return ClusterSampler(assignment, cover.n_clusters, ctx.data.splits["train"].labels, batch_size(ctx), weighting,
                          cover.radius)


# --- gradients and ball counts ---

@torch.no_grad()
def softmax_gradients(ctx: TrainContext) -> torch.Tensor:
    """float32 [N, K]: p - onehot(y) of every training example, normalised to unit length.

    That is the loss gradient with respect to the logits, y the label trained on; it needs a
    forward pass only (section 6.1.2). Eval mode: no dropout, batch-norm statistics untouched.
    """
    was_training = ctx.model.training
    ctx.model.eval()
    labels = ctx.data.splits["train"].labels
    n = len(labels)
    parts = []
    for start in range(0, n, GRADIENT_BATCH):
        idx = torch.arange(start, min(start + GRADIENT_BATCH, n), device=ctx.device)
        with ctx.autocast():
            logits = ctx.forward(ctx.data.inputs("train", idx))
        grad = logits.float().softmax(1)
        grad[torch.arange(len(idx), device=ctx.device), labels[idx]] -= 1
        parts.append(grad)
    ctx.model.train(was_training)
    grads = torch.cat(parts)
    return grads / grads.norm(dim=1, keepdim=True).clamp_min(torch.finfo(torch.float32).tiny)


def _ball_source(ctx: TrainContext, radius, space: str) -> torch.Tensor | None:
    """The clustering file's ball counts; None when they are to be counted on the fly at `radius`."""
    if space not in BALL_SPACES:
        raise unknown_choice("sampler.space", space, BALL_SPACES)
    if radius is not None:
        number("sampler.radius", radius, at_least=0, meaning=f"a distance in the sampler's space ({space})")
        return None
    if ctx.clustering is None:
        raise UserError("sampler.radius: ball counts need a radius to count within, or the run's set-cover "
                        "`clustering` whose ball counts to use; give one of them")
    counts = _clustering(ctx, "sampler.radius").ball_counts
    return torch.as_tensor(counts, dtype=torch.float32, device=ctx.device)


@torch.no_grad()
def _ball_counts_now(ctx: TrainContext, radius: float, space: str, grads: torch.Tensor | None = None) -> torch.Tensor:
    """Points of the same training label within `radius` of each point, in `space` of the current model."""
    if space == "features":
        vectors = torch.from_numpy(extract(ctx.model, ctx.data, "features"))
        vectors = vectors / vectors.norm(dim=1, keepdim=True).clamp_min(torch.finfo(torch.float32).tiny)
    else:
        vectors = softmax_gradients(ctx) if grads is None else grads
    counts = per_class_ball_counts(vectors, ctx.data.splits["train"].labels, radius, ctx.device)
    return torch.from_numpy(counts).float().to(ctx.device)


def _warmup(value, at_least: int) -> int:
    return integer("sampler.warmup_epochs", value, at_least=at_least,
                   meaning="full-data epochs before selecting or weighting")


def _normalised(weights: torch.Tensor | None) -> torch.Tensor | None:
    """A batch's weights scaled to sum to 1 (section 5.3: keeps the gradients from exploding)."""
    return None if weights is None else weights / weights.sum()


def _on(device: torch.device | str, tensor: torch.Tensor | None) -> torch.Tensor | None:
    return None if tensor is None else tensor.to(device)


# --- online facility location ---

class FacilityLocationSampler(Sampler):
    """Full data while warming up, then each epoch the facilities of the last gradients, in greedy order."""

    def __init__(self, ctx: TrainContext, ratio: float, warmup_epochs: int, reselect: bool, weights: str,
                 ball_counts: torch.Tensor | None, radius: float | None, space: str):
        self.batch_size, self.device = batch_size(ctx), ctx.device
        self.everyone = SubsetSampler(torch.arange(len(ctx.data), device=ctx.device), self.batch_size, shuffle=True)
        self.ratio, self.warmup_epochs, self.reselect = ratio, warmup_epochs, reselect
        self.weighting, self.ball_counts, self.radius, self.space = weights, ball_counts, radius, space
        self.selection: torch.Tensor | None = None  # int64 [k] training positions, greedy order
        self.weights: torch.Tensor | None = None  # float32 [k] aligned with selection; None: equal

    def steps_per_epoch(self) -> int:
        """Batches of the coming epoch: the full data until the first selection, then the selection's."""
        if self.selection is None:
            return self.everyone.steps_per_epoch()
        return math.ceil(len(self.selection) / self.batch_size)

    def batches(self, ctx: TrainContext):
        if self.selection is None:
            yield from self.everyone.batches(ctx)
            return
        for start in range(0, len(self.selection), self.batch_size):
            part = slice(start, start + self.batch_size)
            yield Batch(self.selection[part], _normalised(None if self.weights is None else self.weights[part]))

    def end_epoch(self, ctx: TrainContext) -> None:
        if ctx.epoch < self.warmup_epochs or (self.selection is not None and not self.reselect):
            return
        grads = softmax_gradients(ctx)
        labels = ctx.data.splits["train"].labels
        chosen = per_class_facility_location(grads, labels, self.ratio, ctx.device)
        self.selection = torch.from_numpy(chosen.indices).to(ctx.device)
        if self.weighting == "size":
            self.weights = torch.from_numpy(chosen.sizes).float().to(ctx.device)
        elif self.weighting == "ball":
            counts = self.ball_counts if self.radius is None else _ball_counts_now(ctx, self.radius, self.space, grads)
            self.weights = counts[self.selection]
        else:
            self.weights = None

    def state_dict(self) -> dict:
        return {"selection": _on("cpu", self.selection), "weights": _on("cpu", self.weights)}

    def load_state_dict(self, state: dict) -> None:
        self.selection, self.weights = _on(self.device, state["selection"]), _on(self.device, state["weights"])


@SAMPLERS.register("facility_location")
def facility_location(ctx: TrainContext, *, ratio: float, warmup_epochs: int = DEFAULT_WARMUP_EPOCHS,
                      reselect: bool = True, weights: str = "size", radius: float | None = None,
                      space: str = "grad_softmax") -> Sampler:
    """Online facility location on softmax gradients (6.1.2, 6.2).

    ratio: share of every class selected. warmup_epochs: full-data epochs; the first selection
    is made at the end of epoch `warmup_epochs`. reselect: select again at the end of every
    later epoch (6.1.2); false keeps the first selection (6.2: computed once at the lr decay).
    weights: "size" (cluster sizes, normalised over the batch), "equal", or "ball": ball counts
    within `radius` in `space` at each selection, or those of the run's set-cover clustering.
    """
    number("sampler.ratio", ratio, above=0, at_most=1, meaning="the share of each class to train on")
    if not isinstance(reselect, bool):
        raise UserError(f"sampler.reselect: true or false; got {reselect!r}")
    if weights not in FACILITY_WEIGHTS:
        raise unknown_choice("sampler.weights", weights, FACILITY_WEIGHTS)
    ball_counts = None
    if weights == "ball":
        ball_counts = _ball_source(ctx, radius, space)
    elif radius is not None:
        raise UserError(f"sampler.radius: only used with weights: ball; got weights: {weights}")
    return FacilityLocationSampler(ctx, float(ratio), _warmup(warmup_epochs, 1), reselect, weights, ball_counts,
                                   None if radius is None else float(radius), space)


# --- ball counts as weights on the full data ---

class BallWeightedSampler(Sampler):
    """Every example every epoch, shuffled; after the warm-up each weighted by its ball count."""

    def __init__(self, ctx: TrainContext, warmup_epochs: int, ball_counts: torch.Tensor | None, radius: float | None,
                 space: str):
        self.device, self.space = ctx.device, space
        self.everyone = SubsetSampler(torch.arange(len(ctx.data), device=ctx.device), batch_size(ctx), shuffle=True)
        self.warmup_epochs, self.radius = warmup_epochs, radius
        self.counts = ball_counts  # float32 [N]; with a radius, counted at the end of the warm-up

    def steps_per_epoch(self) -> int:
        return self.everyone.steps_per_epoch()

    def batches(self, ctx: TrainContext):
        weighted = ctx.epoch > self.warmup_epochs
        for batch in self.everyone.batches(ctx):
            yield Batch(batch.indices, _normalised(self.counts[batch.indices]) if weighted else None)

    def end_epoch(self, ctx: TrainContext) -> None:
        if self.radius is not None and ctx.epoch == self.warmup_epochs:
            self.counts = _ball_counts_now(ctx, self.radius, self.space)

    def state_dict(self) -> dict:
        return {"counts": _on("cpu", self.counts) if self.radius is not None else None}

    def load_state_dict(self, state: dict) -> None:
        if self.radius is not None:
            self.counts = _on(self.device, state["counts"])


@SAMPLERS.register("ball_weighted")
def ball_weighted(ctx: TrainContext, *, warmup_epochs: int, radius: float | None = None,
                  space: str = "grad_softmax") -> Sampler:
    """6.2 "Weighted only": the full data, weighted by ball counts from epoch warmup_epochs + 1 on.

    Ball counts are counted within `radius` in `space` at the end of epoch `warmup_epochs`
    (>= 1), or come from the run's set-cover clustering (then warmup_epochs may be 0).
    """
    counts = _ball_source(ctx, radius, space)
    warmup = _warmup(warmup_epochs, 0 if counts is not None else 1)
    return BallWeightedSampler(ctx, warmup, counts, None if radius is None else float(radius), space)


# --- data covered ---

def selection_start(sampler: dict) -> int:
    """The first epoch a sampler trains on a selection of its own: after facility location's warm-up, else 1."""
    if sampler.get("name") == "facility_location":
        return sampler.get("warmup_epochs", DEFAULT_WARMUP_EPOCHS) + 1
    return 1


@METRICS.register("data_covered")
class DataCovered(EpochMetric):
    """Share of training examples trained on at least once since the sampler started selecting.

    Section 6.1.2's "Data covered": the points seen "during the stable training stage", i.e.
    after facility location's warm-up (NaN during it); for other samplers, since epoch 1.
    """

    columns = ("data_covered",)

    def __init__(self, ctx: TrainContext):
        self.start = selection_start(ctx.run["sampler"])
        self.seen = torch.zeros(len(ctx.data), dtype=torch.bool, device=ctx.device)

    def after_step(self, ctx: TrainContext, batch: Batch, result: StepResult) -> None:
        if ctx.epoch >= self.start:
            self.seen[result.indices] = True

    def result(self, ctx: TrainContext) -> dict[str, float]:
        return {"data_covered": self.seen.sum().item() / len(self.seen) if ctx.epoch >= self.start else math.nan}

    def state_dict(self) -> dict:
        return {"seen": self.seen.cpu()}

    def load_state_dict(self, state: dict) -> None:
        self.seen.copy_(state["seen"])

"""Seed 004 chapter 2's samplers: loss_order, loss_sample, loss_delta (training/methods/ordering.py)."""

from itertools import islice
import math

import pytest
import torch

from robustrepro.errors import UserError
from robustrepro.runs import resolve
from robustrepro.training import Batch, Trainer
from robustrepro.training.checkpoint import load_checkpoint, save_checkpoint
from robustrepro.training.context import StepResult
from robustrepro.training.methods.ordering import LossOrderer, LossSampler, weighted_draw
from robustrepro.training.metrics import EpochMetric
from robustrepro.training.seeding import derive_seed, make_generator

from toydata import toy_data

CPU = torch.device("cpu")
N, B = 300, 32  # 10 batches an epoch, the last of 12
STEPS = math.ceil(N / B)
LENET = {"name": "lenet", "width": 0.5}
WRN = {"name": "wrn", "depth": 10, "widen": 1, "width": 0.5}  # pre-activation, BatchNorm in every block
# Momentum, Nesterov and weight decay: what a trial must roll back and vmap trials must copy.
SGD = {"name": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4}


@pytest.fixture(scope="module")
def toy():
    return toy_data(n_train=N, n_test=100, n_val=0)


def make_trainer(toy, sampler, model=LENET, epochs=2, **changes) -> Trainer:
    run = resolve({"model": model, "batch_size": B, "epochs": epochs, "optimizer": SGD, "sampler": sampler, **changes})
    return Trainer(run, *toy, CPU)


class Recorder(EpochMetric):
    """Every trained batch's indices and the sampler's scores for it."""

    def __init__(self, sampler):
        self.sampler, self.batches, self.scores = sampler, [], []

    def after_step(self, ctx, batch, result):
        self.batches.append((ctx.epoch, batch.indices.clone()))
        scores = getattr(self.sampler, "last_scores", None)
        self.scores.append(None if scores is None else scores.clone())

    def result(self, ctx):
        return {}


def recorded(trainer: Trainer) -> Recorder:
    recorder = Recorder(trainer.sampler)
    trainer.metrics.append(recorder)
    return recorder


def watched(trainer: Trainer, explain, steps: int):
    """Train `steps` steps; before each, `explain(ctx, candidates)` recomputes the choice by hand.

    Returns (trained batch, sampler's candidates, sampler's scores, explain's result) per step
    that had a choice to make."""
    trainer.start_epoch()
    ctx, sampler, seen = trainer.ctx, trainer.sampler, []

    def batches():
        for batch in sampler.batches(ctx):
            candidates = list(sampler.last_candidates)
            seen.append((batch.indices, candidates, sampler.last_scores.clone(), explain(ctx, candidates)))
            yield batch

    trainer.train_steps(islice(batches(), steps))
    return seen


def fit(trainer: Trainer) -> None:
    while not trainer.finished:
        trainer.fit_epoch()


# --- constructed cases: a context whose losses are a fixed table ---

class TableContext:
    """What the samplers use of a TrainContext: the epoch's generators and ctx.score, here a lookup."""

    def __init__(self, losses: torch.Tensor, epoch: int = 1):
        self.losses, self.epoch, self.seed = losses, epoch, 0

    def generator(self, purpose):
        return make_generator(derive_seed(self.seed, self.epoch, purpose))

    def score(self, indices, role="train"):
        return StepResult(self.losses[indices], None, None, indices)


@pytest.mark.parametrize("order, pick", [("ascending", min), ("descending", max)])
def test_loss_order_trains_on_the_candidate_of_lowest_or_highest_mean_loss(order, pick):
    losses = torch.rand(N, generator=torch.Generator().manual_seed(0))
    ctx = TableContext(losses)
    sampler = LossOrderer(N, B, 4, CPU, order)
    for step, batch in enumerate(sampler.batches(ctx)):
        if step < STEPS - 1:  # the last batch of the epoch is the only one left: no choice
            means = [losses[c].mean().item() for c in sampler.last_candidates]
            assert len(means) == min(4, STEPS - step)
            assert losses[batch.indices].mean().item() == pick(means)


def test_loss_order_and_loss_delta_train_on_every_example_once_an_epoch(toy):
    for sampler in ({"name": "loss_order", "candidates": 3}, {"name": "loss_order", "candidates": 3, "order": "descending"},
                    {"name": "loss_delta", "candidates": 3, "trials": "sequential"},
                    {"name": "loss_delta", "candidates": 3, "trials": "vmap", "score_on": "external"}):
        trainer = make_trainer(toy, sampler)
        recorder = recorded(trainer)
        fit(trainer)
        assert trainer.ctx.global_step == 2 * STEPS == 2 * trainer.sampler.steps_per_epoch()
        orders = []
        for epoch in (1, 2):
            indices = torch.cat([b for e, b in recorder.batches if e == epoch])
            assert torch.equal(indices.sort().values, torch.arange(N)), sampler
            orders.append(indices)
        assert not torch.equal(orders[0], orders[1])  # a new shuffle, new draws, each epoch
        assert all(math.isfinite(row["test_acc1"]) for row in trainer.history)


def test_loss_order_choice_matches_the_context_scores_of_a_real_model(toy):
    def explain(ctx, candidates):
        return torch.stack([ctx.score(c).losses.mean() for c in candidates])

    trainer = make_trainer(toy, {"name": "loss_order", "candidates": 4}, model=WRN)
    for indices, candidates, scores, means in watched(trainer, explain, 5):
        assert torch.allclose(scores, -means, atol=1e-6)  # ascending: the score is the negated mean
        assert torch.equal(indices, candidates[int(means.argmin())])


# --- loss sampler ---

def test_weighted_draw_follows_the_losses():
    losses = torch.tensor([0.0, 1.0, 3.0, 6.0])
    generator = torch.Generator().manual_seed(0)
    draws = 8000
    for weighting, want in (("direct", [0, 0.1, 0.3, 0.6]), ("inverse", None)):
        counts = torch.zeros(4)
        for _ in range(draws):
            counts[weighted_draw(losses, torch.rand(4, generator=generator, dtype=torch.float64), 1, weighting)] += 1
        if weighting == "direct":
            assert counts[0] == 0  # a zero loss is never drawn while positive ones are left
            assert torch.allclose(counts / draws, torch.tensor(want), atol=0.02)
        else:
            assert counts[0] == draws  # an infinite weight: always drawn first
    inverse = torch.tensor([1.0, 2.0, 4.0])
    counts = torch.zeros(3)
    for _ in range(draws):
        counts[weighted_draw(inverse, torch.rand(3, generator=generator, dtype=torch.float64), 1, "inverse")] += 1
    assert torch.allclose(counts / draws, torch.tensor([4, 2, 1]) / 7, atol=0.02)


def test_weighted_draw_is_without_replacement():
    losses = torch.tensor([0.0, 0.0, 1.0, 2.0, 3.0])
    for seed in range(50):
        uniforms = torch.rand(5, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        drawn = weighted_draw(losses, uniforms, 3, "direct")
        assert sorted(drawn.tolist()) == [2, 3, 4]  # the three positive ones before any zero
        drawn = weighted_draw(losses, uniforms, 4, "direct")
        assert len(set(drawn.tolist())) == 4 and {2, 3, 4} <= set(drawn.tolist())


def test_loss_sample_never_draws_a_zero_loss_example_under_direct_weighting():
    losses = torch.rand(N, generator=torch.Generator().manual_seed(1)) + 0.1
    losses[::2] = 0  # half the examples: fewer than K x B / 2 of any pool of 4 batches' worth
    sampler = LossSampler(N, B, 4, "direct", CPU)
    batches = list(sampler.batches(TableContext(losses)))
    assert len(batches) == sampler.steps_per_epoch() == STEPS
    for batch in batches:
        assert len(batch.indices) == B == len(torch.unique(batch.indices))
        assert (losses[batch.indices] > 0).all()
    inverse = LossSampler(N, B, 4, "inverse", CPU)
    picked = torch.cat([b.indices for b in inverse.batches(TableContext(losses))])
    assert (losses[picked] == 0).all()  # each pool holds more than B zero losses: those come first


def test_loss_sample_trains_end_to_end(toy):
    trainer = make_trainer(toy, {"name": "loss_sample", "candidates": 4, "weighting": "inverse"})
    recorder = recorded(trainer)
    fit(trainer)
    assert trainer.ctx.global_step == 2 * STEPS
    assert all(len(torch.unique(b)) == B for _, b in recorder.batches)
    assert all(math.isfinite(row["test_acc1"]) for row in trainer.history)


# --- loss delta ---

def explicit_trial(score_on, external):
    """The loss drop of one update on each candidate, done by hand with ctx.rollback."""

    def explain(ctx, candidates):
        drops = []
        for batch in candidates:
            on, role = (batch, "train") if score_on == "same" else (external(), "test")
            before = ctx.score(on, role).losses.mean()
            with ctx.rollback():
                ctx.update(Batch(batch, None))
                drops.append(before - ctx.score(on, role).losses.mean())
        return torch.stack(drops)

    return explain


@pytest.mark.parametrize("score_on", ["same", "external"])
@pytest.mark.parametrize("trials", ["sequential", "vmap"])
def test_loss_delta_trains_on_the_largest_loss_drop(toy, score_on, trials):
    trainer = make_trainer(toy, {"name": "loss_delta", "candidates": 4, "score_on": score_on, "trials": trials,
                                 "external_size": 64})
    explain = explicit_trial(score_on, lambda: trainer.sampler.external)
    for indices, candidates, scores, drops in watched(trainer, explain, 4):
        assert torch.allclose(scores, drops, atol=1e-5)
        assert torch.equal(indices, candidates[int(drops.argmax())])
    if score_on == "external":
        assert len(trainer.sampler.external) == 64 == len(torch.unique(trainer.sampler.external))
        assert trainer.sampler.summary() == {"loss_delta_external_size": 64}


def test_external_batch_is_the_whole_test_split_when_it_is_smaller(toy):
    trainer = make_trainer(toy, {"name": "loss_delta", "candidates": 2, "score_on": "external"})
    trainer.start_epoch()
    next(trainer.sampler.batches(trainer.ctx))
    assert torch.equal(trainer.sampler.external.sort().values, torch.arange(100))  # 512 asked, 100 there


def state_of(ctx):
    return ({k: v.clone() for k, v in ctx.model.state_dict().items()},
            {p: {k: v.clone() for k, v in s.items()} for p, s in ctx.optimizer.state.items()},
            torch.get_rng_state())


def test_a_sequential_trial_leaves_model_and_optimizer_bit_identical(toy):
    trainer = make_trainer(toy, {"name": "loss_delta", "candidates": 4, "trials": "sequential"}, model=WRN)
    trainer.start_epoch()
    batches = trainer.sampler.batches(trainer.ctx)
    trainer.train_steps(islice(batches, 2))  # momentum buffers exist, running stats have moved
    ctx = trainer.ctx
    weights, optimizer, rng = state_of(ctx)
    candidates = [torch.arange(i * B, (i + 1) * B) for i in range(4)]
    drops = trainer.sampler.scores(ctx, candidates)
    assert (drops != 0).all()  # the trials did update
    after = state_of(ctx)
    assert all(torch.equal(weights[k], after[0][k]) for k in weights)
    assert all(torch.equal(optimizer[p][k], after[1][p][k]) for p in optimizer for k in optimizer[p])
    assert torch.equal(rng, after[2])


@pytest.mark.parametrize("model", [LENET, WRN], ids=["lenet", "wrn"])
@pytest.mark.parametrize("score_on", ["same", "external"])
def test_vmap_and_sequential_trials_pick_the_same_batches(toy, model, score_on):
    runs = {}
    for trials in ("sequential", "vmap"):
        trainer = make_trainer(toy, {"name": "loss_delta", "candidates": 4, "trials": trials, "score_on": score_on,
                                     "external_size": 64}, model=model, iterations=6, epochs=None)
        recorder = recorded(trainer)
        fit(trainer)
        runs[trials] = recorder, trainer
    (seq, seq_trainer), (vm, vm_trainer) = runs["sequential"], runs["vmap"]
    assert len(seq.batches) == 6
    assert all(torch.equal(a, b) for (_, a), (_, b) in zip(seq.batches, vm.batches))
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(seq.scores, vm.scores))
    # The same batches trained through the same step: the same weights, bit for bit.
    assert all(torch.equal(v, vm_trainer.ctx.model.state_dict()[k]) for k, v in seq_trainer.ctx.model.state_dict().items())


# --- resuming within an epoch ---

class Interrupt(Exception):
    pass


def weights(trainer):
    return trainer.ctx.model.state_dict()


@pytest.mark.parametrize("sampler", [
    {"name": "loss_order", "candidates": 4},
    {"name": "loss_order", "candidates": 3, "order": "descending"},
    {"name": "loss_sample", "candidates": 3},
    {"name": "loss_delta", "candidates": 3, "trials": "sequential", "score_on": "external", "external_size": 50},
], ids=["loss_order", "loss_order_descending", "loss_sample", "loss_delta_external"])
def test_resumed_within_an_epoch_ends_exactly_like_an_uninterrupted_run(toy, tmp_path, sampler):
    whole = make_trainer(toy, sampler)
    fit(whole)
    interrupted = make_trainer(toy, sampler)
    path = tmp_path / "c.pt"

    def stop():
        if interrupted.ctx.global_step == STEPS + 6:  # within epoch 2: re-scoring its first 6 steps would differ
            save_checkpoint(path, interrupted.state_dict())
            raise Interrupt

    interrupted.on_step = stop
    with pytest.raises(Interrupt):
        fit(interrupted)
    resumed = make_trainer(toy, sampler)
    resumed.load_state_dict(load_checkpoint(path, resumed.run))
    assert resumed.step_in_epoch == 6
    fit(resumed)
    assert all(torch.equal(v, weights(whole)[k]) for k, v in weights(resumed).items())
    strip = [{k: v for k, v in row.items() if k != "time_s"} for row in whole.history]
    assert [{k: v for k, v in row.items() if k != "time_s"} for row in resumed.history] == strip


# --- options ---

@pytest.mark.parametrize("sampler, changes, key", [
    ({"name": "loss_order", "candidates": 4, "order": "random"}, {}, "sampler.order"),
    ({"name": "loss_order", "candidates": 0}, {}, "sampler.candidates"),
    ({"name": "loss_sample", "candidates": 2, "weighting": "square"}, {}, "sampler.weighting"),
    ({"name": "loss_sample", "candidates": 1.5}, {}, "sampler.candidates"),
    ({"name": "loss_delta", "candidates": 0}, {}, "sampler.candidates"),
    ({"name": "loss_delta", "candidates": 2, "score_on": "val"}, {}, "sampler.score_on"),
    ({"name": "loss_delta", "candidates": 2, "trials": "parallel"}, {}, "sampler.trials"),
    ({"name": "loss_delta", "candidates": 2, "external_size": 0}, {}, "sampler.external_size"),
    ({"name": "loss_delta", "candidates": 2, "trials": "vmap"}, {"optimizer": {"name": "adam"}}, "sampler.trials"),
    ({"name": "loss_delta", "candidates": 2, "trials": "vmap"}, {"step": {"name": "reweight"}}, "sampler.trials"),
    ({"name": "loss_delta", "candidates": 2, "trials": "vmap"}, {"model": {"name": "lenet", "dropout": 0.2}},
     "sampler.trials"),
])
def test_bad_options_name_the_key(toy, sampler, changes, key):
    run = resolve({"model": LENET, "batch_size": B, "optimizer": SGD, "sampler": sampler, **changes})
    with pytest.raises(UserError, match=key.replace(".", r"\.")) as error:
        Trainer(run, *toy, CPU)
    if sampler.get("trials") == "vmap":
        assert "trials: sequential" in str(error.value)  # says what to use instead

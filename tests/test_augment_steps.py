"""Seed 004 chapter 3's steps (training/methods/augment.py): sum augmentation, the gradual cascade's
coefficients and step, mixup and SamplePairing, on hand-made tensors and tiny end-to-end runs."""

import copy
import math
import re

import pytest
import torch
import torch.nn.functional as F

from robustrepro.errors import UserError
from robustrepro.runs import resolve
from robustrepro.training import STEPS, Batch, Trainer
from robustrepro.training.methods.augment import (beta_draw, cascade_coefficients, dominant_label, step_generator,
                                                   sum_images)

from toydata import CLASSES, toy_data

CPU = torch.device("cpu")
RUN = {"model": {"name": "mlp1", "width": 0.125}, "epochs": 2, "batch_size": 16,
       "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9}}


@pytest.fixture(scope="module")
def toy():
    # 100 training examples in batches of 16: the last batch has 4, fewer than 8 groups.
    return toy_data(n_train=120, n_test=40, n_val=20)


def trainer(toy, step: dict, **changes) -> Trainer:
    return Trainer(resolve({**RUN, "step": step, **changes}), *toy, CPU)


def first_batch(t: Trainer, size: int | None = None):
    ctx = t.ctx
    ctx.epoch = 1
    batch = next(iter(t.sampler.batches(ctx)))
    if size is not None:
        batch = Batch(batch.indices[:size], None)
    return batch, ctx.data.inputs("train", batch.indices), ctx.data.labels("train", batch.indices)


def bce_by_hand(logits, targets):
    p = torch.sigmoid(logits.double())
    t = targets.double()
    return (-(t * torch.log(p) + (1 - t) * torch.log(1 - p))).mean(1)


def test_the_steps_are_registered_with_robustrepro_training():
    from robustrepro.training.methods import MODULES
    assert "augment" in MODULES
    assert {"sum_augment", "gradual_sum", "mixup", "sample_pairing"} <= set(STEPS)


# --- sum_images ------------------------------------------------------------------------------------

def test_sum_images_means_by_position():
    x = torch.arange(6 * 4, dtype=torch.float32).reshape(6, 1, 2, 2)
    out = sum_images(x, 3)
    assert out.shape == (2, 1, 2, 2)
    for j in range(2):
        assert torch.allclose(out[j], (x[j] + x[2 + j] + x[4 + j]) / 3)
    y = torch.tensor([0, 1, 2, 0, 1, 1])
    targets = sum_images(F.one_hot(y, 3).float(), 3)
    # position 0 mixes labels 0, 2, 1; position 1 mixes 1, 0, 1
    assert torch.allclose(targets, torch.tensor([[1, 1, 1], [1, 2, 0]]) / 3)


def test_sum_images_with_coefficients_and_remainder():
    x = torch.arange(7, dtype=torch.float32)[:, None]  # 7 rows, 3 groups of 2: row 6 is dropped
    c = torch.tensor([0.5, 0.3, 0.2])
    out = sum_images(x, 3, c)
    assert torch.allclose(out[:, 0], torch.tensor([0.5 * 0 + 0.3 * 2 + 0.2 * 4, 0.5 * 1 + 0.3 * 3 + 0.2 * 5]))
    assert torch.equal(sum_images(x, 1), x)
    with pytest.raises(ValueError):
        sum_images(x, 8)
    with pytest.raises(ValueError):
        sum_images(x, 3, torch.ones(2))


def test_dominant_label_ties_go_to_the_first_group():
    targets = torch.tensor([[0.5, 0.5, 0.0], [0.25, 0.5, 0.25], [0.5, 0.0, 0.5]])
    first = torch.tensor([1, 0, 2])
    assert dominant_label(targets, first).tolist() == [1, 1, 2]


# --- sum_augment -----------------------------------------------------------------------------------

def test_sum_augment_loss_and_update_match_a_hand_computation(toy):
    t = trainer(toy, {"name": "sum_augment", "k": 4})
    batch, x, y = first_batch(t, size=10)  # 10 = 4 groups of 2, the last 2 examples dropped
    model = copy.deepcopy(t.ctx.model)
    mixed = (x[0:2] + x[2:4] + x[4:6] + x[6:8]) / 4
    onehot = F.one_hot(y, CLASSES).float()
    targets = (onehot[0:2] + onehot[2:4] + onehot[4:6] + onehot[6:8]) / 4
    logits = model(mixed)
    expected = bce_by_hand(logits, targets) / 4
    result = t.step(t.ctx, batch, x, y)
    assert result.losses.shape == (2,) and result.weights is None
    assert torch.allclose(result.losses.double(), expected, atol=1e-6)
    assert torch.equal(result.indices, batch.indices[:2])
    assert torch.equal(result.labels, dominant_label(targets, y[:2]))
    # The first SGD step (momentum buffer = gradient) moves by lr times the mean loss's gradient.
    expected.mean().backward()
    lr = t.ctx.optimizer.param_groups[0]["lr"]
    for (name, p), q in zip(t.ctx.model.named_parameters(), model.parameters()):
        assert torch.allclose(p, q - lr * q.grad, atol=1e-6), name


def test_sum_augment_k1_is_plain_cross_entropy(toy):
    t = trainer(toy, {"name": "sum_augment", "k": 1})
    batch, x, y = first_batch(t)
    expected = F.cross_entropy(copy.deepcopy(t.ctx.model)(x), y, reduction="none")
    result = t.step(t.ctx, batch, x, y)
    assert torch.allclose(result.losses, expected, atol=1e-6) and torch.equal(result.labels, y)


def test_sum_augment_batch_smaller_than_k_is_one_mix(toy):
    t = trainer(toy, {"name": "sum_augment", "k": 8})
    batch, x, y = first_batch(t, size=4)
    logits = copy.deepcopy(t.ctx.model)(x.mean(0, keepdim=True))
    expected = bce_by_hand(logits, F.one_hot(y, CLASSES).float().mean(0, keepdim=True)) / 4
    result = t.step(t.ctx, batch, x, y)
    assert result.losses.shape == (1,) and torch.allclose(result.losses.double(), expected, atol=1e-6)


def test_set_groups_changes_k_validates_and_resumes(toy):
    t = trainer(toy, {"name": "sum_augment", "k": 8})
    step = t.step
    step.set_groups(2)
    assert step.k == 2
    batch, x, y = first_batch(t)
    assert len(step(t.ctx, batch, x, y).losses) == 8
    for bad in (3, 0, 32, 2.0, True):
        with pytest.raises(UserError, match=r"^step\.k:"):
            step.set_groups(bad)
    assert step.k == 2
    other = trainer(toy, {"name": "sum_augment", "k": 8}).step
    other.load_state_dict(step.state_dict())
    assert other.k == 2


@pytest.mark.parametrize("step, key", [
    ({"name": "sum_augment", "k": 3}, "step.k"),  # 3 does not divide the batch size 16
    ({"name": "sum_augment", "k": 0}, "step.k"),
    ({"name": "sum_augment"}, "step.k"),
    ({"name": "gradual_sum", "k": 1, "epochs": 1}, "step.k"),
    ({"name": "gradual_sum", "k": 4, "epochs": 0}, "step.epochs"),
    ({"name": "gradual_sum", "k": 4}, "step.epochs"),
    ({"name": "mixup", "alpha": 0}, "step.alpha"),
    ({"name": "mixup", "alpha": "1"}, "step.alpha"),
    ({"name": "sample_pairing"}, "step.until_epoch"),
    ({"name": "sample_pairing", "from_epoch": 3, "until_epoch": 2}, "step.until_epoch"),
    ({"name": "sample_pairing", "until_epoch": 5, "off_epochs": 2}, "step.on_epochs"),
    ({"name": "sample_pairing", "until_epoch": 5, "on_epochs": 0}, "step.on_epochs"),
])
def test_bad_options_name_the_key(toy, step, key):
    with pytest.raises(UserError, match=f"^{re.escape(key)}:"):
        trainer(toy, step)


# --- cascade_coefficients --------------------------------------------------------------------------

GRID = torch.linspace(0, 1, 4001, dtype=torch.float64)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 8])
def test_cascade_coefficients_properties(k):
    assert torch.allclose(cascade_coefficients(k, 0.0), torch.full((k,), 1 / k))
    assert torch.equal(cascade_coefficients(k, 1.0), F.one_hot(torch.tensor(0), k).float())
    c = cascade_coefficients(k, GRID)
    assert c.shape == (len(GRID), k) and c.dtype == torch.float64
    assert (c >= 0).all()
    assert torch.allclose(c.sum(1), torch.ones(len(GRID), dtype=torch.float64))
    zeros = (c <= 1e-12).sum(1)
    assert (zeros.diff() >= 0).all() and zeros[0] == 0 and zeros[-1] == k - 1
    # Coefficients leave one at a time, the last first: the zeros are always a suffix.
    assert all(c[i, k - int(z):].abs().max() <= 1e-12 for i, z in enumerate(zeros.tolist()) if z)
    # Continuous: no jump between neighbouring grid points (slope bounded by a few k).
    assert c.diff(dim=0).abs().max() <= 4 * k / (len(GRID) - 1)
    # The main coefficients stay equal; only the last one in use moves differently.
    for row, z in zip(c, zeros.tolist()):
        in_use = k - z
        if in_use > 2:
            assert torch.allclose(row[:in_use - 1], row[0].expand(in_use - 1))


def test_cascade_coefficients_elimination_points():
    # With k = 5 the fourth coefficient is gone at g = 1/4, the third at 1/2, and so on.
    for i, g in enumerate([0.25, 0.5, 0.75], start=1):
        c = cascade_coefficients(5, g)
        assert torch.allclose(c[:5 - i], torch.full((5 - i,), 1 / (5 - i))) and (c[5 - i:] == 0).all()
    assert torch.equal(cascade_coefficients(4, -1.0), cascade_coefficients(4, 0.0))
    assert torch.equal(cascade_coefficients(4, 2.0), cascade_coefficients(4, 1.0))


# --- gradual_sum -----------------------------------------------------------------------------------

def test_gradual_sum_starts_as_sum_augment_and_ends_plain(toy):
    gradual = trainer(toy, {"name": "gradual_sum", "k": 4, "epochs": 1})
    plain = trainer(toy, {"name": "sum_augment", "k": 4})
    batch, x, y = first_batch(gradual)
    gradual.ctx.steps_per_epoch = plain.ctx.steps_per_epoch = 7
    assert gradual.step.granularity(gradual.ctx) == 0
    a, b = gradual.step(gradual.ctx, batch, x, y), plain.step(plain.ctx, batch, x, y)
    assert torch.allclose(a.losses, b.losses, atol=1e-6) and torch.equal(a.labels, b.labels)
    # Half way: 4 - floor(0.5 * 3) = 3 groups of 5 mixed with the coefficients, BCE / 4.
    fresh = trainer(toy, {"name": "gradual_sum", "k": 4, "epochs": 1})
    ctx = fresh.ctx
    ctx.epoch, ctx.steps_per_epoch, ctx.global_step = 1, 8, 4
    assert fresh.step.granularity(ctx) == 0.5
    c = cascade_coefficients(4, 0.5)[:3]
    mixed = c[0] * x[0:5] + c[1] * x[5:10] + c[2] * x[10:15]
    onehot = F.one_hot(y, CLASSES).float()
    targets = c[0] * onehot[0:5] + c[1] * onehot[5:10] + c[2] * onehot[10:15]
    expected = bce_by_hand(copy.deepcopy(ctx.model)(mixed), targets) / 4
    result = fresh.step(ctx, batch, x, y)
    assert torch.allclose(result.losses.double(), expected, atol=1e-6)
    assert torch.equal(result.labels, y[:5])  # the first group's coefficient is the largest
    # Past the cascade: plain cross-entropy on the whole batch.
    ctx.global_step = 8
    expected = F.cross_entropy(copy.deepcopy(ctx.model)(x), y, reduction="none")
    assert torch.allclose(fresh.step(ctx, batch, x, y).losses, expected, atol=1e-6)


# --- mixup -----------------------------------------------------------------------------------------

def test_beta_draws_are_in_range_and_seeded():
    draws = [beta_draw(torch.Generator().manual_seed(s), 0.4) for s in range(200)]
    assert all(0 <= d <= 1 for d in draws) and len(set(draws)) > 150
    assert beta_draw(torch.Generator().manual_seed(7), 0.4) == beta_draw(torch.Generator().manual_seed(7), 0.4)
    assert abs(sum(draws) / len(draws) - 0.5) < 0.1


def test_mixup_loss_is_the_hand_formula(toy):
    t = trainer(toy, {"name": "mixup", "alpha": 1.0})
    batch, x, y = first_batch(t)
    ctx = t.ctx
    ctx.global_step = 3
    lam = beta_draw(step_generator(ctx, "mixup", "cpu"), 1.0)
    perm = torch.randperm(len(x), generator=step_generator(ctx, "mixup_pairs"))
    logits = copy.deepcopy(ctx.model)(lam * x + (1 - lam) * x[perm])
    expected = lam * F.cross_entropy(logits, y, reduction="none") + \
        (1 - lam) * F.cross_entropy(logits, y[perm], reduction="none")
    result = t.step(ctx, batch, x, y)
    assert torch.allclose(result.losses, expected, atol=1e-6)
    assert torch.equal(result.labels, y if lam >= 0.5 else y[perm])
    # Another step, another lambda; the same step, the same one.
    ctx.global_step = 4
    assert beta_draw(step_generator(ctx, "mixup", "cpu"), 1.0) != lam
    ctx.global_step = 3
    assert beta_draw(step_generator(ctx, "mixup", "cpu"), 1.0) == lam


# --- sample_pairing --------------------------------------------------------------------------------

def test_sample_pairing_schedule():
    step = STEPS.build({"name": "sample_pairing", "from_epoch": 2, "until_epoch": 9, "on_epochs": 2,
                        "off_epochs": 1}, None)
    assert [e for e in range(1, 12) if step.pairing(e)] == [2, 3, 5, 6, 8, 9]
    always = STEPS.build({"name": "sample_pairing", "until_epoch": 3}, None)
    assert [e for e in range(1, 6) if always.pairing(e)] == [1, 2, 3]


def test_sample_pairing_on_and_off(toy):
    t = trainer(toy, {"name": "sample_pairing", "until_epoch": 1})
    batch, x, y = first_batch(t)
    ctx = t.ctx
    model = copy.deepcopy(ctx.model)
    order = torch.randperm(len(x), generator=step_generator(ctx, "sample_pairing"))
    partner = torch.empty_like(order)
    partner[order] = order.roll(1)
    assert (partner != torch.arange(len(x))).all() and sorted(partner.tolist()) == list(range(len(x)))
    expected = F.cross_entropy(model((x + x[partner]) / 2), y, reduction="none")
    result = t.step(ctx, batch, x, y)
    assert torch.allclose(result.losses, expected, atol=1e-6) and torch.equal(result.labels, y)
    ctx.epoch = 2  # past until_epoch: plain fine-tuning
    expected = F.cross_entropy(copy.deepcopy(ctx.model)(x), y, reduction="none")
    assert torch.allclose(t.step(ctx, batch, x, y).losses, expected, atol=1e-6)


# --- end to end ------------------------------------------------------------------------------------

STEP_CONFIGS = [
    {"name": "sum_augment", "k": 8},
    {"name": "sum_augment", "k": 2},
    {"name": "gradual_sum", "k": 4, "epochs": 1},
    {"name": "mixup", "alpha": 0.4},
    {"name": "sample_pairing", "until_epoch": 1},
]


def train(t: Trainer) -> list[dict]:
    while not t.finished:
        t.fit_epoch(progress=False)
    return [{k: v for k, v in row.items() if k != "time_s"} for row in t.history]


@pytest.mark.parametrize("step", STEP_CONFIGS, ids=lambda s: s["name"] + str(s.get("k", "")))
def test_every_step_trains_end_to_end_deterministically(toy, step):
    a, b = trainer(toy, step), trainer(toy, step)
    rows_a, rows_b = train(a), train(b)
    assert len(rows_a) == 2 and all(math.isfinite(row["train_loss"]) for row in rows_a)
    assert rows_a == rows_b
    for (key, pa), pb in zip(a.ctx.model.state_dict().items(), b.ctx.model.state_dict().values()):
        assert torch.equal(pa, pb), key

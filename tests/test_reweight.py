"""Seed 001's learning-to-reweight step: its weights against an explicit copy with a manual
virtual step and finite differences, the cases the algorithm names, and a whole run."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from robustrepro.errors import UserError
from robustrepro.runs import resolve
from robustrepro.training import Batch, Trainer
from robustrepro.training.methods.reweight import reweight

from toydata import toy_data

ALPHA = 0.1


def tiny_net(seed=0, batch_norm=False):
    torch.manual_seed(seed)
    layers = [nn.Flatten(), nn.Linear(6, 5)] + ([nn.BatchNorm1d(5)] if batch_norm else []) + [nn.Tanh(),
                                                                                               nn.Linear(5, 3)]
    return nn.Sequential(*layers).double()


def problem(seed=1, n=8, m=5):
    g = torch.Generator().manual_seed(seed)
    x, clean_x = torch.randn(n, 6, generator=g, dtype=torch.float64), torch.randn(m, 6, generator=g, dtype=torch.float64)
    return x, torch.randint(0, 3, (n,), generator=g), clean_x, torch.randint(0, 3, (m,), generator=g)


def clean_loss_after_virtual_step(model, x, y, clean_x, clean_y, eps):
    """l_g at theta - alpha * d(sum eps_i C_i)/d theta, on an explicit copy of the model."""
    virtual = copy.deepcopy(model)
    losses = F.cross_entropy(model(x), y, reduction="none")
    grads = torch.autograd.grad((eps * losses).sum(), list(model.parameters()))
    with torch.no_grad():
        for p, g in zip(virtual.parameters(), grads):
            p -= ALPHA * g
    return F.cross_entropy(virtual(clean_x), clean_y).item()


def reference_weights(model, x, y, clean_x, clean_y, h=1e-4):
    """Algorithm 1's weights from central finite differences of l_g in each eps_i."""
    n = len(y)
    grad_eps = torch.empty(n, dtype=torch.float64)
    for i in range(n):
        e = torch.zeros(n, dtype=torch.float64)
        e[i] = h
        up = clean_loss_after_virtual_step(model, x, y, clean_x, clean_y, e)
        down = clean_loss_after_virtual_step(model, x, y, clean_x, clean_y, -e)
        grad_eps[i] = (up - down) / (2 * h)
    w = torch.clamp(-grad_eps, min=0)
    return w / w.sum() if w.sum() > 0 else w


def weights_of(model, x, y, clean_x, clean_y):
    logits, losses, w = reweight(model, x, y, clean_x, clean_y)
    # The logits and losses are the training forward, ready for the real update.
    torch.testing.assert_close(logits, model(x))
    torch.testing.assert_close(losses, F.cross_entropy(model(x), y, reduction="none"))
    assert losses.grad_fn is not None and not w.requires_grad
    return w


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_weights_equal_finite_differences_of_the_clean_loss_on_an_explicit_copy(seed):
    model = tiny_net(seed)
    x, y, clean_x, clean_y = problem(seed)
    w = weights_of(model, x, y, clean_x, clean_y)
    expected = reference_weights(model, x, y, clean_x, clean_y)
    assert (expected > 0).any() and (expected == 0).any()  # a case with both kinds of example
    torch.testing.assert_close(w, expected, atol=1e-7, rtol=1e-6)
    assert w.sum().item() == pytest.approx(1.0)


def test_weights_are_the_gradient_agreement_with_the_clean_batch():
    """At eps = 0 the virtual step is theta, so -dl_g/deps_i = alpha * grad C_i . grad l_g (per-example loop)."""
    model = tiny_net(3)
    x, y, clean_x, clean_y = problem(3)
    params = list(model.parameters())
    clean = torch.autograd.grad(F.cross_entropy(model(clean_x), clean_y), params)
    agreement = torch.stack([
        sum((gi * gc).sum() for gi, gc in zip(torch.autograd.grad(F.cross_entropy(model(x[i:i + 1]), y[i:i + 1]),
                                                                    params), clean))
        for i in range(len(y))])
    expected = torch.clamp(ALPHA * agreement, min=0)
    torch.testing.assert_close(weights_of(model, x, y, clean_x, clean_y), expected / expected.sum())


def test_an_example_that_contradicts_the_clean_set_gets_weight_zero():
    torch.manual_seed(0)
    model = nn.Linear(2, 2).double()
    with torch.no_grad():  # a classifier that already leans the right way: class = sign of the first input
        model.weight.copy_(torch.tensor([[-0.5, 0.0], [0.5, 0.0]]))
        model.bias.zero_()
    points = torch.tensor([[-1.0, 0.3], [1.0, -0.2], [-2.0, 0.1], [2.0, 0.5]], dtype=torch.float64)
    right = torch.tensor([0, 1, 0, 1])
    labels = right.clone()
    labels[3] = 0  # mislabelled: contradicts the clean examples
    w = weights_of(model, points, labels, points, right)
    assert w[3] == 0 and (w[:3] > 0).all()


def test_all_zero_weights_stay_zero_and_the_update_changes_nothing():
    model = nn.Linear(2, 2).double()
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[-0.5, 0.0], [0.5, 0.0]]))
        model.bias.zero_()
    points = torch.tensor([[-1.0, 0.0], [1.0, 0.0]], dtype=torch.float64)
    wrong = torch.tensor([1, 0])
    _, losses, w = reweight(model, points, wrong, points, torch.tensor([0, 1]))
    assert torch.equal(w, torch.zeros(2, dtype=torch.float64))
    (w * losses).sum().backward()  # what the step does next: a zero gradient, no NaN
    assert all(torch.equal(p.grad, torch.zeros_like(p)) for p in model.parameters())


def test_batch_norm_running_statistics_move_only_with_the_training_forward():
    model = tiny_net(4, batch_norm=True).train()
    plain = copy.deepcopy(model)
    x, y, clean_x, clean_y = problem(4)
    reweight(model, x, y, clean_x, clean_y)
    plain(x)  # one training forward of the batch, as a plain step makes
    for (name, mine), theirs in zip(model.named_buffers(), plain.buffers()):
        assert torch.equal(mine, theirs), name


# --- as a step of a run ---

RUN = {"model": {"name": "lenet", "width": 0.5}, "batch_size": 32, "iterations": 30,
       "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9}, "step": {"name": "reweight"}}


def test_a_reweighted_run_trains_and_repeats_exactly():
    prepared, view = toy_data(n_train=300, n_test=100, n_val=20)  # 20 clean holdout examples
    histories = []
    for _ in range(2):
        trainer = Trainer(resolve(RUN), prepared, view, torch.device("cpu"))
        while not trainer.finished:
            trainer.fit_epoch()
        histories.append([{k: v for k, v in row.items() if k != "time_s"} for row in trainer.history])
        w = trainer.step.last_weights
        assert w.shape == (32,) and w.sum().item() == pytest.approx(1.0)
    assert histories[0] == histories[1]
    assert trainer.step.clean_batch == 20  # the batch size, capped at the holdout


def test_the_step_needs_a_holdout_and_refuses_sampler_weights():
    prepared, view = toy_data(n_train=300, n_test=100, n_val=0)
    with pytest.raises(UserError, match="needs clean examples: give the run a holdout"):
        Trainer(resolve(RUN), prepared, view, torch.device("cpu"))
    prepared, view = toy_data(n_train=300, n_test=100, n_val=20)
    trainer = Trainer(resolve(RUN), prepared, view, torch.device("cpu"))
    trainer.ctx.epoch = 1
    indices = torch.arange(4)
    with pytest.raises(UserError, match="computes its own example weights"):
        trainer.step(trainer.ctx, Batch(indices, torch.ones(4)), trainer.ctx.data.inputs("train", indices),
                     trainer.ctx.data.labels("train", indices))


def test_the_example_weights_step_metric_shows_how_the_update_spread_its_weight(tmp_path):
    import csv

    from robustrepro.training import train_run
    from toydata import save_toy

    prepared, view = toy_data(n_train=300, n_test=100, n_val=20, noisy=0.4)
    save_toy(tmp_path / "toy.npz", tmp_path / "view.npz", prepared, view)
    rows = {}
    for step in ("weighted", "reweight"):
        run = {**RUN, "step": {"name": step}, "step_log": {"every": 1, "metrics": ["example_weights"]}}
        out = tmp_path / step
        train_run(run, tmp_path / "toy.npz", tmp_path / "view.npz", out, out / "c.pt", device="cpu", progress=False)
        with open(out / "steps.csv") as f:
            rows[step] = list(csv.DictReader(f))
    # A plain mean: 1/B each (280 training examples: batches of 32 and a last one of 24).
    assert {round(1 / float(r["weight_max"])) for r in rows["weighted"]} == {32, 24}
    assert all(float(r["weight_nonzero"]) == 1 for r in rows["weighted"])
    reweighted = [(float(r["weight_max"]), float(r["weight_nonzero"])) for r in rows["reweight"]]
    assert all(1 / 32 <= top <= 1 and 0 < share <= 1 for top, share in reweighted if share > 0)
    assert sum(share for _, share in reweighted) / len(reweighted) < 0.9  # it drops examples (40 % noisy)


def _one_step(step: str, batch: Batch) -> list[torch.Tensor]:
    prepared, view = toy_data(n_train=300, n_test=100, n_val=20)
    trainer = Trainer(resolve({**RUN, "step": {"name": step}}), prepared, view, torch.device("cpu"))
    ctx = trainer.ctx
    ctx.epoch = 1
    trainer.step(ctx, batch, ctx.data.inputs("train", batch.indices), ctx.data.labels("train", batch.indices))
    return [p.detach().clone() for p in ctx.model.parameters()]


def test_the_seed_notebooks_gated_update_is_the_plain_mean_step_or_none():
    batch = Batch(torch.arange(32), None)
    gated, plain = _one_step("reweight_gated", batch), _one_step("weighted", batch)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(gated, plain))
    reweighted = _one_step("reweight", batch)
    assert not all(torch.allclose(a, b, atol=1e-6) for a, b in zip(reweighted, plain))


def test_the_gated_update_skips_a_batch_no_example_of_which_helps_the_clean_loss(monkeypatch):
    import robustrepro.training.methods.reweight as method

    real = method.reweight

    def no_example_helps(*args):
        logits, losses, w = real(*args)
        return logits, losses, torch.zeros_like(w)

    monkeypatch.setattr(method, "reweight", no_example_helps)
    prepared, view = toy_data(n_train=300, n_test=100, n_val=20)
    before = [p.detach().clone() for p in Trainer(resolve(RUN), prepared, view, torch.device("cpu")).ctx.model.parameters()]
    after = _one_step("reweight_gated", Batch(torch.arange(32), None))
    assert all(torch.equal(a, b) for a, b in zip(before, after))

"""side_by_side: copies trained together equal the same copies trained one at a time with torch.optim.SGD."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from robustrepro.training import side_by_side as sbs

ATOL = 1e-5  # float32: vmapped (grouped) kernels round differently from the module's own


def conv_bn_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3, stride=2), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 3 * 3, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


def data(copies: int, steps: int, batch: int = 6):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(steps, copies, batch, 1, 8, 8, generator=g)
    y = torch.randint(0, 3, (steps, copies, batch), generator=g)
    return x, y


def assert_states_close(model: nn.Module, stacked: sbs.Stacked, index: int, optimizer=None) -> None:
    for name, p in model.named_parameters():
        torch.testing.assert_close(stacked.params[name][index], p.detach(), atol=ATOL, rtol=0, msg=name)
        if optimizer is not None and "momentum_buffer" in optimizer.state[p]:
            torch.testing.assert_close(stacked.momenta[name][index], optimizer.state[p]["momentum_buffer"],
                                       atol=ATOL, rtol=0, msg=f"momentum of {name}")
    for name, b in model.named_buffers():
        torch.testing.assert_close(stacked.buffers[name][index], b, atol=ATOL, rtol=0, msg=name)


def train_alone(model: nn.Module, make_optimizer, x: torch.Tensor, y: torch.Tensor, recorded: list):
    """A copy of `model` trained alone on the batches x [steps, B, ...], y [steps, B] with a torch optimizer,
    its losses at each step checked against the `recorded` ones; the copy and its optimizer."""
    alone = conv_bn_net()
    alone.load_state_dict(model.state_dict())
    alone.train()
    optimizer = make_optimizer(alone.parameters())
    for step in range(len(x)):
        losses = nn.functional.cross_entropy(alone(x[step]), y[step], reduction="none")
        torch.testing.assert_close(recorded[step], losses.detach(), atol=ATOL, rtol=0)
        optimizer.zero_grad()
        losses.mean().backward()
        optimizer.step()
    return alone, optimizer


@pytest.mark.parametrize("options", [
    {"lr": 0.1},
    {"lr": 0.05, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-3},
    {"lr": 0.1, "weight_decay": 1e-2},
])
def test_side_by_side_equals_one_at_a_time(options):
    torch.manual_seed(0)
    model = conv_bn_net()
    copies, steps = 4, 3
    x, y = data(copies, steps)
    stacked = sbs.stack(model, copies)
    recorded = []
    for step in range(steps):
        stacked, losses = sbs.sgd_step(model, stacked, x[step], y[step], **options)
        recorded.append(losses)

    for c in range(copies):
        alone, optimizer = train_alone(model, lambda ps: torch.optim.SGD(ps, dampening=0, **options), x[:, c], y[:, c],
                                       [losses[c] for losses in recorded])
        assert_states_close(alone, stacked, c, optimizer)


def test_the_module_itself_is_left_alone():
    torch.manual_seed(0)
    model = conv_bn_net()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = data(2, 1)
    sbs.sgd_step(model, sbs.stack(model, 2), x[0], y[0], lr=0.1)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert model.training


def test_stack_unstack_round_trip_with_momentum():
    torch.manual_seed(0)
    model = conv_bn_net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = data(1, 2)
    for step in range(2):  # a module with momentum buffers and moved running stats
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x[step, 0]), y[step, 0]).backward()
        optimizer.step()
    stacked = sbs.stack(model, 3, optimizer)
    assert len(stacked) == 3
    assert_states_close(model, stacked, 2, optimizer)

    other = conv_bn_net()
    other_optimizer = torch.optim.SGD(other.parameters(), lr=0.1, momentum=0.9)
    sbs.unstack(stacked, 1, other, other_optimizer)
    for k, v in model.state_dict().items():
        assert torch.equal(other.state_dict()[k], v), k
    for p, q in zip(model.parameters(), other.parameters()):
        assert torch.equal(other_optimizer.state[q]["momentum_buffer"], optimizer.state[p]["momentum_buffer"])
    # Both continue the same way.
    for m, o in ((model, optimizer), (other, other_optimizer)):
        o.zero_grad()
        nn.functional.cross_entropy(m(x[0, 0]), y[0, 0]).backward()
        o.step()
    for p, q in zip(model.parameters(), other.parameters()):
        assert torch.equal(p, q)


def test_stack_without_optimizer_has_zero_momenta_and_select_repeats():
    model = conv_bn_net()
    stacked = sbs.stack(model, 2)
    assert all(torch.count_nonzero(m) == 0 for m in stacked.momenta.values())
    chosen = stacked.select(torch.tensor([1, 1, 0]))
    assert len(chosen) == 3
    assert set(chosen.buffers) == {k for k, _ in model.named_buffers()}
    both = sbs.concat([stacked, chosen])
    assert len(both) == 5
    again = sbs.Stacked.from_state_dict(both.state_dict())
    assert all(torch.equal(again.params[k], both.params[k]) for k in both.params)


def test_evaluate_equals_each_model_in_eval_mode():
    torch.manual_seed(0)
    model = conv_bn_net()
    x, y = data(3, 2)
    stacked = sbs.stack(model, 3)
    for step in range(2):
        stacked, _ = sbs.sgd_step(model, stacked, x[step], y[step], lr=0.1)
    g = torch.Generator().manual_seed(2)
    test_x, test_y = torch.randn(50, 1, 8, 8, generator=g), torch.randint(0, 3, (50,), generator=g)
    losses, correct = sbs.evaluate(model, stacked, test_x, test_y, chunk=16)
    assert losses.shape == correct.shape == (3, 50) and correct.dtype == torch.bool
    for c in range(3):
        alone = conv_bn_net()
        sbs.unstack(stacked, c, alone)
        alone.eval()
        with torch.no_grad():
            logits = alone(test_x)
        torch.testing.assert_close(losses[c], nn.functional.cross_entropy(logits, test_y, reduction="none"),
                                   atol=ATOL, rtol=0)
        assert torch.equal(correct[c], logits.argmax(1) == test_y)


@pytest.mark.parametrize("optimizer, options", [
    (torch.optim.Adadelta, {"rho": 0.9, "eps": 1e-6, "weight_decay": 1e-3}),
    (torch.optim.SGD, {"momentum": 0.9, "nesterov": True, "weight_decay": 5e-3}),
])
def test_step_with_a_learning_rate_per_copy_equals_each_copy_with_its_torch_optimizer(optimizer, options):
    torch.manual_seed(0)
    model = conv_bn_net()
    copies, steps = 3, 3
    x, y = data(copies, steps)
    lrs = torch.tensor([0.5, 0.1, 0.02])
    stacked = sbs.stack(model, copies)
    rule = sbs.rule_of(optimizer(model.parameters(), lr=1.0, **options))
    state = {key: {k: torch.zeros_like(v) for k, v in stacked.params.items()} for key in rule.state_keys}
    recorded = []
    for step in range(steps):
        losses, logits = sbs.step(model, stacked.params, stacked.buffers, state, x[step], y[step], lr=lrs, rule=rule)
        assert logits.shape == (copies, x.shape[2], 3) and losses.dtype == torch.float32
        recorded.append(losses)

    for c in range(copies):
        alone, torch_optimizer = train_alone(model, lambda ps: optimizer(ps, lr=float(lrs[c]), **options), x[:, c],
                                             y[:, c], [losses[c] for losses in recorded])
        assert_states_close(alone, stacked, c)
        for key in rule.state_keys:
            for name, p in alone.named_parameters():
                torch.testing.assert_close(state[key][name][c], torch_optimizer.state[p][key], atol=ATOL, rtol=0,
                                           msg=f"{key} of {name}")


def test_rule_of_refuses_what_the_step_does_not_implement():
    params = conv_bn_net().parameters
    assert sbs.rule_of(torch.optim.SGD(params(), lr=0.1, momentum=0.5)) == sbs.SGD(momentum=0.5)
    for optimizer in (torch.optim.SGD(params(), lr=0.1, momentum=0.5, dampening=0.1),
                      torch.optim.SGD(params(), lr=0.1, maximize=True), torch.optim.Adam(params())):
        with pytest.raises(ValueError, match="stacked steps implement"):
            sbs.rule_of(optimizer)
    with pytest.raises(ValueError, match="lr: one float, or one per copy"):
        model = conv_bn_net()
        stacked = sbs.stack(model, 2)
        x, y = data(2, 1)
        sbs.step(model, stacked.params, stacked.buffers, {"momentum_buffer": stacked.momenta}, x[0], y[0],
                 lr=torch.ones(3), rule=sbs.SGD())

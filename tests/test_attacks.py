"""Adversarial attacks (robustrepro.evaluation.attacks) and randomised defences (evaluation.defences).

The attacks are checked against torchattacks 3.5.1, the library seed 004's numbers come from,
on a small seeded LeNet; the defences on models simple enough to read their outputs.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
import torchattacks
from torch import nn

from robustrepro.errors import UserError
from robustrepro.evaluation.attacks import ATTACKS, DEFAULT_SEED, Normalized
from robustrepro.evaluation.defences import DEFENCES
from robustrepro.models import build_model

EPS, STEP, ITERATIONS = 0.1, 0.02, 8

ITERATIVE = {"eps": EPS, "step_size": STEP, "iterations": ITERATIONS}
CONFIGS = {
    "fgsm": {"name": "fgsm", "eps": EPS},
    "bim": {"name": "bim", **ITERATIVE},
    "mifgsm": {"name": "mifgsm", **ITERATIVE},
    "pgd": {"name": "pgd", **ITERATIVE},
}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The models here are tiny: a second thread only adds contention on a shared 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def template_images(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images of 10 classes, each a fixed random template half covered by noise; some pixels exactly 0 or 1."""
    templates = torch.rand(10, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 10, (n,), generator=g)
    x = 0.5 * templates[y] + 0.5 * torch.rand(n, 1, 28, 28, generator=g)
    x[:, :, :3] = 0.0
    x[:, :, -3:] = 1.0
    return x, y


@pytest.fixture(scope="module")
def lenet() -> nn.Module:
    """A LeNet trained for a few steps on template_images, so that its predictions depend on its inputs."""
    torch.manual_seed(0)
    model = Normalized(build_model("lenet", 1, 10, 28), [0.5], [0.3])
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    for step in range(25):
        x, y = template_images(64, seed=100 + step)
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    return model.eval()


@pytest.fixture(scope="module")
def batch(lenet) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = template_images(48, seed=1)
    assert accuracy(lenet, x, y) > 0.8
    return x, y


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return model(x).argmax(1).eq(y).float().mean().item()


def reference(name: str, model: nn.Module, **changes):
    """torchattacks' version of CONFIGS[name] (its step size is `alpha`, its iteration count `steps`)."""
    if name == "fgsm":
        return torchattacks.FGSM(model, eps=EPS)
    options = {"eps": EPS, "alpha": STEP, "steps": ITERATIONS, **changes}
    return {"bim": torchattacks.BIM, "mifgsm": torchattacks.MIFGSM, "pgd": torchattacks.PGD}[name](model, **options)


@pytest.mark.parametrize("name, ours, theirs", [
    ("fgsm", {}, {}),
    ("bim", {}, {}),
    ("mifgsm", {}, {}),
    ("mifgsm", {"decay": 0.6}, {"decay": 0.6}),
    ("pgd", {"random_start": False}, {"random_start": False}),
])
def test_matches_torchattacks(lenet, batch, name, ours, theirs):
    x, y = batch
    x_adv = ATTACKS.build({**CONFIGS[name], **ours})(lenet, x, y)
    expected = reference(name, lenet, **theirs)(x, y)
    torch.testing.assert_close(x_adv, expected, rtol=0, atol=1e-6)
    assert accuracy(lenet, x_adv, y) == accuracy(lenet, expected, y)
    assert accuracy(lenet, x_adv, y) < 0.5  # it attacks: the clean accuracy is above 0.8


def test_pgd_random_start_matches_torchattacks_with_the_same_seed(lenet, batch):
    # torchattacks draws its start with torch.empty_like(x).uniform_(-eps, eps) from torch's global
    # generator; ours draws the same call from the generator it is given. On a CPU a fresh
    # torch.Generator seeded with s produces the stream torch.manual_seed(s) gives the global one,
    # and torchattacks draws nothing else before the start, so the two starts are the same numbers.
    x, y = batch
    torch.manual_seed(123)
    expected = reference("pgd", lenet)(x, y)
    x_adv = ATTACKS.build(CONFIGS["pgd"])(lenet, x, y, generator=torch.Generator().manual_seed(123))
    torch.testing.assert_close(x_adv, expected, rtol=0, atol=1e-6)
    fixed_start = ATTACKS.build({**CONFIGS["pgd"], "random_start": False})(lenet, x, y)
    assert not torch.equal(x_adv, fixed_start)


def test_pgd_random_start_is_uniform_in_the_eps_ball_from_the_generator(lenet, batch):
    """One iteration by hand: start at x + U(-eps, eps) from the generator, clipped, then one projected step."""
    x, y = batch
    start = (x + torch.empty_like(x).uniform_(-EPS, EPS, generator=torch.Generator().manual_seed(7))).clamp(0, 1)
    start.requires_grad_()
    (grad,) = torch.autograd.grad(F.cross_entropy(lenet(start), y), start)
    expected = (x + (start.detach() + STEP * grad.sign() - x).clamp(-EPS, EPS)).clamp(0, 1)
    attack = ATTACKS.build({"name": "pgd", "eps": EPS, "step_size": STEP, "iterations": 1})
    x_adv = attack(lenet, x, y, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(x_adv, expected, rtol=0, atol=1e-6)
    noise = start.detach() - x
    inside = (x > EPS) & (x < 1 - EPS)  # pixels the clipping to [0, 1] cannot reach
    assert noise.abs().max() <= EPS + 1e-6
    assert noise[inside].abs().max() > 0.99 * EPS and abs(noise[inside].mean()) < 0.01 * EPS


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_examples_stay_in_the_eps_ball_and_in_range(lenet, batch, name):
    x, y = batch
    x_adv = ATTACKS.build(CONFIGS[name])(lenet, x, y)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype and not x_adv.requires_grad
    assert (x_adv - x).abs().max() <= EPS + 1e-6
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert (x_adv - x).abs().max() > EPS / 2  # it moved


class Probe(nn.Module):
    """A model with BatchNorm and dropout that records its mode and its parameters' flags at every call."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.5), nn.Flatten(),
                                  nn.Linear(4 * 26 * 26, 10))
        self.seen: list[tuple[bool, bool]] = []

    def forward(self, x):
        self.seen.append((any(m.training for m in self.modules()), any(p.requires_grad for p in self.parameters())))
        return self.body(x)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_the_model_is_left_as_it_was(name):
    torch.manual_seed(0)
    probe = Probe()
    model = Normalized(probe, [0.5], [0.25]).train()
    probe.body[3].eval()                       # one module in another mode than the rest
    probe.body[0].bias.requires_grad_(False)   # one frozen parameter
    probe.body[5].weight.grad = torch.ones_like(probe.body[5].weight)
    modes = [m.training for m in model.modules()]
    flags = [p.requires_grad for p in model.parameters()]
    state = {k: v.clone() for k, v in model.state_dict().items()}  # BatchNorm running statistics included
    x = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    y = torch.arange(6)
    ATTACKS.build(CONFIGS[name])(model, x, y)
    assert probe.seen and set(probe.seen) == {(False, False)}  # eval mode, no parameter needed a gradient
    assert [m.training for m in model.modules()] == modes
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())
    assert torch.equal(probe.body[5].weight.grad, torch.ones_like(probe.body[5].weight))
    assert all(p.grad is None for n, p in model.named_parameters() if n != "model.body.5.weight")


def test_an_attack_works_under_no_grad(lenet, batch):
    x, y = batch
    attack = ATTACKS.build(CONFIGS["bim"])
    with torch.no_grad():
        inside = attack(lenet, x, y)
    assert torch.equal(inside, attack(lenet, x, y))


def test_the_same_generator_seed_gives_the_same_examples(lenet, batch):
    x, y = batch
    attack = ATTACKS.build(CONFIGS["pgd"])
    first = attack(lenet, x, y, generator=torch.Generator().manual_seed(3))
    assert torch.equal(first, attack(lenet, x, y, generator=torch.Generator().manual_seed(3)))
    assert not torch.equal(first, attack(lenet, x, y, generator=torch.Generator().manual_seed(4)))
    unseeded = attack(lenet, x, y)
    assert torch.equal(unseeded, attack(lenet, x, y))
    assert torch.equal(unseeded, attack(lenet, x, y, generator=torch.Generator().manual_seed(DEFAULT_SEED)))


@pytest.mark.parametrize("config, key", [
    ({"name": "pgd", "eps": 2, "step_size": 0.01, "iterations": 3}, "attack.eps"),
    ({"name": "fgsm", "eps": -0.1}, "attack.eps"),
    ({"name": "bim", "eps": 0.1, "step_size": 0.01, "iterations": 0}, "attack.iterations"),
    ({"name": "bim", "eps": 0.1, "step_size": 0.01, "iterations": 2.0}, "attack.iterations"),
    ({"name": "pgd", "eps": 0.1, "step_size": 0, "iterations": 3}, "attack.step_size"),
    ({"name": "bim", "eps": 0.1}, "attack.step_size"),
    ({"name": "fgsm", "eps": 0.1, "steps": 3}, "attack.steps"),
    ({"name": "mifgsm", "eps": 0.1, "step_size": 0.01, "iterations": 3, "decay": -1}, "attack.decay"),
    ({"name": "pgd", "eps": 0.1, "step_size": 0.01, "iterations": 3, "random_start": "yes"}, "attack.random_start"),
    ({"name": "fgsm", "eps": 0.1, "eot_samples": 0}, "attack.eot_samples"),
    ({"name": "cw", "eps": 0.1}, "attack.name"),
])
def test_a_bad_option_is_one_line_naming_its_key(config, key):
    with pytest.raises(UserError) as err:
        ATTACKS.build(config)
    assert str(err.value).startswith(f"{key}: ") and "\n" not in str(err.value)


def test_a_bad_batch_is_refused(lenet, batch):
    x, y = batch
    attack = ATTACKS.build(CONFIGS["fgsm"])
    with pytest.raises(ValueError, match=r"\[0, 1\].*Normalized"):
        attack(lenet, (x - 0.5) / 0.25, y)
    with pytest.raises(ValueError, match="int64"):
        attack(lenet, x, y.int())
    with pytest.raises(TypeError, match="nn.Module"):
        attack(lambda inputs: lenet(inputs), x, y)


def test_normalized_feeds_the_model_normalised_inputs():
    inner = nn.Flatten()
    model = Normalized(inner, [0.5, 0.25], [2.0, 4.0])
    x = torch.rand(3, 2, 4, 4)
    expected = torch.cat([((x[:, 0] - 0.5) / 2).flatten(1), ((x[:, 1] - 0.25) / 4).flatten(1)], 1)
    torch.testing.assert_close(model(x), expected)
    with pytest.raises(ValueError, match="std"):
        Normalized(inner, [0.5], [0.0])


# ---- expectation over transformation -------------------------------------------------------------


@pytest.mark.parametrize("name", ["fgsm", "bim", "pgd", "mifgsm"])
def test_eot_on_a_deterministic_model_is_the_plain_attack(lenet, batch, name):
    x, y = batch
    plain = ATTACKS.build(CONFIGS[name])(lenet, x, y)
    averaged = ATTACKS.build({**CONFIGS[name], "eot_samples": 4})(lenet, x, y)
    torch.testing.assert_close(averaged, plain, rtol=0, atol=1e-6)


def pool_of(n: int, shape=(1, 28, 28), seed: int = 5) -> torch.Tensor:
    return torch.rand(n, *shape, generator=torch.Generator().manual_seed(seed))


def test_eot_gradient_is_the_mean_over_independent_calls(lenet, batch):
    """FGSM with eot_samples 3 steps along the sign of the mean of 3 gradients of the defence, called in turn."""
    x, y = batch
    pool, config = pool_of(64), {"name": "sum_augment", "k": 2, "samples": 2}
    defended = DEFENCES.build(config, lenet, pool, torch.Generator().manual_seed(9))
    x_adv = ATTACKS.build({"name": "fgsm", "eps": EPS, "eot_samples": 3})(defended, x, y)

    replica = DEFENCES.build(config, lenet, pool, torch.Generator().manual_seed(9))  # same draws, call by call
    grads = []
    for _ in range(3):
        inputs = x.clone().requires_grad_()
        grads.append(torch.autograd.grad(F.cross_entropy(replica(inputs), y), inputs)[0])
    expected = (x + EPS * torch.stack(grads).mean(0).sign()).clamp(0, 1)
    torch.testing.assert_close(x_adv, expected, rtol=0, atol=1e-6)
    single = (x + EPS * grads[0].sign()).clamp(0, 1)
    assert (x_adv != single).float().mean() > 0.01  # the mean is not one draw's gradient


def test_eot_pgd_matches_torchattacks_eotpgd_on_a_randomised_model(lenet, batch):
    """Both call the defence eot_samples times per step in the same order, so they see the same crops and flips."""
    x, y = batch
    options = {"eps": EPS, "steps": 4, "alpha": STEP, "eot_iter": 3, "random_start": False}
    crops = {"name": "random_crop_flip", "padding": 2}
    theirs_model = DEFENCES.build(crops, lenet, None, torch.Generator().manual_seed(2))
    expected = torchattacks.EOTPGD(theirs_model, **options)(x, y)
    ours_model = DEFENCES.build(crops, lenet, None, torch.Generator().manual_seed(2))
    attack = ATTACKS.build({"name": "pgd", "eps": EPS, "step_size": STEP, "iterations": 4, "random_start": False,
                            "eot_samples": 3})
    torch.testing.assert_close(attack(ours_model, x, y), expected, rtol=0, atol=1e-6)


def test_more_eot_samples_find_the_expected_gradient_better(lenet, batch):
    """Against sum_augment, FGSM's step agrees more with the expected gradient's sign at eot_samples 16 than at 1."""
    x, y = batch[0][:16], batch[1][:16]
    defended = DEFENCES.build({"name": "sum_augment", "k": 3, "samples": 1}, lenet, pool_of(256), None)

    def direction(n: int) -> torch.Tensor:
        # from images of 0.5, an eps of 0.5 shows the sign of the averaged gradient wherever it is not zero
        return ATTACKS.build({"name": "fgsm", "eps": 0.5, "eot_samples": n})(defended, torch.full_like(x, 0.5), y) - 0.5

    truth = direction(128)

    def agreement(n: int) -> float:
        return (direction(n) == truth).float().mean().item()

    assert agreement(16) > agreement(1) + 0.1


# ---- defences ---------------------------------------------------------------------------------


class MeanPixel(nn.Module):
    """A linear model whose logits are [mean pixel value, 0], so log p0 - log p1 reads the input's mean."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x):
        mean = x.flatten(1).mean(1) * self.scale
        return torch.stack([mean, torch.zeros_like(mean)], 1)


def read_mean(log_probs: torch.Tensor) -> torch.Tensor:
    return log_probs[:, 0] - log_probs[:, 1]


@pytest.mark.parametrize("config", [
    {"name": "sum_augment", "k": 3, "samples": 1},
    {"name": "sum_augment", "k": 2, "samples": 4},
    {"name": "random_crop_flip", "padding": 3, "samples": 1},
    {"name": "random_crop_flip", "padding": 2, "flip": False, "samples": 5},
])
def test_defences_give_seeded_log_probabilities(lenet, batch, config):
    x, _ = batch
    first = DEFENCES.build(config, lenet, pool_of(32), torch.Generator().manual_seed(0))
    again = DEFENCES.build(config, lenet, pool_of(32), torch.Generator().manual_seed(0))
    other = DEFENCES.build(config, lenet, pool_of(32), torch.Generator().manual_seed(1))
    with torch.no_grad():
        out, second = first(x), first(x)
        assert out.shape == (len(x), 10)
        torch.testing.assert_close(out.exp().sum(1), torch.ones(len(x)))
        assert torch.equal(out, again(x)) and torch.equal(second, again(x))  # the same draws, call by call
        assert not torch.equal(out, second) and not torch.equal(out, other(x))  # randomised


def test_sum_augment_averages_the_input_with_k_minus_1_pool_images():
    k, x = 4, torch.rand(10, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    constant = torch.full((20, 1, 8, 8), 0.2)
    defended = DEFENCES.build({"name": "sum_augment", "k": k, "samples": 1}, MeanPixel(), constant, None)
    with torch.no_grad():
        torch.testing.assert_close(read_mean(defended(x)), (x.mean((1, 2, 3)) + (k - 1) * 0.2) / k)

    # a pool of constant images 0, 1/19, ..., 1: with k = 2 the mean gives away which image was drawn
    levels = torch.linspace(0, 1, 20)
    pool = levels.view(20, 1, 1, 1).expand(20, 1, 8, 8).contiguous()
    defended = DEFENCES.build({"name": "sum_augment", "k": 2, "samples": 1}, MeanPixel(), pool, None)
    with torch.no_grad():
        drawn = 2 * read_mean(defended(x.repeat(10, 1, 1, 1))) - x.repeat(10, 1, 1, 1).mean((1, 2, 3))
    nearest = (drawn[:, None] - levels[None]).abs().min(1)
    assert nearest.values.max() < 1e-5  # every copy mixed in exactly one pool image
    assert len(set(nearest.indices.tolist())) >= 15  # drawn at random over the whole pool


def test_sum_augment_weight_counts_the_input_weight_times():
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    pool = torch.full((5, 1, 8, 8), 0.2)
    for k, weight in [(2, 2.0), (3, 2.0), (4, 0.5)]:
        defended = DEFENCES.build({"name": "sum_augment", "k": k, "samples": 1, "weight": weight}, MeanPixel(), pool,
                                  None)
        with torch.no_grad():
            torch.testing.assert_close(read_mean(defended(x)),
                                       (weight * x.mean((1, 2, 3)) + (k - 1) * 0.2) / (weight + k - 1))


def test_sum_augment_weight_1_is_the_plain_mean_bit_for_bit():
    x, pool = torch.rand(7, 3, 8, 8, generator=torch.Generator().manual_seed(0)), pool_of(32, (3, 8, 8))
    config = {"name": "sum_augment", "k": 3, "samples": 4}
    plain = DEFENCES.build(config, MeanPixel(), pool, torch.Generator().manual_seed(5))
    weighted = DEFENCES.build({**config, "weight": 1.0}, MeanPixel(), pool, torch.Generator().manual_seed(5))
    # the formula before weight existed, on the same draws
    picks = torch.randint(0, len(pool), (7 * 4 * 2,), generator=torch.Generator().manual_seed(5))
    before = pool[picks].view(7, 4, 2, 3, 8, 8).sum(dim=2).add_(x.unsqueeze(1)).div_(3).flatten(0, 1)
    assert torch.equal(plain.copies(x), before) and torch.equal(weighted.copies(x), before)


def test_sum_augment_averages_probabilities_over_its_samples():
    """With identical copies the mean of `samples` equal predictions is that prediction: log(samples) is taken off."""
    x = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    constant = torch.full((3, 1, 8, 8), 0.7)
    one = DEFENCES.build({"name": "sum_augment", "k": 2, "samples": 1}, MeanPixel(), constant, None)
    many = DEFENCES.build({"name": "sum_augment", "k": 2, "samples": 6}, MeanPixel(), constant, None)
    with torch.no_grad():
        torch.testing.assert_close(many(x), one(x))
        torch.testing.assert_close(one(x), F.log_softmax(MeanPixel()((x + 0.7) / 2), 1))


def test_random_crop_flip_shows_the_model_each_input_or_its_mirror_image():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 5))
    x = torch.rand(40, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    defended = DEFENCES.build({"name": "random_crop_flip", "padding": 0}, model, None, None)
    with torch.no_grad():
        out, plain, mirrored = defended(x), F.log_softmax(model(x), 1), F.log_softmax(model(x.flip(-1)), 1)
    is_plain = torch.isclose(out, plain, atol=1e-6).all(1)
    is_mirror = torch.isclose(out, mirrored, atol=1e-6).all(1)
    assert (is_plain | is_mirror).all() and is_plain.any() and is_mirror.any()


@pytest.mark.parametrize("config, key", [
    ({"name": "sum_augment", "k": 1, "samples": 4}, "defence.k"),
    ({"name": "sum_augment", "k": 2, "samples": 0}, "defence.samples"),
    ({"name": "sum_augment", "k": 2}, "defence.samples"),
    ({"name": "sum_augment", "k": 2, "samples": 1, "weight": 0}, "defence.weight"),
    ({"name": "sum_augment", "k": 2, "samples": 1, "weight": -1.0}, "defence.weight"),
    ({"name": "sum_augment", "k": 2, "samples": 1, "weight": "2"}, "defence.weight"),
    ({"name": "random_crop_flip", "padding": -1}, "defence.padding"),
    ({"name": "random_crop_flip", "padding": 0, "flip": False}, "defence.padding"),
    ({"name": "random_crop_flip", "flip": "yes"}, "defence.flip"),
    ({"name": "random_crop_flip", "crop": 4}, "defence.crop"),
    ({"name": "jpeg"}, "defence.name"),
])
def test_a_bad_defence_option_is_one_line_naming_its_key(lenet, config, key):
    with pytest.raises(UserError) as err:
        DEFENCES.build(config, lenet, pool_of(4), None)
    assert str(err.value).startswith(f"{key}: ") and "\n" not in str(err.value)


def test_an_eot_attack_on_sum_augment_lowers_its_accuracy(lenet, batch):
    """PGD with EOT through the defence: the defended model's own clean predictions mostly stop holding."""
    x, _ = batch
    defended = DEFENCES.build({"name": "sum_augment", "k": 2, "samples": 4}, lenet, pool_of(64),
                              torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = defended(x).argmax(1)
    attack = ATTACKS.build({"name": "pgd", "eps": 0.2, "step_size": 0.05, "iterations": 5, "eot_samples": 2})
    x_adv = attack(defended, x, y, generator=torch.Generator().manual_seed(0))
    assert accuracy(defended, x_adv, y) < 0.5
    assert math.isfinite(F.cross_entropy(defended(x_adv), y).item())


class SaturatedAtFirst(nn.Module):
    """Logits that ignore the input on the first call (an exactly zero gradient) and are linear in it after."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(64, 3)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        logits = self.linear(x.flatten(1))
        return logits * 0 if self.calls == 1 else logits


def test_mifgsm_survives_a_zero_gradient():
    """Dividing a zero gradient by its mean |grad| is 0/0: the momentum must stay finite so later steps still move."""
    torch.manual_seed(0)
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    x_adv = ATTACKS.build({"name": "mifgsm", **ITERATIVE})(SaturatedAtFirst(), x, torch.zeros(4, dtype=torch.int64))
    assert torch.isfinite(x_adv).all()
    assert ((x_adv - x).abs().flatten(1).max(1).values > EPS / 2).all()


@pytest.mark.parametrize("config", [{"name": "sum_augment", "k": 3, "samples": 4},
                                    {"name": "random_crop_flip", "padding": 2, "samples": 3}])
def test_a_defence_averages_the_copies_logits_when_asked(lenet, batch, config):
    """average "logits" is the mean of the model's logits over the very copies "probabilities" soft-votes on."""
    x, _ = batch
    soft = DEFENCES.build(config, lenet, pool_of(32), torch.Generator().manual_seed(3))
    mean = DEFENCES.build({**config, "average": "logits"}, lenet, pool_of(32), torch.Generator().manual_seed(3))
    copies = soft.copies(x)  # the draws of the first call of each
    with torch.no_grad():
        logits = lenet(copies).view(len(x), config["samples"], -1)
        torch.testing.assert_close(mean(x), logits.mean(1))
        expected = logits.log_softmax(-1).exp().mean(1).log()
        torch.testing.assert_close(DEFENCES.build(config, lenet, pool_of(32), torch.Generator().manual_seed(3))(x),
                                   expected)


def test_a_defence_names_its_average_option_when_it_is_wrong(lenet):
    with pytest.raises(UserError, match="defence.average: 'votes' is not one of probabilities, logits"):
        DEFENCES.build({"name": "sum_augment", "k": 2, "samples": 2, "average": "votes"}, lenet, pool_of(8), None)

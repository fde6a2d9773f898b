import pytest
import torch
from torch import nn

from robustrepro.errors import UserError
from robustrepro.models import MODELS, build_model

BIG = {"wrn28_10", "wrn40_4", "resnet18", "vgg16_bn"}  # exercised at width 0.25 to stay fast on a CPU
OPTIONS = {"wrn": {"depth": 16, "widen": 2}}
SHAPES = [(1, 28), (3, 32)]  # MNIST-like and CIFAR-like inputs
CLASSES = 7


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Batch-2 passes are far too small to share across threads; on a busy 2-core box
    the thread pool's hand-offs cost more than the arithmetic."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make(name, in_channels=3, image_size=32, width=None, seed=0, **kwargs):
    torch.manual_seed(seed)
    width = width if width is not None else (0.25 if name in BIG else 1.0)
    return build_model(name, in_channels, CLASSES, image_size, width=width, **{**OPTIONS.get(name, {}), **kwargs})


def batch(in_channels, image_size, seed=1):
    return torch.randn(2, in_channels, image_size, image_size, generator=torch.Generator().manual_seed(seed))


def n_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("in_channels,image_size", SHAPES)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_forward_embed_head_and_backward(name, in_channels, image_size):
    model = make(name, in_channels, image_size)
    x = batch(in_channels, image_size)

    model.eval()
    with torch.no_grad():
        logits, features = model(x), model.embed(x)
    assert logits.shape == (2, CLASSES)
    assert isinstance(model.head, nn.Linear) and model.head.out_features == CLASSES
    assert features.shape == (2, model.head.in_features)
    torch.testing.assert_close(model.head(features), logits)

    model.train()
    model(x).logsumexp(1).sum().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
    assert any(p.grad.abs().sum() > 0 for p in model.parameters())


@pytest.mark.parametrize("in_channels,image_size", SHAPES)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_channels_last_matches_contiguous(name, in_channels, image_size):
    model = make(name, in_channels, image_size).eval()
    x = batch(in_channels, image_size)
    with torch.no_grad():
        expected = model(x)
        model = model.to(memory_format=torch.channels_last)
        got = model(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_bf16_autocast(name):
    """CPU autocast stands in for the CUDA one the trainer uses: no op may refuse bf16."""
    model = make(name).to(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(batch(3, 32).contiguous(memory_format=torch.channels_last))
    assert logits.dtype == torch.bfloat16 and torch.isfinite(logits).all()


@pytest.mark.parametrize("name", sorted(set(MODELS) - {"perceptron"}))
def test_width_scales_the_model(name):
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        full, small = make(name, width=1.0), make(name, width=0.25)
    assert n_params(small) < n_params(full)


def test_perceptron_has_no_width_to_scale():
    assert n_params(make("perceptron", width=0.25)) == n_params(make("perceptron")) == 3 * 32 * 32 * CLASSES + CLASSES


# Parameter counts of the standard architectures (10 classes, 3 input channels), in millions,
# to the precision the papers state them.
KNOWN_MILLIONS = {
    "resnet20": (0.27, 2),  # He et al. 2016, Table 6
    "resnet32": (0.46, 2),
    "resnet56": (0.85, 2),
    "preact_resnet56": (0.86, 2),
    "resnet18": (11.2, 1),
    "wrn28_10": (36.5, 1),  # Zagoruyko & Komodakis 2016; seed 004
    "wrn40_4": (8.9, 1),
    "vgg16_bn": (14.7, 1),
    "lenet": (0.062, 3),
}


@pytest.mark.parametrize("name", sorted(KNOWN_MILLIONS))
def test_parameter_counts_at_width_one(name):
    expected, digits = KNOWN_MILLIONS[name]
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        model = build_model(name, 3, 10, 32)
    count = n_params(model) / 1e6
    assert round(count, digits) == expected


def test_wrn_generic_equals_named():
    named, generic = make("wrn40_4", width=0.125), build_model("wrn", 3, CLASSES, 32, width=0.125, depth=40, widen=4)
    assert [p.shape for p in named.parameters()] == [p.shape for p in generic.parameters()]


def _seed_003_models():
    """The model definitions of seed 003, verbatim (28x28 MNIST, 10 classes)."""

    def lin_relu(n_in, n_out):
        return nn.Sequential(nn.Linear(n_in, n_out), nn.ReLU())

    def conv_stage(n_in, n_out):
        return [nn.Conv2d(n_in, n_out, kernel_size=3, stride=1, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2, 0)]

    return {
        "perceptron": lambda: nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10)),
        "mlp1": lambda: nn.Sequential(nn.Flatten(), lin_relu(28 * 28, 256), nn.Linear(256, 10)),
        "mlp2": lambda: nn.Sequential(nn.Flatten(), lin_relu(28 * 28, 256), lin_relu(256, 128), nn.Linear(128, 10)),
        "mlp4": lambda: nn.Sequential(
            nn.Flatten(), lin_relu(28 * 28, 256), lin_relu(256, 128), lin_relu(128, 64), nn.Linear(64, 10)
        ),
        "conv4": lambda: nn.Sequential(
            *conv_stage(1, 32), *conv_stage(32, 64), *conv_stage(64, 128), *conv_stage(128, 256),
            nn.Flatten(), nn.Linear(256 * 1 * 1, 1000), nn.ReLU(), nn.Linear(1000, 10),
        ),
    }


@pytest.mark.parametrize("name", ["perceptron", "mlp1", "mlp2", "mlp4", "conv4"])
def test_seed_003_models_match_the_reference_code(name):
    torch.manual_seed(3)
    reference = _seed_003_models()[name]()
    torch.manual_seed(3)
    ours = build_model(name, 1, 10, 28)
    x = batch(1, 28)
    ref_params, our_params = list(reference.parameters()), list(ours.parameters())
    assert [p.shape for p in ref_params] == [p.shape for p in our_params]
    for a, b in zip(ref_params, our_params):
        torch.testing.assert_close(a, b, rtol=0, atol=0)  # same layers, same order, same default init
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x))


def test_conv4_flatten_follows_the_input_size():
    assert make("conv4", 1, 28).body[13].in_features == 256  # 28 -> 14 -> 7 -> 3 -> 1
    assert make("conv4", 3, 32).body[13].in_features == 256 * 2 * 2  # 32 -> 16 -> 8 -> 4 -> 2


def test_lenet_is_lenet5_at_both_sizes():
    for in_channels, image_size in SHAPES:
        fc1 = make("lenet", in_channels, image_size).body[7]
        assert (fc1.in_features, fc1.out_features) == (16 * 5 * 5, 120)


def test_same_seed_same_weights_and_different_seed_different_weights():
    a, b, c = make("resnet20", seed=5), make("resnet20", seed=5), make("resnet20", seed=6)
    for (name, pa), pb, pc in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        assert torch.equal(pa, pb), name
    assert not torch.equal(a.head.weight, c.head.weight)


@pytest.mark.parametrize("name", ["wrn", "mlp2", "conv4", "lenet", "vgg16_bn", "preact_resnet56"])
def test_dropout_is_active_in_training_only(name):
    model = make(name, width=0.125, dropout=0.5)
    assert any(isinstance(m, nn.Dropout) and m.p == 0.5 for m in model.modules())
    x = batch(3, 32)
    with torch.no_grad():
        assert not torch.allclose(model(x), model(x))  # training mode: a fresh mask per call
        model.eval()
        torch.testing.assert_close(model(x), model(x))
    assert not any(isinstance(m, nn.Dropout) for m in make(name, width=0.125).modules())


def test_unknown_model_name():
    with pytest.raises(UserError, match=r"model\.name: unknown value 'resnet99'.*resnet20"):
        build_model("resnet99", 3, 10, 32)


@pytest.mark.parametrize(
    "name,kwargs,key",
    [
        ("resnet20", {"depth": 20}, "model.depth"),
        ("wrn", {"depth": 16}, "model.widen"),
        ("wrn", {"depth": 15, "widen": 2}, "model.depth"),
        ("wrn", {"depth": 16, "widen": 0}, "model.widen"),
        ("resnet20", {"dropout": 0.3}, "model.dropout"),
        ("perceptron", {"dropout": 0.3}, "model.dropout"),
        ("mlp1", {"dropout": 1.0}, "model.dropout"),
        ("mlp1", {"width": 0}, "model.width"),
        ("mlp1", {"width": "wide"}, "model.width"),
    ],
)
def test_bad_options_name_the_key(name, kwargs, key):
    with pytest.raises(UserError, match=rf"^{key}:"):
        build_model(name, 3, 10, 32, **kwargs)


def test_model_outputs_widens_the_head_beyond_the_views_classes():
    torch.manual_seed(0)
    wide = build_model("tinyconv", 1, 2, 28, outputs=10)
    assert wide(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    torch.manual_seed(0)
    plain = build_model("tinyconv", 1, 2, 28, outputs=None)
    assert plain(torch.zeros(3, 1, 28, 28)).shape == (3, 2)
    with pytest.raises(UserError, match="model.outputs"):
        build_model("tinyconv", 1, 10, 28, outputs=2)  # narrower than the data's classes

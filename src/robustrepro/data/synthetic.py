"""Synthetic stand-ins for the real datasets: same image shape and classes, a few thousand images.

They let the `smoke` scale run every stage on a CPU in minutes without downloads, so they must be
learnable, yet not trivially: each class has a smooth random prototype image, and every sample
is its class prototype at a random contrast and small random shift, plus a smooth pattern of
its own that hides the class, and pixel noise. A nearest-class-mean classifier gets 94-99.6% of
the test set right; LeNet (SGD, batch 128) gets 57-82% after two epochs on the 10-class ones.
Everything is drawn from a generator seeded by the dataset name, so the data never changes.
"""

from __future__ import annotations

import hashlib

import numpy as np

from robustrepro.data.prepared import Prepared
from robustrepro.data.registry import DatasetInfo

_COARSE = 6  # prototypes are smooth: random values on a 6x6 grid, interpolated to full size
_MAX_SHIFT = 2  # pixels
_CLASS_STD = 40.0  # pixel std of a class prototype around mid-grey
_NUISANCE_STD = 35.0  # pixel std of each sample's own smooth pattern, which hides the class
_NOISE_STD = 25.0  # independent pixel noise
_CONTRAST = (0.6, 1.4)  # range of each sample's prototype contrast
# The generator's name: this module's code fingerprint (robustrepro.provenance: its syntax tree and
# what it imports, comments and docstrings left out). Prepared files record it, and the workflow
# rebuilds those that other code made (robustrepro.data.prepared.vet_prepared).
GENERATOR_MODULE = ("robustrepro.data.synthetic",)


def synthetic_sizes(num_classes: int) -> tuple[int, int]:
    """(train, test) sizes: 3000/500 for 10 classes, 3000/1000 (30/10 per class) for 100.

    3000 training images give a 128-batch epoch enough steps that two epochs learn something.
    """
    return 3000, max(500, 10 * num_classes)


def generator_settings(info: DatasetInfo) -> dict:
    """What makes the synthetic dataset `info` describes, as its prepared file's record states it."""
    from robustrepro.provenance import PACKAGE_ROOT, source_hash

    generator = f"robustrepro-synthetic/{source_hash(PACKAGE_ROOT, GENERATOR_MODULE)[:16]}"
    return {"generator": generator, "seed": _seed(info.name), "coarse_grid": _COARSE, "max_shift": _MAX_SHIFT,
            "class_std": _CLASS_STD, "nuisance_std": _NUISANCE_STD, "noise_std": _NOISE_STD,
            "contrast": list(_CONTRAST)}


def _seed(name: str) -> int:
    # Python's hash() of a str changes between processes; a digest does not.
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")


def _interpolation_matrix(size: int, coarse: int) -> np.ndarray:
    """[size, coarse] weights of linear interpolation from a coarse grid to `size` points."""
    pos = np.linspace(0, coarse - 1, size)
    lower = np.minimum(np.floor(pos).astype(int), coarse - 2)
    frac = pos - lower
    m = np.zeros((size, coarse))
    m[np.arange(size), lower] = 1 - frac
    m[np.arange(size), lower + 1] = frac
    return m


def _smooth(rng: np.random.Generator, n: int, channels: int, size: int, std: float) -> np.ndarray:
    """n random smooth images [n, channels, size, size] with pixel std about `std`.

    Colour channels share most of their pattern, as in natural images; this also keeps colour
    stand-ins about as hard as grey ones.
    """
    interp = _interpolation_matrix(size, _COARSE)
    shared = rng.normal(0, 1, size=(n, 1, _COARSE, _COARSE))
    coarse = shared + 0.5 * rng.normal(0, 1, size=(n, channels, _COARSE, _COARSE)) if channels > 1 else shared
    images = np.einsum("hi,ncij,wj->nchw", interp, coarse, interp)
    return images * (std / images.std(axis=(1, 2, 3), keepdims=True))


def _samples(rng: np.random.Generator, prototypes: np.ndarray, labels: np.ndarray) -> np.ndarray:
    n, (c, h, w), s = len(labels), prototypes.shape[1:], _MAX_SHIFT
    padded = np.pad(prototypes, ((0, 0), (0, 0), (s, s), (s, s)), mode="edge")
    dy, dx = rng.integers(0, 2 * s + 1, size=(2, n))
    rows = (dy[:, None] + np.arange(h))[:, None, :, None]
    cols = (dx[:, None] + np.arange(w))[:, None, None, :]
    shifted = padded[labels[:, None, None, None], np.arange(c)[None, :, None, None], rows, cols]
    contrast = rng.uniform(*_CONTRAST, size=(n, 1, 1, 1))
    nuisance = _smooth(rng, n, c, h, _NUISANCE_STD)
    x = 128 + contrast * shifted + nuisance + rng.normal(0, _NOISE_STD, size=shifted.shape)
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _balanced_labels(rng: np.random.Generator, n: int, num_classes: int) -> np.ndarray:
    return rng.permutation(np.arange(n) % num_classes).astype(np.int64)


def make_synthetic(info: DatasetInfo) -> Prepared:
    """The synthetic dataset `info` describes; identical arrays on every call."""
    rng = np.random.default_rng(_seed(info.name))
    c, size, k = info.channels, info.size, info.num_classes
    prototypes = _smooth(rng, k, c, size, _CLASS_STD)
    n_train, n_test = synthetic_sizes(k)
    train_y = _balanced_labels(rng, n_train, k)
    test_y = _balanced_labels(rng, n_test, k)
    return Prepared(info.name, _samples(rng, prototypes, train_y), train_y,
                    _samples(rng, prototypes, test_y), test_y, classes=info.classes)

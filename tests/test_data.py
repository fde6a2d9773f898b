"""Dataset layer: registry, readers of the original formats, synthetic stand-ins, prepare.

The readers are tested on small files written here in the real formats (gzip'd idx, a CIFAR
python tar.gz of pickles); the real MNIST and FashionMNIST files in ../shared/data are used
when present.
"""

import dataclasses
import gzip
import hashlib
import io
import pickle
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from robustrepro.data import DATASETS, DatasetInfo, RawFile, fetch, load_prepared, prepare
from robustrepro.data.readers import read_dataset, read_idx
from robustrepro.data.synthetic import make_synthetic
from robustrepro.errors import UserError

SYNTHETIC = [name for name, info in DATASETS.items() if info.is_synthetic]


def idx_bytes(array: np.ndarray) -> bytes:
    """An uncompressed idx file of a uint8 array: magic (0, 0, type 0x08, ndim), big-endian dims, data."""
    return bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">u4").tobytes() + array.astype(np.uint8).tobytes()


def write_mnist_folder(folder: Path, n_train: int = 7, n_test: int = 5, seed: int = 0) -> dict:
    """MNIST's four files (gzip'd idx) with random content; returns the arrays written."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        arrays[prefix] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8)
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(arrays[prefix][0])))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(arrays[prefix][1])))
    return arrays


def tiny_mnist_info(name: str = "tiny-mnist") -> DatasetInfo:
    return dataclasses.replace(DATASETS["mnist"], name=name, folder="Tiny/raw", files=())


# --- registry ---------------------------------------------------------------------------------


def test_every_real_dataset_has_a_synthetic_stand_in_of_the_same_shape_and_classes():
    for name in ("mnist", "fashion-mnist", "cifar10", "cifar100"):
        real, synthetic = DATASETS[name], DATASETS[f"synthetic-{name}"]
        assert synthetic.stands_in_for == name and synthetic.is_synthetic and not real.is_synthetic
        assert (synthetic.shape, synthetic.classes) == (real.shape, real.classes)
        assert synthetic.files == () and real.files
    assert (DATASETS["mnist"].shape, DATASETS["cifar10"].shape) == ((1, 28, 28), (3, 32, 32))
    assert [DATASETS[n].num_classes for n in ("mnist", "fashion-mnist", "cifar10", "cifar100")] == [10, 10, 10, 100]
    assert len(set(DATASETS["cifar100"].classes)) == 100


def test_registry_agrees_with_torchvision():
    datasets = pytest.importorskip("torchvision.datasets")
    for name, tv, folder in (("mnist", datasets.MNIST, "MNIST/raw"),
                             ("fashion-mnist", datasets.FashionMNIST, "FashionMNIST/raw")):
        info = DATASETS[name]
        assert info.classes == tuple(tv.classes)
        assert [(f.path, f.md5) for f in info.files] == [(f"{folder}/{file}", md5) for file, md5 in tv.resources]
        assert [f.urls for f in info.files] == [tuple(m + file for m in tv.mirrors) for file, _ in tv.resources]
    for name, tv in (("cifar10", datasets.CIFAR10), ("cifar100", datasets.CIFAR100)):
        (raw,) = DATASETS[name].files
        assert (raw.path, raw.md5, raw.urls) == (tv.filename, tv.tgz_md5, (tv.url,))
        assert DATASETS[name].folder == tv.base_folder


def test_importing_the_data_package_does_not_import_torch():
    # Snakemake imports the registry while parsing the workflow, for every job.
    code = "import sys, robustrepro.data; assert 'torch' not in sys.modules and 'torchvision' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unknown_dataset_names_the_choices(tmp_path):
    with pytest.raises(UserError, match="dataset: unknown value 'mnits'.*mnist"):
        prepare("mnits", tmp_path, tmp_path / "x.npz")


# --- idx reader -------------------------------------------------------------------------------


def test_read_idx_reads_gzip_and_plain_files_alike(tmp_path):
    images = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
    (tmp_path / "a.gz").write_bytes(gzip.compress(idx_bytes(images)))
    (tmp_path / "a").write_bytes(idx_bytes(images))
    for path in (tmp_path / "a.gz", tmp_path / "a"):
        out = read_idx(path)
        assert out.dtype == np.uint8 and out.shape == (3, 4, 5)
        np.testing.assert_array_equal(out, images)


def test_read_idx_handles_big_endian_types(tmp_path):
    values = np.array([[1, -2], [300, 70000]], dtype=">i4")
    (tmp_path / "ints").write_bytes(bytes([0, 0, 0x0C, 2]) + np.array([2, 2], ">u4").tobytes() + values.tobytes())
    np.testing.assert_array_equal(read_idx(tmp_path / "ints"), [[1, -2], [300, 70000]])


@pytest.mark.parametrize("damage", ["truncated data", "cut gzip stream", "bad magic", "not gzip at all"])
def test_damaged_idx_file_is_a_user_error_naming_it(tmp_path, damage):
    good = idx_bytes(np.zeros((10, 28, 28), np.uint8))
    content = {
        "truncated data": gzip.compress(good[:-100]),
        "cut gzip stream": gzip.compress(good)[:-30],
        "bad magic": gzip.compress(b"\x08\x03\x00\x00" + good[4:]),
        "not gzip at all": b"<html>404 not found</html>",
    }[damage]
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(content)
    with pytest.raises(UserError, match=r"train-images-idx3-ubyte\.gz.*fetch the dataset again"):
        read_idx(path)


def test_mnist_style_folder_reads_into_nchw_uint8_and_int64_labels(tmp_path):
    written = write_mnist_folder(tmp_path / "Tiny" / "raw")
    data = read_dataset(tiny_mnist_info(), tmp_path)
    assert data.train_x.shape == (7, 1, 28, 28) and data.test_x.shape == (5, 1, 28, 28)
    assert data.train_x.dtype == np.uint8 and data.train_y.dtype == np.int64
    np.testing.assert_array_equal(data.train_x[:, 0], written["train"][0])
    np.testing.assert_array_equal(data.train_y, written["train"][1])
    np.testing.assert_array_equal(data.test_x[:, 0], written["t10k"][0])
    np.testing.assert_array_equal(data.test_y, written["t10k"][1])
    assert data.classes == DATASETS["mnist"].classes


def test_images_and_labels_of_different_lengths_are_rejected(tmp_path):
    folder = tmp_path / "Tiny" / "raw"
    write_mnist_folder(folder)
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(3, np.uint8))))
    with pytest.raises(UserError, match="do not form a dataset"):
        read_dataset(tiny_mnist_info(), tmp_path)


def test_missing_idx_file_names_it(tmp_path):
    write_mnist_folder(tmp_path / "Tiny" / "raw")
    (tmp_path / "Tiny" / "raw" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(UserError, match=r"t10k-labels-idx1-ubyte\.gz is missing"):
        read_dataset(tiny_mnist_info(), tmp_path)


# --- CIFAR reader -----------------------------------------------------------------------------


def _pickle_member(tar: tarfile.TarFile, name: str, obj) -> None:
    payload = pickle.dumps(obj, protocol=2)
    member = tarfile.TarInfo(name)
    member.size = len(payload)
    tar.addfile(member, io.BytesIO(payload))


def _cifar_image(index: int) -> np.ndarray:
    """A recognisable image: R plane = index, G plane = 100 + index, B plane = 200 + a column ramp."""
    img = np.zeros((3, 32, 32), np.uint8)
    img[0], img[1], img[2] = index, 100 + index, 200 + np.arange(32)[None, :] // 2
    return img


# variant -> (train pickles, test pickles, labels key, meta pickle, meta content), as in the real archives
CIFAR_LAYOUTS = {
    "cifar10": ([f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "labels", "batches.meta",
                {"label_names": list(DATASETS["cifar10"].classes)}),
    "cifar100": (["train"], ["test"], "fine_labels", "meta",
                 {"fine_label_names": list(DATASETS["cifar100"].classes),
                  "coarse_label_names": [f"superclass{i}" for i in range(20)]}),
}


def write_cifar_archive(path: Path, variant: str) -> dict:
    """A tiny archive in the real layout, two images per batch; returns the labels written per split."""
    train, test, labels_key, meta_file, meta = CIFAR_LAYOUTS[variant]
    folder, k = DATASETS[variant].folder, DATASETS[variant].num_classes
    labels, index = {"train": [], "test": []}, 0
    with tarfile.open(path, "w:gz") as tar:
        for split, files in (("train", train), ("test", test)):
            for file in files:
                ids = [index, index + 1]
                index += 2
                batch = {"data": np.stack([_cifar_image(i).reshape(-1) for i in ids]),
                         labels_key: [(7 * i) % k for i in ids], "coarse_labels": [i % 20 for i in ids]}
                labels[split] += batch[labels_key]
                _pickle_member(tar, f"{folder}/{file}", batch)
        _pickle_member(tar, f"{folder}/{meta_file}", meta)
    return labels


@pytest.mark.parametrize("variant", ["cifar10", "cifar100"])
def test_cifar_archive_reads_into_nchw_with_labels_and_class_names(tmp_path, variant):
    real = DATASETS[variant]
    archive = tmp_path / real.files[0].path
    labels = write_cifar_archive(archive, variant)
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    # The registry entry with this archive's checksum: prepare fetches (verifies) and reads it.
    info = dataclasses.replace(real, name=f"tiny-{variant}", files=(RawFile(real.files[0].path, md5, ()),))
    data = prepare(info, tmp_path, tmp_path / "prepared.npz", progress=False)
    n_train = len(labels["train"])
    assert data.train_x.shape == (n_train, 3, 32, 32) and data.test_x.shape == (len(labels["test"]), 3, 32, 32)
    assert data.train_x.dtype == np.uint8 and data.train_y.dtype == np.int64
    assert data.train_y.tolist() == labels["train"] and data.test_y.tolist() == labels["test"]
    for i in range(n_train):  # rows hold whole R, G, B planes: the reshape must keep them apart
        np.testing.assert_array_equal(data.train_x[i], _cifar_image(i))
    np.testing.assert_array_equal(data.test_x[0], _cifar_image(n_train))
    assert data.classes == real.classes
    assert not (tmp_path / real.folder).exists()  # read in place, nothing extracted


def test_cifar_archive_without_a_batch_is_a_user_error(tmp_path):
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        _pickle_member(tar, "cifar-10-batches-py/batches.meta", {"label_names": list(DATASETS["cifar10"].classes)})
    with pytest.raises(UserError, match=r"cifar-10-python\.tar\.gz lacks cifar-10-batches-py/data_batch_1"):
        read_dataset(DATASETS["cifar10"], tmp_path)


def test_damaged_cifar_archive_is_a_user_error_naming_it(tmp_path):
    archive = tmp_path / "cifar-10-python.tar.gz"
    write_cifar_archive(archive, "cifar10")
    archive.write_bytes(archive.read_bytes()[:-200])
    with pytest.raises(UserError, match=r"cifar-10-python\.tar\.gz: cannot read it"):
        read_dataset(DATASETS["cifar10"], tmp_path)


# --- synthetic stand-ins ----------------------------------------------------------------------


def _nearest_class_mean_accuracy(data) -> float:
    train = data.train_x.reshape(len(data.train_x), -1).astype(np.float64)
    test = data.test_x.reshape(len(data.test_x), -1).astype(np.float64)
    means = np.stack([train[data.train_y == k].mean(0) for k in range(data.num_classes)])
    distances = (test**2).sum(1)[:, None] - 2 * test @ means.T + (means**2).sum(1)[None]
    return float((distances.argmin(1) == data.test_y).mean())


@pytest.mark.parametrize("name", SYNTHETIC)
def test_synthetic_datasets_have_the_real_shape_balanced_classes_and_are_learnable(name):
    info, data = DATASETS[name], make_synthetic(DATASETS[name])
    k = info.num_classes
    assert data.name == name and data.classes == info.classes and data.shape == info.shape
    assert data.train_x.dtype == np.uint8 and data.train_y.dtype == np.int64
    assert 1000 <= len(data.train_x) <= 3000 and len(data.test_x) >= 500
    assert len(set(np.bincount(data.train_y, minlength=k))) == 1 and np.bincount(data.test_y).min() >= 10
    assert data.train_x.std() > 30  # the full uint8 range is used, not a constant image
    # Learnable but not trivial: a nearest-class-mean classifier is far above chance, yet errs.
    assert 0.8 < _nearest_class_mean_accuracy(data) < 1.0


def test_synthetic_data_are_the_same_every_time_and_differ_between_names(tmp_path):
    first = prepare("synthetic-mnist", None, tmp_path / "a.npz")
    for again in (make_synthetic(DATASETS["synthetic-mnist"]), load_prepared(tmp_path / "a.npz")):
        for field in ("train_x", "train_y", "test_x", "test_y"):
            np.testing.assert_array_equal(getattr(first, field), getattr(again, field))
    other = make_synthetic(DATASETS["synthetic-fashion-mnist"])
    assert not np.array_equal(first.train_x, other.train_x)
    assert fetch("synthetic-cifar10", tmp_path / "nowhere") == []


def test_real_dataset_without_a_root_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="mnist is read from raw files: give a data root"):
        prepare("mnist", None, tmp_path / "x.npz")


# --- the real files in ../shared/data ---------------------------------------------------------

# Label counts of the official files, per class 0..9.
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.mark.parametrize("name, train_counts, test_counts", [
    ("mnist", MNIST_TRAIN_COUNTS, MNIST_TEST_COUNTS),
    ("fashion-mnist", [6000] * 10, [1000] * 10),
])
def test_real_files_verify_offline_and_prepare_to_the_official_splits(shared_data, tmp_path, name, train_counts,
                                                                      test_counts):
    # An unreachable mirror proves that present, verified files cause no download attempt.
    paths = fetch(name, shared_data, mirror="http://127.0.0.1:9", progress=False)
    assert [p.relative_to(shared_data).as_posix() for p in paths] == [f.path for f in DATASETS[name].files]
    data = prepare(name, shared_data, tmp_path / f"{name}.npz", progress=False)
    assert data.train_x.shape == (60000, 1, 28, 28) and data.test_x.shape == (10000, 1, 28, 28)
    assert data.num_classes == 10 and data.train_x.dtype == np.uint8
    assert np.bincount(data.train_y).tolist() == train_counts
    assert np.bincount(data.test_y).tolist() == test_counts
    saved = load_prepared(tmp_path / f"{name}.npz")
    assert saved.name == name and saved.classes == DATASETS[name].classes
    np.testing.assert_array_equal(saved.test_x, data.test_x)

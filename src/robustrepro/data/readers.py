"""Read the original dataset formats into uint8 [N, C, H, W] images and int64 labels.

MNIST-style idx files are parsed here with numpy (the format is a 4-byte magic number, the
dimensions, then raw big-endian data), which is fast and needs no torch. CIFAR comes as Python
pickles inside a tar.gz, read in place.
"""

from __future__ import annotations

import gzip
import math
import pickle
import tarfile
import zlib
from pathlib import Path

import numpy as np

from robustrepro.data.prepared import Prepared
from robustrepro.data.registry import DatasetInfo
from robustrepro.errors import UserError, unknown_choice

# idx type byte -> numpy dtype (idx data is big-endian)
_IDX_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """One idx file, gzip-compressed or not (told apart by content, not by name)."""
    path = Path(path)
    refetch = "delete it and fetch the dataset again"
    try:
        with open(path, "rb") as f:
            compressed = f.read(2) == b"\x1f\x8b"
        with (gzip.open if compressed else open)(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise UserError(f"{path}: cannot read it ({e}); {refetch}") from e
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] not in _IDX_DTYPES:
        raise UserError(f"{path} is not an idx file (bad magic number {data[:4].hex()}); {refetch}")
    ndim, offset = data[3], 4 + 4 * data[3]
    if len(data) < offset:
        raise UserError(f"{path}: idx header is truncated; {refetch}")
    dims = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = offset + math.prod(dims) * dtype.itemsize
    if len(data) != expected:
        raise UserError(f"{path}: {len(data)} bytes but its header {dims} needs {expected} "
                        f"(truncated or corrupt); {refetch}")
    return np.frombuffer(data, dtype, offset=offset).reshape(dims).astype(dtype.newbyteorder("="))


def _idx_file(folder: Path, stem: str) -> Path:
    # fetch verifies the .gz; an uncompressed copy (torchvision extracts one beside it) also works.
    for path in (folder / f"{stem}.gz", folder / stem):
        if path.is_file():
            return path
    raise UserError(f"{folder / stem}.gz is missing; fetch the dataset first")


def read_idx_folder(folder: str | Path, name: str, classes: tuple[str, ...]) -> Prepared:
    """An MNIST-style folder: train-{images-idx3,labels-idx1}-ubyte and the same with t10k."""
    folder = Path(folder)
    arrays = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = read_idx(_idx_file(folder, f"{prefix}-images-idx3-ubyte"))
        labels = read_idx(_idx_file(folder, f"{prefix}-labels-idx1-ubyte"))
        if images.ndim != 3 or images.dtype != np.uint8 or labels.ndim != 1 or len(labels) != len(images):
            raise UserError(f"{folder}: {prefix} images {images.shape} {images.dtype} and labels {labels.shape} "
                            f"do not form a dataset; check that the files belong together")
        arrays[split] = images[:, None], labels.astype(np.int64)
    return Prepared(name, *arrays["train"], *arrays["test"], classes=tuple(classes))


# variant -> (train pickles, test pickles, meta pickle, class-names key, labels key)
_CIFAR_LAYOUTS = {
    "cifar10": ([f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "batches.meta", "label_names", "labels"),
    "cifar100": (["train"], ["test"], "meta", "fine_label_names", "fine_labels"),
}


def read_cifar_archive(archive: str | Path, folder: str, name: str, variant: str) -> Prepared:
    """CIFAR-10 or CIFAR-100 straight from its python-version tar.gz, whose pickles lie in `folder/`.

    Reading the archive rather than an extracted copy means the data are exactly the bytes whose
    MD5 fetch verified, and a read-only data root works as well as a writable one.
    """
    if variant not in _CIFAR_LAYOUTS:
        raise unknown_choice("CIFAR variant", variant, _CIFAR_LAYOUTS)
    archive = Path(archive)
    train_files, test_files, meta_file, names_key, labels_key = _CIFAR_LAYOUTS[variant]
    wanted = {f"{folder}/{f}": f for f in [*train_files, *test_files, meta_file]}
    pickles = {}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:  # one pass: a gzip stream is slow to seek
                if member.name in wanted:
                    # the pickles were written by Python 2; the archive's MD5 has been verified
                    pickles[wanted[member.name]] = pickle.load(tar.extractfile(member), encoding="latin1")
    except Exception as e:  # a damaged archive or pickle can raise almost anything
        raise UserError(f"{archive}: cannot read it ({type(e).__name__}: {e}); delete it and fetch it again") from e
    missing = sorted(set(wanted) - {f"{folder}/{f}" for f in pickles})
    if missing:
        raise UserError(f"{archive} lacks {', '.join(missing)}: not a {variant} archive; delete it and fetch it again")

    def split(files):
        try:
            x = np.concatenate([np.asarray(pickles[f]["data"], dtype=np.uint8) for f in files])
            y = np.concatenate([np.asarray(pickles[f][labels_key], dtype=np.int64) for f in files])
            return x.reshape(-1, 3, 32, 32), y  # each row holds the R, G and B planes one after another
        except (KeyError, ValueError) as e:
            raise UserError(f"{archive}: {', '.join(files)} are not {variant} batches ({e}); "
                            f"delete it and fetch it again") from e

    classes = tuple(pickles[meta_file][names_key])
    return Prepared(name, *split(train_files), *split(test_files), classes=classes)


def read_dataset(info: DatasetInfo, root: str | Path) -> Prepared:
    """Read a real dataset whose raw files are under root (fetch them first)."""
    root = Path(root)
    if info.reader == "idx":
        return read_idx_folder(root / info.folder, info.name, info.classes)
    if info.reader in _CIFAR_LAYOUTS:
        return read_cifar_archive(root / info.files[0].path, info.folder, info.name, info.reader)
    raise unknown_choice(f"dataset {info.name}: reader", info.reader, ["idx", *_CIFAR_LAYOUTS])

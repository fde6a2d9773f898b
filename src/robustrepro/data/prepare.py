"""Prepare a dataset: fetch and read the raw files (or generate a synthetic one), check, and save.

The result is the single .npz (robustrepro.data.prepared) that every run loads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robustrepro.data.download import fetch
from robustrepro.data.prepared import Prepared, check_writable, save_prepared
from robustrepro.data.readers import read_dataset
from robustrepro.data.registry import DatasetInfo, dataset_info
from robustrepro.data.synthetic import generator_settings, make_synthetic
from robustrepro.errors import UserError


def load_dataset(dataset: str | DatasetInfo, root: str | Path | None, mirror: str | None = None,
                 progress: bool = True) -> Prepared:
    """The whole dataset in memory: generated when synthetic (root unused), else fetched (see `fetch`) and read."""
    info = dataset_info(dataset)
    if info.is_synthetic:
        data = make_synthetic(info)
    elif root is None:
        raise UserError(f"dataset {info.name} is read from raw files: give a data root (data.root)")
    else:
        fetch(info, root, mirror=mirror, progress=progress)
        data = read_dataset(info, root)
    _check(info, data)
    return data


def prepare(dataset: str | DatasetInfo, root: str | Path | None, out_path: str | Path, mirror: str | None = None,
            progress: bool = True) -> Prepared:
    """`load_dataset`, then save it to out_path (.npz) for the runs; returns what was saved.

    Refuses, before any download, a file at out_path that the harness did not write.
    """
    check_writable(out_path)
    data = load_dataset(dataset, root, mirror=mirror, progress=progress)
    info = dataset_info(dataset)
    save_prepared(out_path, data, generator_settings(info) if info.is_synthetic else None)
    return data


def _check(info: DatasetInfo, data: Prepared) -> None:
    # Catches files that passed their checksum but belong to another dataset (e.g. a custom
    # DatasetInfo pointing at the wrong folder) before any run trains on them.
    problems = []
    for split, x, y in (("train", data.train_x, data.train_y), ("test", data.test_x, data.test_y)):
        if x.dtype != np.uint8 or x.shape[1:] != info.shape or len(x) != len(y) or len(x) == 0:
            problems.append(f"{split} images {x.dtype} {x.shape} with {len(y)} labels, expected uint8 [N, "
                            f"{', '.join(map(str, info.shape))}]")
        elif y.min() < 0 or y.max() >= info.num_classes:
            problems.append(f"{split} labels span {y.min()}..{y.max()}, expected 0..{info.num_classes - 1}")
    if data.num_classes != info.num_classes:
        problems.append(f"{data.num_classes} class names, expected {info.num_classes}")
    if problems:
        raise UserError(f"dataset {info.name}: the files read do not match its registry entry: "
                        f"{'; '.join(problems)}")

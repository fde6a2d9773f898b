"""A prepared dataset: the whole train and test sets as uint8 arrays in one .npz file.

Every run loads this file (never the raw downloads), so preparing happens once per dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robustrepro.errors import UserError
from robustrepro.files import atomic_open


@dataclass(frozen=True)
class Prepared:
    name: str
    train_x: np.ndarray  # uint8 [N, C, H, W]
    train_y: np.ndarray  # int64 [N]
    test_x: np.ndarray  # uint8 [M, C, H, W]
    test_y: np.ndarray  # int64 [M]
    classes: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])


def save_prepared(path: str | Path, data: Prepared) -> None:
    with atomic_open(path) as f:  # never a half-written file under the final name
        np.savez(f, name=np.array(data.name), train_x=data.train_x, train_y=data.train_y,
                 test_x=data.test_x, test_y=data.test_y, classes=np.array(data.classes))


def load_prepared(path: str | Path) -> Prepared:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"prepared dataset {path} is missing; build it with the workflow's prepare rule")
    with np.load(path) as z:
        return Prepared(name=str(z["name"]), train_x=z["train_x"], train_y=z["train_y"].astype(np.int64),
                        test_x=z["test_x"], test_y=z["test_y"].astype(np.int64),
                        classes=tuple(str(c) for c in z["classes"]))

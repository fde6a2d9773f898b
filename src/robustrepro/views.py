"""A training view: which examples a run trains, validates and tests on, and with which labels.

Built by robustrepro.noise from a prepared dataset's labels and a view spec (holdout, shaping,
label noise, subsets, validation); saved as one .npz so that runs sharing a view share the file.
All index arrays point into the prepared dataset's train or test arrays.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from robustrepro.errors import UserError
from robustrepro.files import atomic_open


@dataclass(frozen=True)
class View:
    num_classes: int
    train_indices: np.ndarray  # int64 [n]: into Prepared.train_x; may repeat (alpha copies)
    train_labels: np.ndarray  # int64 [n]: the labels training sees (after noise)
    true_labels: np.ndarray  # int64 [n]: the clean labels of the same examples (after any relabelling)
    noisy_mask: np.ndarray  # bool [n]: train_labels != true label by construction of the noise
    holdout_indices: np.ndarray  # int64 [h]: clean examples kept out of training (meta/validation)
    holdout_labels: np.ndarray  # int64 [h]
    val_source: str  # "none", "train" (taken from the train arrays) or "test"
    val_indices: np.ndarray  # int64 [v]: into train_x when val_source is "train", else test_x
    val_labels: np.ndarray  # int64 [v]
    test_indices: np.ndarray  # int64 [m]: into Prepared.test_x
    test_labels: np.ndarray  # int64 [m]
    transition: np.ndarray  # float64 [K, K]: empirical P(train label = j | true label = i)
    noise_rate: float  # realised fraction of training labels that differ from the truth
    summary: dict = field(default_factory=dict)  # spec and counts, for humans and provenance


_ARRAYS = [f.name for f in fields(View) if f.name not in ("num_classes", "val_source", "noise_rate", "summary")]


def save_view(path: str | Path, view: View) -> None:
    with atomic_open(path) as f:
        np.savez(f, num_classes=view.num_classes, val_source=np.array(view.val_source),
                 noise_rate=view.noise_rate, summary=np.array(json.dumps(view.summary)),
                 **{k: getattr(view, k) for k in _ARRAYS})


def load_view(path: str | Path) -> View:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"training view {path} is missing; build it with the workflow's noise rule")
    with np.load(path) as z:
        return View(num_classes=int(z["num_classes"]), val_source=str(z["val_source"]),
                    noise_rate=float(z["noise_rate"]), summary=json.loads(str(z["summary"])),
                    **{k: z[k] for k in _ARRAYS})


def view_summary_json(view: View) -> str:
    """What the workflow writes beside the .npz: the spec, counts and the realised noise."""
    d = asdict(view)
    out = {"num_classes": view.num_classes, "noise_rate": view.noise_rate, "val_source": view.val_source,
           "transition": np.round(view.transition, 4).tolist(), **view.summary}
    out.update({f"n_{k.removesuffix('_indices')}": int(len(d[k])) for k in _ARRAYS if k.endswith("_indices")})
    return json.dumps(out, indent=2)

"""A training view: which examples a run trains, validates and tests on, and with which labels.

Built by robustrepro.noise from a prepared dataset's labels and a view spec (holdout, shaping,
label noise, subsets, validation); saved as one .npz so that runs sharing a view share the file.
All index arrays point into the prepared dataset's train or test arrays.

Beside each view the workflow keeps its record, `<id>.json` (`record_path`): the spec and counts
for humans and, for the checks, the npz's size and sha256, the complete view spec it was made for
(what robustrepro.runs.view_id hashes) and the dataset and sha256 of the prepared file it was
made from. A job checks these against its run and its files before it trains (`check_inputs`);
the workflow vets its views during a build with the same checks (robustrepro.noise.vet_view).
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from robustrepro.data.prepared import identify
from robustrepro.errors import UserError
from robustrepro.files import atomic_open, atomic_write_text, file_digest
from robustrepro.files import set_aside as move_aside
from robustrepro.runs import DEFAULT_RUN, VIEW_KEYS, canonical_json, run_id, view_id, view_spec

FORMAT = "robustrepro-view/1"


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
    summary: dict = field(default_factory=dict)  # spec, counts and source data, for humans and the checks


_ARRAYS = [f.name for f in fields(View) if f.name not in ("num_classes", "val_source", "noise_rate", "summary")]


def save_view(path: str | Path, view: View) -> None:
    with atomic_open(path) as f:
        np.savez(f, num_classes=view.num_classes, val_source=np.array(view.val_source),
                 noise_rate=view.noise_rate, summary=np.array(json.dumps(view.summary)),
                 **{k: getattr(view, k) for k in _ARRAYS})


def write_view(path: str | Path, view: View, summary: str | Path | None = None) -> None:
    """Save a view made by robustrepro.noise.build_view, then its record beside it (and at `summary` too,
    where that is another path: the checks read the one beside)."""
    save_view(path, view)
    for where in {record_path(path), Path(summary or record_path(path))}:
        _write_record(Path(path), view, where)


def load_view(path: str | Path, then: str = "run the workflow again to rebuild it") -> View:
    """The view at `path`; a damaged one is moved aside, and the UserError says so and what follows (`then`)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"training view {path} is missing; build it with the workflow's view rule")
    try:
        return _read(path)
    except _UNREADABLE as exc:
        aside = set_aside(path, ".corrupt")
        raise UserError(f"training view {path} is damaged ({type(exc).__name__}: {exc}): moved it aside to "
                        f"{aside.name}; {then}") from None


def view_summary_json(view: View) -> str:
    """What the workflow writes beside the .npz: the spec, counts and the realised noise."""
    return json.dumps(_summary(view), indent=2)


def record_path(path: str | Path) -> Path:
    """The record beside a view's npz: views/<id>.json."""
    return Path(path).with_suffix(".json")


def complete_spec(spec: dict) -> dict:
    """The view spec with every view key present (defaults from robustrepro.runs), unknown keys rejected."""
    for key in spec:
        if key not in VIEW_KEYS:
            raise UserError(f"{key}: not a view key; view keys: {', '.join(VIEW_KEYS)}")
    return {key: spec.get(key, DEFAULT_RUN[key]) for key in VIEW_KEYS}


def stamped(view: View, spec: dict, prepared: dict) -> View:
    """`view`, its summary naming the spec it was made for and the prepared file (its record) it was made from."""
    source = {"dataset": prepared["dataset"], "sha256": prepared["sha256"]}
    return dataclasses.replace(view, summary={**view.summary, "spec": complete_spec(spec), "prepared": source})


def check_inputs(run: dict, prepared_path: str | Path, view_path: str | Path) -> None:
    """Before a job trains, evaluates or extracts with `run`: UserError, one line naming both, unless the
    prepared file holds the run's dataset and the view was made for the run's view spec from that file."""
    who = f"run {run_id(run)}"
    prepared = identify(prepared_path, run["dataset"], who)
    path = Path(view_path)
    if not path.is_file():
        raise UserError(f"training view {path} is missing; build it with the workflow's view rule")
    record = read_record(path)
    if record is None:
        raise UserError(f"training view {path} has no record of what it was made from ({record_path(path).name} is "
                        "missing or an older robustrepro's): let the workflow's view rule build it (a build records "
                        "an older view, or sets it aside and rebuilds it)")
    spec = view_spec(run)
    fault = misfit(path, record, spec, prepared, prepared_path, f"{who} asks for")
    if fault is None:
        return
    why, suffix = fault
    if suffix == ".corrupt":
        raise UserError(f"training view {path} {why}: moved it aside to {set_aside(path, suffix).name}; run the "
                        "workflow again to rebuild it")
    fix = (f"give it its own view, {path.with_name(view_id(spec) + '.npz')} (the workflow's view rule builds it)"
           if why.startswith("was made for another view spec") else
           "rebuild the view from that file (delete it; the workflow's view rule makes it again)")
    raise UserError(f"training view {path} {why}: {fix}")


def read_record(path: str | Path) -> dict | None:
    """The record of the view at `path`, or None where there is none naming its sources (an older robustrepro's)."""
    try:
        meta = json.loads(record_path(path).read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get("format") == FORMAT else None


def misfit(path: Path, record: dict, spec: dict, prepared: dict | None, prepared_path, asked: str) -> tuple | None:
    """What is wrong with the view at `path` under its `record`, for `spec` (what `asked`, e.g. "run <id>
    asks for") and the prepared file (its record) at `prepared_path`: (why, the suffix to set it aside
    with), or None if it fits. An unknown prepared file (None) is not compared."""
    if path.stat().st_size != record.get("size") or file_digest(path) != record.get("sha256"):
        return (f"is damaged (its size or sha256 differs from those in {record_path(path).name}, written with it)",
                ".corrupt")
    made, asked_spec = record["spec"], complete_spec(spec)
    keys = [k for k in VIEW_KEYS if canonical_json({"v": made.get(k)}) != canonical_json({"v": asked_spec[k]})]
    if keys:
        differ = "; ".join(f"{k}: {json.dumps(made.get(k))} in the view, {json.dumps(asked_spec[k])} asked" for k in keys)
        return f"was made for another view spec than {asked} ({differ})", ".old"
    if prepared is not None and record["prepared"]["sha256"] != prepared["sha256"]:
        return (f"was made from other prepared data than {prepared_path} holds ({_source(record['prepared'])}, not "
                f"{_source(prepared)})", ".old")
    return None


def rerecord(path: str | Path, view: View) -> None:
    """Write the record of the view file at `path`, whose arrays are `view`'s (an older view found to be it)."""
    _write_record(Path(path), view)


def same_arrays(a: View, b: View) -> bool:
    return (a.num_classes, a.val_source) == (b.num_classes, b.val_source) and all(
        np.array_equal(getattr(a, k), getattr(b, k)) for k in _ARRAYS)


def set_aside(path: str | Path, suffix: str) -> Path:
    """Move a damaged (.corrupt) or outdated (.old) view out of the way, renamed, so that the workflow rebuilds it."""
    return move_aside(path, suffix, f"training view {path} is damaged or outdated")


# What reading a damaged npz raises (numpy and zipfile).
_UNREADABLE = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)


def _read(path: Path) -> View:
    with np.load(path) as z:
        return View(num_classes=int(z["num_classes"]), val_source=str(z["val_source"]),
                    noise_rate=float(z["noise_rate"]), summary=json.loads(str(z["summary"])),
                    **{k: z[k] for k in _ARRAYS})


def _summary(view: View) -> dict:
    d = asdict(view)
    out = {"num_classes": view.num_classes, "noise_rate": view.noise_rate, "val_source": view.val_source,
           "transition": np.round(view.transition, 4).tolist(), **view.summary}
    out.update({f"n_{k.removesuffix('_indices')}": int(len(d[k])) for k in _ARRAYS if k.endswith("_indices")})
    return out


def _write_record(path: Path, view: View, where: Path | None = None) -> None:
    meta = {"format": FORMAT, "file": path.name, "size": path.stat().st_size, "sha256": file_digest(path),
            **_summary(view)}
    atomic_write_text(where or record_path(path), json.dumps(meta, indent=2) + "\n")


def _source(prepared: dict) -> str:
    return f"{prepared['dataset']} of sha256 {prepared['sha256'][:12]}"

"""A prepared dataset: the whole train and test sets as uint8 arrays in one .npz file.

Every run loads this file (never the raw downloads), so preparing happens once per dataset.
Beside each one the harness writes a record, `<name>.npz.json`, with its size and sha256:
the record marks the file as the harness's own (the prepared folder may be a user's folder,
and a file the harness did not write is never overwritten), and lets a damaged file be
found, named and rebuilt instead of failing deep inside numpy. Checking ownership and size
costs a stat and a small JSON read, so the workflow does it at parse time; the full digest
is checked when the file is loaded. A file of the harness without a record (written by an
older robustrepro, or a kill between the npz and its record) is recorded when it next loads
cleanly, rather than rebuilt: a rebuilt file is newer than every view and run made from it,
and Snakemake would redo them all.

The record also says what the file holds: its dataset, split sizes, image shape, classes, and
whether the synthetic generator made it (with the generator's settings). A run checks that the
file holds the dataset it asks for (`identify`); the workflow checks at parse time that no file
holds another dataset than its name says (`check_prepared`), and during a build sets aside a file
whose record no longer matches what this robustrepro makes for that dataset (`vet_prepared`), so
that it is rebuilt. A record older than the `synthetic` entry gets it when the file is next vetted
or loaded, rather than the file being rebuilt (for a synthetic dataset only if the generator
still makes the same images).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robustrepro.errors import UserError
from robustrepro.files import atomic_open, atomic_write_text, file_digest, set_aside

FORMAT = "robustrepro-prepared/1"
_REBUILDS = "the prepare rule rebuilds it"
RECORD_SUFFIX = ".json"
_MARKER = "robustrepro_format"  # an array inside the npz too, for a file whose record is gone
# What save_prepared wrote before it kept records: these arrays and no marker.
_LEGACY_MEMBERS = {f"{k}.npy" for k in ("name", "train_x", "train_y", "test_x", "test_y", "classes")}


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


def record_path(path: str | Path) -> Path:
    """The record the harness keeps beside a prepared file."""
    path = Path(path)
    return path.with_name(path.name + RECORD_SUFFIX)


def save_prepared(path: str | Path, data: Prepared, synthetic: dict | None = None) -> None:
    """Write `data` and its record; `synthetic`: the generator settings that made it (None: read from raw files)."""
    path = Path(path)
    check_writable(path)
    record = record_path(path)
    # Serialised and hashed in memory first, so that the npz and its record land within
    # microseconds of each other; a kill leaves at worst an npz without a record (recorded
    # when it next loads), never a record vouching for other bytes.
    buffer = io.BytesIO()
    np.savez(buffer, **{_MARKER: np.array(FORMAT)}, name=np.array(data.name), train_x=data.train_x,
             train_y=data.train_y, test_x=data.test_x, test_y=data.test_y, classes=np.array(data.classes))
    raw = buffer.getbuffer()
    with atomic_open(path) as f:
        f.write(raw)
        f.flush()
        record.unlink(missing_ok=True)  # the old record must not outlive the old npz
    _write_record(path, len(raw), hashlib.sha256(raw).hexdigest(), data, synthetic)


def load_prepared(path: str | Path) -> Prepared:
    return _load(Path(path))[0]


def identify(path: str | Path, dataset: str, who: str) -> dict:
    """The record of the prepared file at `path`; UserError, naming both, unless it holds `dataset`
    (what `who`, e.g. "run <id>", asks for). Reads the record only, unless the file has none."""
    path = Path(path)
    record = _read_record(path) if path.is_file() else None
    if record is None:  # missing, or an unrecorded file of the harness: loading names or records it
        record = _load(path)[1]
    if record.get("dataset") != dataset:
        raise UserError(_mismatch(path, record, dataset, who))
    return record


def _load(path: Path, then: str = "run the workflow again to rebuild it") -> tuple[Prepared, dict]:
    """The file's data and the record that vouches for it (completed and written where it was older)."""
    if not path.is_file():
        raise UserError(f"prepared dataset {path} is missing; build it with the workflow's prepare rule")
    record = _read_record(path)
    if record is None and not _npz_is_ours(path):
        raise UserError(f"{path} is no prepared dataset of robustrepro (it has no record {record_path(path).name} "
                        "and lacks the harness's arrays): build it with the workflow's prepare rule")
    size = path.stat().st_size
    digest = file_digest(path)
    if record is not None and (size != record.get("size") or digest != record.get("sha256")):
        if _npz_is_ours(path) is False:  # a user's npz copied over the harness's, its record left behind
            raise UserError(_foreign(path))
        raise _damaged(path, f"its size or sha256 differs from those in {record_path(path).name}, written with it",
                       then)
    try:
        # Reading every array also checks each one's zip CRC-32: what vouches for an unrecorded file.
        with np.load(path) as z:
            data = Prepared(name=str(z["name"]), train_x=z["train_x"], train_y=z["train_y"].astype(np.int64),
                            test_x=z["test_x"], test_y=z["test_y"].astype(np.int64),
                            classes=tuple(str(c) for c in z["classes"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise _damaged(path, f"{type(exc).__name__}: {exc}", then) from exc
    if record is None or "synthetic" not in record:  # unrecorded, or recorded before records said their source
        record = _record(path, size, digest, data, _made_by(data))
        try:
            atomic_write_text(record_path(path), json.dumps(record) + "\n")
        except OSError:
            pass  # a read-only folder: the record stays as it was (none: the CRCs vouch on each load)
    return data, record


def recorded(path: str | Path) -> dict | None:
    """The record of the prepared file at `path`, None unless the file is there with the size its record gives."""
    path = Path(path)
    record = _read_record(path)
    return record if record is not None and path.is_file() and path.stat().st_size == record.get("size") else None


def check_writable(path: str | Path) -> None:
    """UserError naming the file if a prepared file or its record at `path` is not the harness's own."""
    _state(Path(path))


def check_prepared(path: str | Path, dataset: str) -> None:
    """UserError if the file at `dataset`'s prepared path is not the harness's, or its record says it holds
    another dataset (copied over it); reads, changes nothing (the workflow asks this of every dataset
    when it is parsed, dry runs included)."""
    path = Path(path)
    if _state(path) == "sound" and (record := _read_record(path)).get("dataset") != dataset:
        raise UserError(_mismatch(path, record, dataset, "the workflow"))


def vet_prepared(path: str | Path, dataset: str) -> str | None:
    """The workflow's check of a prepared file it may write, during a build (before Snakemake deletes it).

    UserError if the file there is not the harness's. One of its own whose size differs from its
    record (truncated), or whose record says other than what this robustrepro makes for `dataset`
    (`expected`: another generator, say), is moved aside, so that the prepare rule rebuilds it;
    the returned note says so. A record that predates its `synthetic` entry is completed instead.
    """
    path = Path(path)
    state = _state(path)
    if state == "damaged":
        why = f"its size differs from that in {record_path(path).name}"
        return f"prepared dataset {path} is damaged ({why}): moved it aside to {_set_aside(path, why).name}; {_REBUILDS}"
    if state != "sound":
        return None
    record = _read_record(path)
    if record.get("dataset") != dataset:
        raise UserError(_mismatch(path, record, dataset, "the workflow"))
    if "synthetic" not in record:
        try:
            record = _load(path, _REBUILDS)[1]
        except UserError as err:
            if path.exists():
                raise
            return str(err)  # damaged: moved aside
    if stale := [key for key, value in expected(dataset).items() if record.get(key) != value]:
        why = f"its record's {', '.join(stale)} differ from what this robustrepro makes for {dataset}"
        aside = _set_aside(path, why, ".old")
        return f"prepared dataset {path} is outdated ({why}): moved it aside to {aside.name}; {_REBUILDS}"
    return None


def expected(dataset: str) -> dict:
    """What the record of `dataset`'s prepared file says when this robustrepro made it (besides its size and
    digest): the registry's shape and classes and whether it is synthetic (the generator's settings, or
    None), and a synthetic set's split sizes. Only the name for a dataset the registry lacks (a test's)."""
    from robustrepro.data.registry import DATASETS
    from robustrepro.data.synthetic import generator_settings, synthetic_sizes

    info = DATASETS.get(dataset)
    if info is None:
        return {"dataset": dataset}
    out = {"dataset": dataset, "shape": list(info.shape), "classes": info.num_classes, "synthetic": None}
    if info.is_synthetic:
        out["train"], out["test"] = synthetic_sizes(info.num_classes)
        out["synthetic"] = generator_settings(info)
    return out


def _state(path: Path) -> str:
    """absent, sound (the size its record gives), unrecorded (the harness's, no record) or damaged
    (the harness's, another size than recorded); UserError if the file or its record is someone else's."""
    record = _read_record(path)
    if not os.path.lexists(path):
        return "absent"
    if record is not None and path.is_file() and path.stat().st_size == record.get("size"):
        return "sound"
    ours = _npz_is_ours(path)
    if record is not None and ours is not False:  # an unreadable npz under our record: truncated
        return "damaged"
    if ours:
        return "unrecorded"
    raise UserError(_foreign(path))


def _write_record(path: Path, size: int, digest: str, data: Prepared, synthetic: dict | None) -> None:
    atomic_write_text(record_path(path), json.dumps(_record(path, size, digest, data, synthetic)) + "\n")


def _record(path: Path, size: int, digest: str, data: Prepared, synthetic: dict | None) -> dict:
    return {"format": FORMAT, "file": path.name, "size": size, "sha256": digest, "dataset": data.name,
            "train": len(data.train_y), "test": len(data.test_y), "shape": list(data.shape),
            "classes": data.num_classes, "synthetic": synthetic}


def _made_by(data: Prepared) -> dict | None:
    """The `synthetic` entry for a file recorded after the fact: the generator's settings if it makes
    exactly these arrays for the file's dataset today, else None (then `vet_prepared` rebuilds it)."""
    from robustrepro.data.registry import DATASETS
    from robustrepro.data.synthetic import generator_settings, make_synthetic

    info = DATASETS.get(data.name)
    if info is None or not info.is_synthetic:
        return None
    made = make_synthetic(info)
    same = all(np.array_equal(getattr(made, k), getattr(data, k)) for k in ("train_x", "train_y", "test_x", "test_y"))
    return generator_settings(info) if same else None


def _read_record(path: Path) -> dict | None:
    """The harness's record of the prepared file `path`, None if there is none; UserError if another file is there."""
    record = record_path(path)
    try:
        meta = json.loads(record.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise UserError(_foreign(record))
    return meta


def _npz_is_ours(path: Path) -> bool | None:
    """Whether an npz holds the harness's marker (or is the harness's older format); None if it is no
    readable zip. Reads only the zip's directory at the end of the file, not the arrays."""
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    return f"{_MARKER}.npy" in names or names == _LEGACY_MEMBERS


def _damaged(path: Path, why: str, then: str) -> UserError:
    return UserError(f"prepared dataset {path} is damaged ({why}): moved it aside to {_set_aside(path, why).name}; "
                     f"{then}")


def _set_aside(path: Path, why: str, suffix: str = ".corrupt") -> Path:
    """Move a damaged or outdated file of the harness out of the way, so that the workflow sees it missing."""
    state = "damaged" if suffix == ".corrupt" else "outdated"
    return set_aside(path, suffix, f"prepared dataset {path} is {state} ({why})")


def _mismatch(path: Path, record: dict, dataset: str, who: str) -> str:
    held = record.get("dataset")
    fix = (f"move it and its record {record_path(path).name} away, and the workflow's prepare rule rebuilds {dataset}"
           if path.name == f"{dataset}.npz" else
           f"give it {dataset}'s own prepared file, {path.with_name(dataset + '.npz')} (the workflow's prepare rule "
           "builds it)")
    return (f"prepared dataset {path} holds {held} ({_describe(record)}), but {who} asks for {dataset}: {fix}")


def _describe(record: dict) -> str:
    shape = "x".join(map(str, record.get("shape") or ["?"]))
    made = "synthetic" if record.get("synthetic") else "read from raw files"
    return f"{record.get('train')} train and {record.get('test')} test images of {shape}, " \
           f"{record.get('classes')} classes, {made}"


def _foreign(path: Path) -> str:
    return (f"{path} was not written by robustrepro, and preparing the dataset would overwrite it: point "
            "data.prepared (or --out) at another folder, or move the file away")

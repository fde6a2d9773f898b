"""A prepared dataset: the whole train and test sets as uint8 arrays in one .npz file.

Every run loads this file (never the raw downloads), so preparing happens once per dataset.
Beside each one the harness writes a record, `<name>.npz.json`, with its size and sha256:
the record marks the file as the harness's own (the prepared folder may be a user's folder,
and a file the harness did not write is never overwritten), and lets a damaged file be
found, named and rebuilt instead of failing deep inside numpy. Checking ownership and size
costs a stat and a small JSON read, so the workflow does it at parse time; the full digest
is checked when the file is loaded.
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
from robustrepro.files import atomic_open, atomic_write_text, file_digest

FORMAT = "robustrepro-prepared/1"
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


def save_prepared(path: str | Path, data: Prepared) -> None:
    path = Path(path)
    check_writable(path)
    record = record_path(path)
    # Serialised and hashed in memory first, so that the npz and its record land within
    # microseconds of each other: a workflow parsed meanwhile (another cluster job) finds an
    # npz without a record only in that instant, and a kill leaves at worst an npz without a
    # record (rebuilt by the workflow), never a record vouching for other bytes.
    buffer = io.BytesIO()
    np.savez(buffer, **{_MARKER: np.array(FORMAT)}, name=np.array(data.name), train_x=data.train_x,
             train_y=data.train_y, test_x=data.test_x, test_y=data.test_y, classes=np.array(data.classes))
    raw = buffer.getbuffer()
    meta = {"format": FORMAT, "file": path.name, "size": len(raw), "sha256": hashlib.sha256(raw).hexdigest(),
            "dataset": data.name, "train": len(data.train_y), "test": len(data.test_y), "shape": list(data.shape),
            "classes": data.num_classes}
    with atomic_open(path) as f:
        f.write(raw)
        f.flush()
        record.unlink(missing_ok=True)  # the old record must not outlive the old npz
    atomic_write_text(record, json.dumps(meta) + "\n")


def load_prepared(path: str | Path) -> Prepared:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"prepared dataset {path} is missing; build it with the workflow's prepare rule")
    record = _read_record(path)
    if record is None:
        raise UserError(f"prepared dataset {path} has no record {record_path(path).name} beside it (written by an "
                        "older robustrepro, or its writing was interrupted): run the workflow again to rebuild it")
    if path.stat().st_size != record.get("size") or file_digest(path) != record.get("sha256"):
        if _npz_is_ours(path) is False:
            raise UserError(_foreign(path))
        aside = _set_aside(path)
        raise UserError(f"prepared dataset {path} is damaged (its size or sha256 differs from those recorded in "
                        f"{record_path(path).name} when it was written): moved it aside to {aside.name}; run the "
                        "workflow again to rebuild it")
    try:
        with np.load(path) as z:
            return Prepared(name=str(z["name"]), train_x=z["train_x"], train_y=z["train_y"].astype(np.int64),
                            test_x=z["test_x"], test_y=z["test_y"].astype(np.int64),
                            classes=tuple(str(c) for c in z["classes"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        # Bytes as written, yet unreadable: the writer was wrong, so rebuilding is the fix too.
        raise UserError(f"prepared dataset {path} cannot be read ({type(exc).__name__}: {exc}); delete it and "
                        "run the workflow again to rebuild it") from exc


def check_writable(path: str | Path) -> None:
    """UserError naming the file if a prepared file or its record at `path` is not the harness's own."""
    _state(Path(path))


def vet_prepared(path: str | Path) -> str | None:
    """The workflow's parse-time check of a prepared file it may write (before Snakemake deletes it).

    UserError if the file there is not the harness's. One of its own that cannot be trusted goes,
    so that the prepare rule rebuilds it, and the returned note says so: one whose size differs from
    its record (truncated) is moved aside; one without a record (a kill between the two writes, or
    an older robustrepro) is removed, its marker having shown it is the harness's.
    """
    path = Path(path)
    state = _state(path)
    if state == "damaged":
        aside = _set_aside(path)
        return (f"prepared dataset {path} is damaged (its size differs from that in {record_path(path).name}): "
                f"moved it aside to {aside.name}; the prepare rule rebuilds it")
    if state == "unrecorded":
        path.unlink(missing_ok=True)
        return (f"prepared dataset {path} has no record {record_path(path).name} (written by an older robustrepro, "
                "or its writing was interrupted): removed it; the prepare rule rebuilds it")
    return None


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


def _set_aside(path: Path) -> Path:
    # Renamed, not deleted: nothing is lost if the file turns out to matter to someone.
    aside = path.with_name(path.name + ".corrupt")
    try:
        os.replace(path, aside)
    except FileNotFoundError:
        pass  # another job loading the same file moved it first
    return aside


def _foreign(path: Path) -> str:
    return (f"{path} was not written by robustrepro, and preparing the dataset would overwrite it: point "
            "data.prepared (or --out) at another folder, or move the file away")

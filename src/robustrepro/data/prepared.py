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
    _write_record(path, len(raw), hashlib.sha256(raw).hexdigest(), data)


def load_prepared(path: str | Path) -> Prepared:
    path = Path(path)
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
        raise _damaged(path, f"its size or sha256 differs from those in {record_path(path).name}, written with it")
    try:
        # Reading every array also checks each one's zip CRC-32: what vouches for an unrecorded file.
        with np.load(path) as z:
            data = Prepared(name=str(z["name"]), train_x=z["train_x"], train_y=z["train_y"].astype(np.int64),
                            test_x=z["test_x"], test_y=z["test_y"].astype(np.int64),
                            classes=tuple(str(c) for c in z["classes"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise _damaged(path, f"{type(exc).__name__}: {exc}") from exc
    if record is None:
        try:
            _write_record(path, size, digest, data)
        except OSError:
            pass  # a read-only folder: the file stays unrecorded, checked by its CRCs on each load
    return data


def check_writable(path: str | Path) -> None:
    """UserError naming the file if a prepared file or its record at `path` is not the harness's own."""
    _state(Path(path))


def check_prepared(path: str | Path) -> None:
    """UserError if the file at a prepared path is not the harness's; reads, changes nothing
    (the workflow asks this of every dataset when it is parsed, dry runs included)."""
    _state(Path(path))


def vet_prepared(path: str | Path) -> str | None:
    """The workflow's parse-time check of a prepared file it may write (before Snakemake deletes it).

    UserError if the file there is not the harness's. One of its own whose size differs from its
    record (truncated) is moved aside, so that the prepare rule rebuilds it; the returned note says so.
    """
    path = Path(path)
    if _state(path) != "damaged":
        return None
    why = f"its size differs from that in {record_path(path).name}"
    aside = _set_aside(path, why)
    return f"prepared dataset {path} is damaged ({why}): moved it aside to {aside.name}; the prepare rule rebuilds it"


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


def _write_record(path: Path, size: int, digest: str, data: Prepared) -> None:
    meta = {"format": FORMAT, "file": path.name, "size": size, "sha256": digest, "dataset": data.name,
            "train": len(data.train_y), "test": len(data.test_y), "shape": list(data.shape),
            "classes": data.num_classes}
    atomic_write_text(record_path(path), json.dumps(meta) + "\n")


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


def _damaged(path: Path, why: str) -> UserError:
    return UserError(f"prepared dataset {path} is damaged ({why}): moved it aside to {_set_aside(path, why).name}; "
                     "run the workflow again to rebuild it")


def _set_aside(path: Path, why: str) -> Path:
    """Move a damaged file of the harness out of the way, so that the workflow sees it missing."""
    # Renamed, not deleted: nothing is lost if the file turns out to matter to someone.
    aside = path.with_name(path.name + ".corrupt")
    try:
        os.replace(path, aside)
    except FileNotFoundError:
        pass  # another job reading the same file moved it first
    except OSError as exc:  # a read-only folder, say
        raise UserError(f"prepared dataset {path} is damaged ({why}) and could not be moved aside "
                        f"({exc.strerror}): delete it, then run the workflow again to rebuild it") from None
    return aside


def _foreign(path: Path) -> str:
    return (f"{path} was not written by robustrepro, and preparing the dataset would overwrite it: point "
            "data.prepared (or --out) at another folder, or move the file away")

"""What a result was computed from: digests of its input files and a fingerprint of the code.

A checkpoint is only worth resuming, and a number only worth reporting, when it comes from the
same data and the same code as the run asks for now. The code fingerprint is the package
version plus a hash of every .py file of the package's source tree: exact (an uncommitted edit
counts, a commit that leaves the package alone does not) and available outside a git checkout.

Imports neither torch nor numpy: the data layer and the workflow may use it.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import os
import socket
from pathlib import Path

import robustrepro
from robustrepro.errors import UserError
from robustrepro.files import file_digest

PACKAGE_ROOT = Path(robustrepro.__file__).resolve().parent


@functools.lru_cache(maxsize=None)
def source_hash(root: Path = PACKAGE_ROOT) -> str:
    """sha256 over the relative path and bytes of every .py file under `root`, in path order."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py"), key=lambda p: p.relative_to(root).as_posix()):
        content = path.read_bytes()
        # Name and length framed, so moving bytes from one file to the next changes the hash.
        digest.update(f"{path.relative_to(root).as_posix()}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()


def code_fingerprint(root: Path = PACKAGE_ROOT) -> dict[str, str]:
    """The code that computes a result: the package version and the hash of its sources (once per process)."""
    return {"robustrepro": robustrepro.__version__, "source_sha256": source_hash(Path(root))}


def input_digests(**paths) -> dict[str, str]:
    """sha256 of each named input file, e.g. input_digests(prepared=..., view=...); None paths are left out."""
    for name, path in paths.items():
        if path is not None and not Path(path).is_file():
            raise UserError(f"{name} file {path} is missing; build it with the workflow")
    return {name: file_digest(path) for name, path in paths.items() if path is not None}


def now() -> str:
    """A wall-clock time stamp for provenance records: UTC, to the second."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def process_info() -> dict:
    """Who is computing: host and pid."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


def differences(recorded: dict | None, current: dict, what: str) -> list[str]:
    """Readable lines for each key of `current` that `recorded` lacks or holds another value for.

    A key only one side has counts too: a clustering file now given that the record lacks means
    the record is of another computation.
    """
    recorded = recorded or {}
    lines = []
    for key in sorted(set(recorded) | set(current)):
        old, new = recorded.get(key), current.get(key)
        if old != new:
            lines.append(f"{what} {key} was {_short(old)}, is now {_short(new)}")
    return lines


def _short(value) -> str:
    if value is None:
        return "not recorded"
    text = str(value)
    return text[:12] if len(text) == 64 else text  # a sha256 is told apart by its first 12 digits

"""Writing and fingerprinting files: atomic writes under unique temporary names, and digests.

Every file the harness writes goes through `atomic_write`: the content goes to a temporary
file with a unique name in the same folder, which is then renamed over the target. A kill
leaves the old file or the new one, never half of one, and two writers of the same file
(an orphaned job and a fresh one) each rename a whole file instead of crashing on each
other's temporary file.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from robustrepro.errors import UserError

_CHUNK = 1 << 20


# A write that failed for want of space (or of quota): the user can fix that, so it is a UserError.
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def disk_full(path: str | Path, exc: OSError) -> str:
    return (f"disk full writing {path} ({exc.strerror}): free space on that file system (df -h shows it) "
            "and run again; the files already finished are kept")


@contextlib.contextmanager
def atomic_open(path: str | Path) -> Iterator[BinaryIO]:
    """A binary file to write `path`'s new content to; it replaces `path` when the block ends without error."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        # mkstemp makes the file private; give it the permissions any new file gets here
        # (a lab's shared data.prepared must stay readable by the others).
        os.chmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            yield f
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        if isinstance(exc, OSError) and exc.errno in DISK_FULL:
            raise UserError(disk_full(path, exc)) from None
        raise


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it, so set it straight back
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, write: Callable[[BinaryIO], object]) -> None:
    """Call write(file) on a temporary file, then rename it to `path`."""
    with atomic_open(path) as f:
        write(f)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode()))


def file_digest(path: str | Path, algorithm: str = "sha256") -> str:
    """The hex digest of a file's bytes, read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def set_aside(path: str | Path, suffix: str, what: str) -> Path:
    """Rename a damaged or outdated file to path + suffix, so that the workflow finds it missing and
    rebuilds it (renamed, not deleted: nothing is lost if it turns out to matter to someone). `what`
    describes it ("training view V is damaged") in the one line raised when it cannot be moved."""
    path = Path(path)
    aside = path.with_name(path.name + suffix)
    try:
        os.replace(path, aside)
    except FileNotFoundError:
        pass  # another job reading the same file moved it first
    except OSError as exc:  # a read-only folder, say
        raise UserError(f"{what} and could not be moved aside ({exc.strerror}): delete it, then run the workflow "
                        "again to rebuild it") from None
    return aside

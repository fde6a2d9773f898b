"""Make a dataset's raw files present and MD5-verified under the data root, downloading what is missing.

A file on disk is trusted only when its MD5 matches the registry; a mismatch is an error, never
silently re-downloaded or used, because a corrupt file found later (mid-training) is far harder
to diagnose. Downloads stream to a temporary file and get the final name only after the MD5 check,
so an interrupted or corrupt download never looks like a finished one.
"""

from __future__ import annotations

import hashlib
import http.client
import sys
import tempfile
import urllib.request
from pathlib import Path

from tqdm import tqdm

from robustrepro.data.registry import DatasetInfo, RawFile, dataset_info
from robustrepro.errors import UserError
from robustrepro.files import atomic_open, file_digest

_CHUNK = 1 << 20
_TIMEOUT_S = 60


def mirror_url(mirror: str, raw: RawFile) -> str:
    """A mirror holds the raw files at the same relative paths as the data root.

    `mirror` is a base URL (http://, https://, file://) or a local directory; for example the
    MNIST training images come from `{mirror}/MNIST/raw/train-images-idx3-ubyte.gz`. Any copy of
    a filled data root therefore serves as a mirror.
    """
    base = mirror if "://" in mirror else Path(mirror).resolve().as_uri()
    return f"{base.rstrip('/')}/{raw.path}"


def _check_md5(path: Path, expected: str) -> None:
    actual = file_digest(path, "md5")
    if actual != expected:
        raise UserError(f"{path} has md5 {actual}, expected {expected}: the file is corrupt or truncated; "
                        f"delete it and it will be downloaded again")


def _missing_error(info: DatasetInfo, root: Path, missing: list[RawFile], how: str) -> UserError:
    names = ", ".join(raw.path for raw in missing)
    return UserError(f"dataset {info.name}: missing under {root}: {names}; {how}. Fix: put the files there "
                     f"(torchvision's layout), or set data.mirror to a mirror that has them, "
                     f"or data.root to a folder that has them")


def _missing_after_checking_present(info: DatasetInfo, root: Path) -> list[RawFile]:
    """The raw files not under root; every one that is there is MD5-checked (no network)."""
    missing = []
    for raw in info.files:
        if (root / raw.path).is_file():
            _check_md5(root / raw.path, raw.md5)
        else:
            missing.append(raw)
    return missing


def verify_present(dataset: str | DatasetInfo, root: str | Path) -> list[Path]:
    """The dataset's raw files under root, each MD5-checked; no download. Synthetic datasets: []."""
    info, root = dataset_info(dataset), Path(root)
    missing = _missing_after_checking_present(info, root)
    if missing:
        raise _missing_error(info, root, missing, "nothing was downloaded (verify only)")
    return [root / raw.path for raw in info.files]


def fetch(dataset: str | DatasetInfo, root: str | Path, mirror: str | None = None,
          progress: bool = True) -> list[Path]:
    """Make every raw file of the dataset present under root with the right MD5; return their paths.

    Files already present are only verified (no network). A missing file is downloaded from its
    official URLs in turn or, when `mirror` is given, from the mirror alone (see `mirror_url`),
    so that clusters without internet never wait on the official hosts. Raises UserError for a
    present file with the wrong MD5, a download with the wrong MD5, or when the download fails:
    that error names the directory, the missing files and the URLs tried. Synthetic datasets: [].
    """
    info, root = dataset_info(dataset), Path(root)
    missing = _missing_after_checking_present(info, root)
    for i, raw in enumerate(missing):
        urls = [mirror_url(mirror, raw)] if mirror else list(raw.urls)
        failures = []
        for url in urls:
            try:
                _download(url, root / raw.path, raw.md5, progress)
                break
            except (OSError, http.client.HTTPException) as e:  # URLError, HTTPError, refused, timeout, reset
                failures.append(f"{url} ({getattr(e, 'reason', None) or e})")
        else:
            # Stop at the first file that cannot be had: the rest would most likely fail the same way.
            how = f"downloading failed: {'; '.join(failures)}" if failures else "no URL to download them from"
            raise _missing_error(info, root, missing[i:], how)
    return [root / raw.path for raw in info.files]


def _download(url: str, dest: Path, md5: str, progress: bool) -> None:
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=dest.parent).close()
    except OSError as e:
        raise UserError(f"cannot write into {dest.parent} ({e.strerror}); set data.root to a writable folder") from e
    digest = hashlib.md5()
    # The file gets its name only when the block ends without error: after the MD5 check.
    with atomic_open(dest) as out, urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, file=sys.stderr,
                  disable=not progress) as bar:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                bar.update(len(chunk))
        if digest.hexdigest() != md5:
            raise UserError(f"{url} gave {dest.name} with md5 {digest.hexdigest()}, expected {md5} (truncated or "
                            f"wrong file); nothing was saved to {dest}. Check data.mirror or retry later")

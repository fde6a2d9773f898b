"""Whether the workflow can have a dataset here: generated, prepared, verified earlier, on disk, or
downloadable (a HEAD request to its URL, or to the configured mirror). robustrepro.plan asks it of
every dataset a build needs, to build what can be and list the rest with the fix.

Imports no torch: the workflow calls it while it builds the DAG.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from robustrepro.data.download import mirror_url
from robustrepro.data.registry import DatasetInfo

PROBE_TIMEOUT_S = 5


@dataclass(frozen=True)
class Availability:
    dataset: str
    ok: bool
    how: str  # where it comes from, or why it cannot be had
    fix: str = ""


def _raw_roots(data: dict) -> list[Path]:
    return [Path(r) for r in [*data.get("shared_roots", []), data["root"]]]


def _probe(url: str) -> str | None:
    """None when `url` answers (a HEAD request), else why not."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=PROBE_TIMEOUT_S):
            return None
    except urllib.error.HTTPError as exc:
        # A server that refuses HEAD (403/405) is there; the download itself will tell.
        return None if exc.code in (403, 405) else f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return str(getattr(exc, "reason", None) or exc)


def availability(info: DatasetInfo, data: dict, prepared: str | Path, downloads: str | Path = "resources/downloads",
                 probe: bool = True) -> Availability:
    """Whether the workflow can have `info`'s data: generated, prepared, on disk, or downloadable."""
    name = info.name
    if info.is_synthetic:
        return Availability(name, True, "generated (synthetic stand-in)")
    if (Path(prepared) / f"{name}.npz").is_file():
        return Availability(name, True, f"prepared in {prepared}")
    if (Path(downloads) / f"{name}.json").is_file():
        return Availability(name, True, "raw files verified earlier")
    for root in _raw_roots(data):
        if all((root / raw.path).is_file() for raw in info.files):
            return Availability(name, True, f"raw files under {root}")
    fix = (f"put {', '.join(raw.path for raw in info.files)} under data.root ({data['root']}) in torchvision's "
           "layout, or set data.mirror to a copy of such a folder, or data.shared_roots to a folder that has them")
    if not probe:
        return Availability(name, False, "raw files not found (download not tried)", fix)
    raw = info.files[0]
    urls = [mirror_url(data["mirror"], raw)] if data.get("mirror") else list(raw.urls)
    failures = []
    for url in urls:
        why = _probe(url)
        if why is None:
            return Availability(name, True, f"to download from {url.rsplit('/', 1)[0]}/")
        failures.append(f"{url}: {why}")
    return Availability(name, False, "raw files not found and cannot be downloaded (" + "; ".join(failures) + ")", fix)


def probe_here(url: str) -> bool:
    """Whether a dry run may probe `url`: files on this machine, never the network."""
    return url.startswith("file:")

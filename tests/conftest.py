"""Shared test helpers: where the repo and ../shared/data are, and running snakemake for real."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def smoke_config(tmp_path: Path, **changes) -> Path:
    """A smoke-scale, CPU-only config whose data and results live under tmp_path."""
    cfg = {
        "scale": "smoke",
        "seeds": [0, 1],
        "data": {"root": str(tmp_path / "data"), "shared_roots": [], "mirror": None,
                 "prepared": str(tmp_path / "prepared")},
        "device": "cpu",
        "threads": 1,
        "progress": False,
        "pack": True,  # the packed path of the workflow, which `auto` takes on CUDA only
    }
    cfg.update(changes)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def snakemake(workdir: Path, configfile: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run the real snakemake on the project's Snakefile with workdir as its working directory."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(configfile), "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def shared_data() -> Path:
    if not (SHARED_DATA / "MNIST" / "raw").is_dir():
        pytest.skip(f"{SHARED_DATA} (the original MNIST/FashionMNIST files) is not present")
    return SHARED_DATA


# The whole smoke build, every paper's targets once; the test that first asks for it waits for it,
# so every test that uses it gets this much longer than pyproject's per-test timeout.
# It stops a hung build; the suite's time budget is CI's to hold. About 25 minutes on a quiet
# 2-core machine, it ran past 30 here while other jobs shared the cores.
SMOKE_ALL_TIMEOUT = 2700


def pytest_collection_modifyitems(items):
    for item in items:
        if "smoke_all" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.timeout(SMOKE_ALL_TIMEOUT + 120))


@pytest.fixture(scope="session")
def smoke_all(tmp_path_factory) -> Path:
    """One smoke build of `all` (every target of every paper, seed 0), shared by the tests that inspect it."""
    workdir = tmp_path_factory.mktemp("smoke-all")
    cfg = smoke_config(workdir, seeds=[0])
    proc = snakemake(workdir, cfg, "all", timeout=SMOKE_ALL_TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return workdir


def stand_in_mirror(folder: Path) -> str:
    """A file:// mirror holding an empty file at every raw path of every dataset: enough for a dry
    run to plan every target (the workflow's plan only checks that a download would find files)."""
    from robustrepro.data.registry import DATASETS

    for info in DATASETS.values():
        for raw in info.files:
            (folder / raw.path).parent.mkdir(parents=True, exist_ok=True)
            (folder / raw.path).touch()
    return folder.as_uri()

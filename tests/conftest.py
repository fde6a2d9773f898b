"""Shared test helpers: where the repo and ../shared/data are, running snakemake for real, the
session's smoke builds, and the fast tier's time limit."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytest_plugins = ["pytester"]

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


# The smoke builds of the session share one working directory: each paper's build trains only
# that paper's runs, and a later build (another paper's, or `all`) reuses what is there. The test
# that first asks for a build waits for it, so tests using one get this much longer than
# pyproject's per-test timeout; it stops a hung build, the suite's time budget is CI's to hold.
SMOKE_BUILD_TIMEOUT = 1800
SMOKE_FIXTURES = ("smoke_all", "smoke_paper")


def pytest_collection_modifyitems(items):
    for item in items:
        if set(SMOKE_FIXTURES) & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.timeout(SMOKE_BUILD_TIMEOUT + 120))


# The fast tier (`make test-fast`, `pytest -m "not slow"`) is for every change: a test in it that
# takes longer than this fails, naming the fix (mark it slow, or make it faster).
FAST_TIER = "not slow"
FAST_LIMIT_S = float(os.environ.get("ROBUSTREPRO_FAST_LIMIT_S", "10"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if item.config.getoption("markexpr", "") != FAST_TIER or item.get_closest_marker("slow") is not None:
        return
    if call.when == "setup":  # a fixture's work counts as the test's
        item.stash[_SETUP_S] = call.duration
    elif call.when == "call" and report.passed:
        took = item.stash.get(_SETUP_S, 0.0) + call.duration
        if took > FAST_LIMIT_S:
            report.outcome = "failed"
            report.longrepr = (f"{item.nodeid} took {took:.1f} s in the fast tier (limit {FAST_LIMIT_S:g} s): "
                               "mark it @pytest.mark.slow, or make it faster")


_SETUP_S = pytest.StashKey[float]()


class SmokeBuilds:
    """Smoke builds (seed 0) in one working directory, each made once per session."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.config = smoke_config(workdir, seeds=[0])
        self.built: set[str] = set()

    def build(self, name: str, targets: list[str]) -> Path:
        if name not in self.built:
            proc = snakemake(self.workdir, self.config, *targets, timeout=SMOKE_BUILD_TIMEOUT)
            assert proc.returncode == 0, proc.stderr[-4000:]
            self.built.add(name)
        return self.workdir

    def paper(self, slug: str) -> Path:
        """Every target of one paper, its comparison and claims."""
        from robustrepro.papers import load

        paper = load(slug)
        files = [f"results/smoke/{slug}/{t.name}{ext}" for t in paper.targets for ext in t.outputs()]
        files += [f"results/smoke/{slug}/{name}" for name in ("comparison.tex", "comparison.csv", "claims.csv",
                                                               "report.tex")]
        files += [f"results/smoke/{slug}/report.pdf"] if shutil.which("pdflatex") else []
        return self.build(slug, files)

    def all(self) -> Path:
        return self.build("all", ["all"])


@pytest.fixture(scope="session")
def smoke_builds(tmp_path_factory) -> SmokeBuilds:
    return SmokeBuilds(tmp_path_factory.mktemp("smoke"))


@pytest.fixture(scope="session")
def smoke_all(smoke_builds) -> Path:
    """The smoke build of `all`: every target of every paper and the index."""
    return smoke_builds.all()


@pytest.fixture(scope="session")
def smoke_paper(smoke_builds):
    """smoke_paper(slug): the working directory once that paper's smoke targets are built."""
    return smoke_builds.paper


def stand_in_mirror(folder: Path) -> str:
    """A file:// mirror holding an empty file at every raw path of every dataset: enough for a dry
    run to plan every target (the workflow's plan only checks that a download would find files)."""
    from robustrepro.data.registry import DATASETS

    for info in DATASETS.values():
        for raw in info.files:
            (folder / raw.path).parent.mkdir(parents=True, exist_ok=True)
            (folder / raw.path).touch()
    return folder.as_uri()

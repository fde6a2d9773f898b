"""A dry run or a lint looks and says; it writes, moves and downloads nothing."""

import os
from pathlib import Path

import pytest

from conftest import ROOT, smoke_config, snakemake, stand_in_mirror
from robustrepro import plan
from robustrepro.data import availability
from robustrepro.data import prepare
from robustrepro.data.registry import DATASETS
from robustrepro.scales import SCALES


def _files(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under root but Snakemake's own bookkeeping: its size and modification time."""
    found = {}
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".snakemake"]
        for name in names:
            stat = (Path(folder) / name).stat()
            found[str((Path(folder) / name).relative_to(root))] = (stat.st_size, stat.st_mtime_ns)
    return found


@pytest.mark.slow
def test_a_dry_run_of_every_target_at_every_scale_writes_and_moves_no_file(tmp_path):
    mirror = stand_in_mirror(tmp_path / "mirror")
    data = {"root": str(tmp_path / "data"), "shared_roots": [], "mirror": mirror, "prepared": str(tmp_path / "prepared")}
    # A truncated prepared file of the harness's own: a build moves it aside to rebuild it, a dry run must not.
    damaged = tmp_path / "prepared" / "synthetic-mnist.npz"
    prepare("synthetic-mnist", None, damaged)
    with open(damaged, "r+b") as f:
        f.truncate(damaged.stat().st_size // 2)
    configs = {}
    for scale in SCALES:
        (tmp_path / scale).mkdir()
        configs[scale] = smoke_config(tmp_path / scale, scale=scale, seeds=[0], data=data)
    before = _files(tmp_path)
    for scale, cfg in configs.items():
        proc = snakemake(tmp_path, cfg, "-n", "all")
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert f"results/{scale}/index.md" in proc.stdout
    lint = snakemake(tmp_path, configs["smoke"], "--lint")
    assert lint.returncode == 0, lint.stdout[-3000:]
    assert _files(tmp_path) == before


def test_a_dry_runs_plan_probes_no_network_url(tmp_path, monkeypatch):
    """Where a dataset's files are not here, a build probes its URL once; a dry run says it would download."""
    def no_probe(url):
        raise AssertionError(f"a dry run probed {url}")

    monkeypatch.setattr(availability, "_probe", no_probe)
    data = {"root": str(tmp_path / "data"), "shared_roots": [], "mirror": None, "prepared": str(tmp_path / "prepared")}
    from robustrepro.papers import all_papers
    from robustrepro.pipeline import Pipeline

    pipeline = Pipeline(all_papers(), [0])
    targets = plan.AllTargets(pipeline, "quick", data, data["prepared"], dry_run=True)
    assert targets.datasets["cifar10"].ok and "a dry run does not probe the network" in targets.datasets["cifar10"].how
    assert DATASETS["cifar10"].files[0].urls[0].rsplit("/", 1)[0] in targets.datasets["cifar10"].how
    with pytest.raises(AssertionError, match="probed"):
        plan.AllTargets(pipeline, "quick", data, data["prepared"], dry_run=False)


def test_the_workflow_files_stay_glue(tmp_path):
    """rules/common.smk glues the package to the rules; the library work lives in robustrepro."""
    assert len((ROOT / "rules" / "common.smk").read_text().splitlines()) <= 200

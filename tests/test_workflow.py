"""End to end: the real snakemake builds several smoke-scale runs in a temporary directory."""

import json
import time

import pandas as pd
import pytest

from conftest import ROOT, smoke_config, snakemake

pytestmark = pytest.mark.slow


def test_smoke_dag_trains_every_default_run(tmp_path):
    cfg = smoke_config(tmp_path)
    proc = snakemake(tmp_path, cfg, "all")
    assert proc.returncode == 0, proc.stderr[-4000:]

    metrics = sorted((tmp_path / "results" / "smoke" / "runs").glob("*/metrics.json"))
    assert len(metrics) == 4  # two datasets x two seeds
    for path in metrics:
        m = json.loads(path.read_text())
        assert m["provenance"]["run"]["dataset"].startswith("synthetic-")
        assert 0.0 <= m["test_acc1"] <= 1.0
        history = pd.read_csv(path.parent / "history.csv")
        assert len(history) == m["provenance"]["run"]["epochs"]
        assert (tmp_path / "results" / "smoke" / "logs" / "train" / f"{path.parent.name}.log").is_file()
    # The two seeds of one dataset are different runs with different numbers.
    accs = {json.loads(p.read_text())["seed"]: json.loads(p.read_text())["train_loss"]
            for p in metrics if "synthetic-mnist" in p.parent.name}
    assert accs[0] != accs[1]

    again = snakemake(tmp_path, cfg, "all")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


def test_lint_is_clean():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Congratulations" in proc.stdout + proc.stderr


def test_paper_scale_dry_run_takes_seconds(tmp_path):
    cfg = smoke_config(tmp_path, scale="paper", seeds=[0, 1, 2])
    start = time.monotonic()
    proc = snakemake(tmp_path, cfg, "-n", "all")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert time.monotonic() - start < 60
    assert "train" in proc.stdout

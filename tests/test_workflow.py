"""End to end: the real snakemake builds paper targets from smoke-scale runs in a temporary directory."""

import json
import re
import shutil
import subprocess
import sys
import time

import pandas as pd
import pytest

from conftest import ROOT, SHARED_DATA, smoke_config, snakemake

pytestmark = pytest.mark.slow


def test_smoke_builds_massive_noise_targets_comparison_and_report(smoke_paper):
    # The session's smoke build of this paper (seed 0); the mean and std over several seeds are test_report's.
    smoke_all = smoke_paper("massive-noise")
    out = smoke_all / "results" / "smoke" / "massive-noise"
    groups = pd.read_csv(out / "groups" / "alpha-grid.csv")
    assert len(groups) == 5 * 2 * 2 * 1  # models x alphas x learning rates x seeds at smoke scale
    # The runs of a model and alpha differ only in lr: each pair trains as one pack, one job.
    records = sorted((smoke_all / "results" / "smoke" / "packs").glob("synthetic-mnist-*-alpha*-pack-*.json"))
    assert len(records) == 5 * 2
    pack_of = {rid: record for record in records for rid in json.loads(record.read_text())["runs"]}
    for run_id in groups["run_id"]:
        m = json.loads((smoke_all / "results" / "smoke" / "runs" / run_id / "metrics.json").read_text())
        assert m["provenance"]["run"]["dataset"] == "synthetic-mnist" and 0 <= m["test_acc1"] <= 1
        assert json.loads(pack_of[run_id].read_text())["runs"][run_id]["test_acc1"] == m["test_acc1"]
        log = smoke_all / "results" / "smoke" / "logs" / "train" / f"{pack_of[run_id].stem}.log"
        assert f"run {run_id} epoch 1:" in log.read_text()
    for ext in (".pdf", ".png", ".csv"):
        assert (out / f"figure1{ext}").stat().st_size > 0
    comparison = pd.read_csv(out / "comparison.csv")
    row = comparison.iloc[0]
    assert row["reported"] == 91.0 and row["n"] == 1 and row["scale"] == "smoke"
    assert 0 <= row["reproduced"] <= 100 and row["difference"] == pytest.approx(row["reproduced"] - 91.0)
    claims = pd.read_csv(out / "claims.csv")
    assert len(claims) == 4 and set(claims["holds"]) <= {"holds", "fails"}



def test_smoke_all_builds_every_target_once_and_the_report(smoke_all):
    from robustrepro.papers import all_papers

    for paper in all_papers():
        for target in paper.targets:
            for ext in target.outputs():
                assert (smoke_all / "results" / "smoke" / paper.slug / f"{target.name}{ext}").stat().st_size > 0
    assert (smoke_all / "results" / "smoke" / "index.md").is_file()
    for paper in all_papers():  # each paper's table of the runs it trained, for the report
        runs = pd.read_csv(smoke_all / "results" / "smoke" / paper.slug / "runs.csv")
        assert list(runs["run_id"]) == [row["run_id"] for row in paper.runs("smoke", [0])]
    cfg = smoke_all / "config.yaml"
    again = snakemake(smoke_all, cfg, "all")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr
    report = snakemake(smoke_all, cfg, "--report", str(smoke_all / "report.html"))
    assert report.returncode == 0, report.stderr[-4000:]
    assert (smoke_all / "report.html").stat().st_size > 0
    assert "runs.csv" in (smoke_all / "report.html").read_text(errors="replace")
    for paper in all_papers():  # `all` builds every paper's report, and the Snakemake report links it
        assert (smoke_all / "results" / "smoke" / paper.slug / "report.tex").stat().st_size > 0
        if shutil.which("pdflatex"):
            assert (smoke_all / "results" / "smoke" / paper.slug / "report.pdf").stat().st_size > 0
    if shutil.which("pdflatex"):
        assert "report.pdf" in (smoke_all / "report.html").read_text(errors="replace")


def test_lint_is_clean():
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Congratulations" in proc.stdout + proc.stderr


def test_paper_scale_dry_run_of_every_target_takes_seconds(tmp_path):
    if not (SHARED_DATA / "MNIST" / "raw").is_dir():
        pytest.skip(f"{SHARED_DATA} has no MNIST")
    # CIFAR-10 from an empty local mirror: it cannot be had, whether or not this machine is online.
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    cfg = smoke_config(tmp_path, scale="paper", seeds=[0, 1, 2], data={
        "root": str(tmp_path / "data"), "shared_roots": [str(SHARED_DATA)], "mirror": empty.as_uri(),
        "prepared": str(tmp_path / "prepared")})
    start = time.monotonic()
    proc = snakemake(tmp_path, cfg, "-n", "all")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert time.monotonic() - start < 60
    assert re.search(r"massive-noise: 360 runs, 360 to train \(about [\d.]+ h\); data mnist; all targets", proc.stderr)
    assert "results/paper/massive-noise/groups/alpha-grid.csv" in proc.stdout

"""What makes a finished result out of date for the workflow, run for real on a copy of the project:
a code edit that can change a number reruns what it feeds; a comment, another spelling of the same
device, progress or pack reruns nothing; a finished run found again is kept, not trained again."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import ROOT, smoke_config
from robustrepro.config import workflow_config
from robustrepro.papers import load
from robustrepro.pipeline import Pipeline

pytestmark = pytest.mark.slow


def _project_copy(tmp_path):
    """The project as a user's checkout: its Snakefile, rules, profiles, environment and package."""
    copy = tmp_path / "project"
    copy.mkdir()
    for name in ("Snakefile", "rules", "profiles", "workflow", "config.yaml", "src"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(source, copy / name)
    return copy


def _run(project, work, config, *args):
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "snakemake", "-s", str(project / "Snakefile"), "--directory", str(work),
           "--configfile", str(config), "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900)


def _config(work, name, **changes):
    """A smoke config under `work` (its data and results there), kept as `name`.yaml beside the others."""
    work.mkdir(exist_ok=True)
    return smoke_config(work, seeds=[0], **changes).rename(work / f"{name}.yaml")


def _pack(config_path):
    """One pack of massive-noise's smoke runs (two lrs of one grid point) and its runs' metrics.json."""
    config = workflow_config({}, config_path)
    pipeline = Pipeline([load("massive-noise")], [0], pack=True)
    found, _ = pipeline.packs("smoke")
    pid, members = sorted(found.items())[0]
    return pid, [f"results/smoke/runs/{rid}/metrics.json" for rid in members], config


def test_code_edits_rerun_what_they_feed_and_nothing_else_does(tmp_path):
    project, work = _project_copy(tmp_path), tmp_path / "work"
    config = _config(work, "plain", pack=False)
    pid, metrics, _ = _pack(config)
    built = _run(project, work, config, *metrics)
    assert built.returncode == 0, built.stderr[-3000:]
    sessions = [json.loads((work / m).read_text())["provenance"]["sessions"] for m in metrics]

    def planned(*args, config=config):
        proc = _run(project, work, config, "-n", *metrics, *args)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stdout + proc.stderr

    # What cannot change a number: another spelling of the device, progress, a comment and a docstring.
    for changed in (_config(work, "auto", pack=False, device="auto"), _config(work, "progress", pack=False, progress=True)):
        assert "Nothing to be done" in planned(config=changed)
    synthetic = project / "src" / "robustrepro" / "data" / "synthetic.py"
    original = synthetic.read_text()
    synthetic.write_text(original.replace('"""', '"""Reworded. ', 1) + "\n# a comment\n")
    assert "Nothing to be done" in planned()
    report = project / "src" / "robustrepro" / "report" / "index.py"
    report.write_text(report.read_text() + "\nNOT_TRAINING = 1\n")  # training does not import the report
    assert "Nothing to be done" in planned()

    # What can: an edit of the code that makes the smoke images reruns the runs, saying why.
    synthetic.write_text(original + "\nEDITED = 1\n")
    plan = planned()
    assert "train" in plan and "params" in plan.lower()
    # The documented way to keep finished results across a code change (paid GPU-hours).
    assert "Nothing to be done" in planned("--rerun-triggers", "mtime", "input")

    # A forced rebuild with the same code keeps the finished runs: nothing is trained again.
    synthetic.write_text(original)
    forced = _run(project, work, config, *metrics, "--forcerun", "train")
    assert forced.returncode == 0, forced.stderr[-3000:]
    logs = " ".join(p.read_text() for p in (work / "results" / "smoke" / "logs" / "train").glob("*.log"))
    assert "keeping its results" in logs
    assert [json.loads((work / m).read_text())["provenance"]["sessions"] for m in metrics] == sessions

    # Packing the same runs now trains nothing either: the pack job keeps both finished runs.
    packed = _config(work, "packed", pack=True)
    proc = _run(project, work, packed, f"results/smoke/packs/{pid}.json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = (work / "results" / "smoke" / "logs" / "train" / f"{pid}.log").read_text()
    assert log.count("keeping its results") == 2 and "epoch 1" not in log.lower().replace("after epoch 1", "")
    assert [json.loads((work / m).read_text())["provenance"]["sessions"] for m in metrics] == sessions

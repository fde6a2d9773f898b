"""One build per working folder, for real: a second build (even after Snakemake's --unlock) stops with
one line and rebuilds nothing under the first; after a killed build, the same command run again
through the wrapper goes on (robustrepro.buildlock)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, smoke_config
from robustrepro.buildlock import LOCK
from robustrepro.flocks import try_flock
from robustrepro.papers import load

pytestmark = pytest.mark.slow


def _command(work, config, *args, wrapper=False):
    runner = ["-m", "robustrepro", "snakemake"] if wrapper else ["-m", "snakemake"]
    return [sys.executable, *runner, "-s", str(ROOT / "Snakefile"), "--directory", str(work), "--configfile",
            str(config), "--cores", "2", *args]


def _targets(n=6):
    rows = [r for r in load("massive-noise").runs("smoke", [0])][:n]
    return [f"results/smoke/runs/{r['run_id']}/metrics.json" for r in rows]


def _lock_held(work) -> bool:
    path = work / LOCK
    if not path.is_file():
        return False
    fd = try_flock(path)
    if fd is None:
        return True
    os.close(fd)
    return False


def _wait_for_lock(work, proc, seconds=300):
    end = time.monotonic() + seconds
    while not _lock_held(work):
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < end, "the first build never took its lock"
        time.sleep(0.2)


def test_a_second_build_stops_even_after_unlock_and_rebuilds_nothing_under_the_first(tmp_path):
    config = smoke_config(tmp_path, seeds=[0], pack=False)
    first = subprocess.Popen(_command(tmp_path, config, *_targets()), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, start_new_session=True)
    try:
        _wait_for_lock(tmp_path, first)
        views = sorted((tmp_path / "results" / "smoke" / "views").glob("*.npz"))
        stamps = {v: v.stat().st_mtime_ns for v in views}
        unlock = subprocess.run(_command(tmp_path, config, "--unlock"), capture_output=True, text=True, timeout=120)
        assert unlock.returncode == 0, unlock.stderr[-2000:]
        second = subprocess.run(_command(tmp_path, config, *_targets()), capture_output=True, text=True, timeout=600)
        assert second.returncode != 0
        lines = [line for line in second.stderr.splitlines() if line.startswith("robustrepro:")]
        assert any("another build runs in this folder (pid" in line for line in lines), second.stderr[-2000:]
        assert {v: v.stat().st_mtime_ns for v in views} == stamps  # nothing rebuilt under the first
    finally:
        out, err = first.communicate(timeout=900)
    assert first.returncode == 0, err[-3000:]


def test_a_killed_build_is_run_again_by_the_same_command(tmp_path):
    config = smoke_config(tmp_path, seeds=[0], pack=False)
    targets = _targets(4)
    build = subprocess.Popen(_command(tmp_path, config, *targets, wrapper=True), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
    _wait_for_lock(tmp_path, build)
    os.killpg(build.pid, signal.SIGKILL)  # Snakemake and its jobs, as a lost terminal or an OOM kill ends them
    build.communicate()
    assert list((tmp_path / ".snakemake" / "locks").glob("*.lock"))  # what Snakemake left behind
    again = subprocess.run(_command(tmp_path, config, *targets, wrapper=True), capture_output=True, text=True,
                           timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "which a killed build left (no build runs here)" in again.stderr
    assert all((tmp_path / t).is_file() for t in targets)

"""The SLURM profile against a real SLURM (cluster/local-slurm.sh start): the same numbers as a
local run, GPU requests, a failing run, and a cancelled run resumed from its checkpoint.

Without a SLURM that takes jobs these tests skip, except under CI (the CI variable set), where
they fail: CI must really run them.
"""

import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from conftest import ROOT, smoke_config, stand_in_mirror
from robustrepro.packs import packs
from robustrepro.papers import load
from robustrepro.runs import resolve, run_id

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

PROFILE = ROOT / "profiles" / "slurm"
PAPER = "massive-noise"  # its smoke targets: 20 runs, a couple of minutes on SLURM (robust to papers added)
# "Job <snakemake job> has been submitted with SLURM jobid <id> (log: <SLURM log>)"
SUBMITTED = re.compile(r"Job (\S+) has been submitted with SLURM jobid (\d+) \(log: (\S+)\)")


def slurm_unavailable() -> str | None:
    """Why no SLURM here takes jobs, or None when one does."""
    if shutil.which("sinfo") is None:
        return "SLURM is not installed (cluster/local-slurm.sh install, then start)"
    proc = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30)
    if proc.returncode != 0 or not {"idle", "mixed", "allocated"} & set(proc.stdout.split()):
        said = (proc.stderr or proc.stdout).strip() or "no node"
        return f"no SLURM node takes jobs (sinfo: {said}); start one with cluster/local-slurm.sh start"
    return None


@pytest.fixture(scope="module", autouse=True)
def slurm():
    reason = slurm_unavailable()
    if reason and os.environ.get("CI"):
        pytest.fail(f"CI must run the SLURM tests, but {reason}")
    if reason:
        pytest.skip(reason)


def command(workdir: Path, configfile: Path, *args: str, snakefile: Path = ROOT / "Snakefile",
            on_slurm: bool = True) -> list[str]:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(snakefile), "--directory", str(workdir),
           "--configfile", str(configfile)]
    if on_slurm:
        # The profile as users run it; only the first look at the jobs comes sooner than 40 s.
        cmd += ["--workflow-profile", str(PROFILE), "--slurm-init-seconds-before-status-checks", "2"]
    else:
        cmd += ["--cores", "2"]
    return cmd + list(args)


def start(*args, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(command(*args, **kwargs), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen, timeout: int = 600) -> tuple[int, str]:
    """Exit status and output (stdout and stderr) of a started snakemake."""
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.terminate()  # snakemake cancels its SLURM jobs on the way out
            proc.wait(timeout=120)
    return proc.returncode, out


def run(*args, **kwargs) -> tuple[int, str]:
    return finish(start(*args, **kwargs))


def untimed(row: dict) -> dict:
    """A metrics dict without wall times and provenance (which lists the processes that trained
    it: a resumed run has two), the only things that differ between two equal runs."""
    return {k: v for k, v in row.items() if not k.endswith("time_s") and k != "provenance"}


def read_csv(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path)
    return frame.drop(columns=[c for c in frame.columns if c.endswith("time_s")])


def assert_same_run(a: Path, b: Path) -> None:
    """Two run folders hold the same metrics.json and history.csv, timings aside."""
    assert untimed(json.loads((a / "metrics.json").read_text())) == untimed(json.loads((b / "metrics.json").read_text()))
    pd.testing.assert_frame_equal(read_csv(a / "history.csv"), read_csv(b / "history.csv"), check_exact=True)


def paper_targets() -> list[str]:
    paper = load(PAPER)
    files = [f"results/smoke/{PAPER}/{t.name}{ext}" for t in paper.targets for ext in t.outputs()]
    return files + [f"results/smoke/{PAPER}/comparison.csv"]


def paper_runs() -> dict:
    return {row["run_id"]: row["run"] for row in load(PAPER).runs("smoke", [0])}


def bundle_size() -> int:
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    sizes = dict(item.split("=") for item in profile["group-components"])
    return int(sizes["train-bundle"])


@pytest.mark.parametrize("scale", ["smoke", "quick", "paper"])
def test_profile_bundles_every_target_at_every_scale(tmp_path, scale):
    # Bundles must not wait on themselves (a run on a set cover needs another run first):
    # Snakemake checks that when it plans the jobs, before anything is submitted.
    data = {"root": str(tmp_path / "data"), "shared_roots": [], "mirror": stand_in_mirror(tmp_path / "mirror"),
            "prepared": str(tmp_path / "prepared")}
    status, out = run(tmp_path, smoke_config(tmp_path, scale=scale, seeds=None, data=data), "--dry-run", "all")
    assert status == 0, out[-3000:]
    assert "Group job train-bundle" in out and "Group job train-on-cover" in out


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One paper's smoke targets built through the SLURM profile and locally: (slurm dir, local dir, SLURM output)."""
    dirs = {where: tmp_path_factory.mktemp(where) for where in ("slurm", "local")}
    # The local build fills the CPUs while SLURM jobs wait to be started and polled.
    local = start(dirs["local"], smoke_config(dirs["local"], seeds=[0]), *paper_targets(), on_slurm=False)
    status, out = run(dirs["slurm"], smoke_config(dirs["slurm"], seeds=[0]), *paper_targets())
    local_status, local_out = finish(local)
    assert status == 0, out[-4000:]
    assert local_status == 0, local_out[-4000:]
    return dirs["slurm"], dirs["local"], out


def test_slurm_profile_builds_the_same_results_as_a_local_run(built):
    slurm, local, out = built
    runs = sorted(p.name for p in (local / "results/smoke/runs").iterdir())
    assert sorted(p.name for p in (slurm / "results/smoke/runs").iterdir()) == runs
    for rid in runs:
        assert_same_run(slurm / "results/smoke/runs" / rid, local / "results/smoke/runs" / rid)
    tables = sorted(p.relative_to(local) for p in (local / f"results/smoke/{PAPER}").rglob("*.csv"))
    assert len(tables) >= 4  # figures, comparison, claims, run groups
    for table in tables:
        pd.testing.assert_frame_equal(read_csv(slurm / table), read_csv(local / table), check_exact=True)
    # Training went to SLURM in bundles, not one job per run (a retried bundle keeps its name);
    # each of the paper's packs (its learning rates at one model and alpha) is one job of a bundle.
    packed = packs({rid: run for rid, run in paper_runs().items() if rid in runs})
    jobs = len(packed) + len(set(runs) - {rid for members in packed.values() for rid in members})
    assert packed and jobs < len(runs)
    bundles = {job for job, _, log in SUBMITTED.findall(out) if "group_train-bundle" in log}
    assert len(bundles) == math.ceil(jobs / bundle_size()), out[-3000:]


def snapshot(workdir: Path, skip: str) -> dict:
    """Every result file but those of run `skip`: path -> (mtime, content)."""
    files = [p for d in ("results", "prepared") for p in (workdir / d).rglob("*") if p.is_file()]
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files if skip not in str(p.relative_to(workdir))}


def test_a_failing_run_is_reported_with_its_logs_and_finished_results_stay(built):
    slurm, _, _ = built
    victim = sorted(p.name for p in (slurm / "results/smoke/runs").iterdir())[0]
    shutil.rmtree(slurm / "results/smoke/runs" / victim)
    checkpoint = slurm / "results/smoke/checkpoints" / f"{victim}.pt"
    checkpoint.write_bytes(b"not a checkpoint")  # the run fails when it tries to resume
    before = snapshot(slurm, victim)
    target = f"results/smoke/runs/{victim}/metrics.json"

    status, out = run(slurm, slurm / "config.yaml", target, *paper_targets(), "--retries", "0")
    assert status != 0
    assert f"results/smoke/logs/train/{victim}.log" in out and "cannot be read" in out
    slurm_logs = [Path(log) for _, _, log in SUBMITTED.findall(out)]
    assert len(slurm_logs) == 1, out[-3000:]
    assert f"log: {slurm_logs[0]} (check log" in out  # reported with the failed job's SLURM log ...
    assert victim in slurm_logs[0].read_text()  # ... which is kept and names the run
    assert snapshot(slurm, victim) == before  # no other run, table or figure was touched


def reuse_data(built_dir: Path, workdir: Path) -> None:
    """Prepared data and views from an earlier build: only training is at stake, and it saves SLURM jobs."""
    shutil.copytree(built_dir / "prepared", workdir / "prepared")
    shutil.copytree(built_dir / "results/smoke/views", workdir / "results/smoke/views")


def test_gpu_runs_are_given_a_gpu_by_slurm(built, tmp_path):
    slurm, local, _ = built
    cfg = smoke_config(tmp_path, seeds=[0], device="cuda")
    reuse_data(slurm, tmp_path)
    victim = sorted(p.name for p in (local / "results/smoke/runs").iterdir())[0]

    status, out = run(tmp_path, cfg, f"results/smoke/runs/{victim}/metrics.json", "--retries", "0")
    jobs = [job for _, job, log in SUBMITTED.findall(out) if "train" in log]
    assert len(jobs) == 1, out[-3000:]
    shown = subprocess.run(["scontrol", "show", "job", "-d", jobs[0]], capture_output=True, text=True, check=True)
    assert "JOB_GRES=gpu:1" in shown.stdout, shown.stdout
    if torch.cuda.is_available():
        assert status == 0, out[-3000:]
    else:  # the test cluster's GPU is /dev/null: the run starts, finds no CUDA and says so
        assert status != 0
        assert "torch sees no CUDA GPU" in (tmp_path / f"results/smoke/logs/train/{victim}.log").read_text()


# A run long enough to cancel between epochs (about 1 s each on one CPU thread), with momentum
# so that resuming must restore the optimizer state too. Its data view is the smoke one of
# massive-noise at alpha 100, which the other tests have built already.
EPOCHS = 10
LONG = resolve({"dataset": "synthetic-mnist", "train_subset": 500, "noise": {"kind": "alpha", "alpha": 100},
                "validation": "test:100", "model": {"name": "mlp4"}, "batch_size": 64,
                "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9}, "epochs": EPOCHS})

LONG_SNAKEFILE = """\
# Test-only workflow: the project's, plus one run that no paper defines.
include: {snakefile!r}

from robustrepro.runs import run_id as _run_id, view_id as _view_id, view_spec as _view_spec

_LONG = {run!r}
PIPELINE.scale("smoke").runs[_run_id(_LONG)] = _LONG
PIPELINE.scale("smoke").views[_view_id(_LONG)] = _view_spec(_LONG)
"""


def checkpoint_epoch(path: Path) -> int:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)["epoch"]
    except FileNotFoundError:
        return 0


def running_job(workdir: Path) -> str | None:
    """The SLURM job id running in workdir, if one is."""
    listed = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i %Z"], capture_output=True, text=True,
                            check=True).stdout
    return next((job for job, cwd in (line.split(maxsplit=1) for line in listed.splitlines())
                 if Path(cwd).resolve() == workdir.resolve()), None)


def test_cancelled_run_resumes_from_its_checkpoint_and_ends_like_an_uninterrupted_one(built, tmp_path):
    slurm, _, _ = built
    snakefile = tmp_path / "Snakefile"
    snakefile.write_text(LONG_SNAKEFILE.format(snakefile=str(ROOT / "Snakefile"), run=LONG))
    rid = run_id(LONG)
    target = f"results/smoke/runs/{rid}/metrics.json"
    workdirs, configs = {}, {}
    for name in ("whole", "cancelled"):
        workdirs[name] = tmp_path / name
        workdirs[name].mkdir()
        configs[name] = smoke_config(workdirs[name], seeds=[0])
        reuse_data(slurm, workdirs[name])

    # The uninterrupted run, locally, side by side with the one that SLURM runs and we cancel.
    whole = start(workdirs["whole"], configs["whole"], target, snakefile=snakefile, on_slurm=False)
    # No retries: the cancelled job stays failed, as when a preempted job has used up its retries.
    work, checkpoint = workdirs["cancelled"], workdirs["cancelled"] / f"results/smoke/checkpoints/{rid}.pt"
    first = start(work, configs["cancelled"], target, "--retries", "0", snakefile=snakefile)
    deadline = time.monotonic() + 300
    while checkpoint_epoch(checkpoint) < 2 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.3)
    job = running_job(work)
    if job:
        subprocess.run(["scancel", job], check=True)
    status, out = finish(first)
    assert job, "the training job was not running on SLURM: " + out[-3000:]
    stopped = checkpoint_epoch(checkpoint)
    assert status != 0 and 2 <= stopped < EPOCHS, out[-3000:]
    assert not (work / target).exists()
    whole_status, whole_out = finish(whole)
    assert whole_status == 0, whole_out[-3000:]

    status, out = run(work, configs["cancelled"], target, snakefile=snakefile)
    assert status == 0, out[-3000:]
    log = (work / f"results/smoke/logs/train/{rid}.log").read_text()
    assert f"resuming from results/smoke/checkpoints/{rid}.pt after epoch {stopped}" in log, log
    assert_same_run(work / "results/smoke/runs" / rid, workdirs["whole"] / "results/smoke/runs" / rid)

"""Light jobs (group CSVs, tables, figures, comparisons, the index) run inside the Snakemake process,
and a plain `snakemake` in the checkout reads the default profile that makes it so."""

import logging
import os
import subprocess
import sys
import warnings

import pytest

from conftest import ROOT, smoke_config
from robustrepro.errors import UserError
from robustrepro.inprocess import LightJobError, in_process


def _job(value):
    logging.getLogger("robustrepro.demo").info("working on %s", value)
    logging.getLogger("snakemake.logging").info("the scheduler's own line")
    warnings.warn("a deprecation the job triggers", FutureWarning)
    return value * 2


def test_a_light_job_returns_its_value_and_writes_its_lines_and_warnings_to_its_log(tmp_path):
    log = tmp_path / "logs" / "job.log"
    before = list(logging.getLogger().handlers)
    assert in_process(log, _job, 21) == 42
    text = log.read_text()
    assert "robustrepro.demo: working on 21" in text and "a deprecation the job triggers" in text
    assert "the scheduler's own line" not in text
    # The process's logging is as it was: no handler left behind.
    assert logging.getLogger().handlers == before


def test_a_light_jobs_user_error_is_one_line_in_its_log_and_its_exception(tmp_path):
    def fails():
        raise UserError("results/smoke/p/groups/g.csv is missing: build it first")

    log = tmp_path / "job.log"
    with pytest.raises(LightJobError) as err:
        in_process(log, fails)
    assert str(err.value) == "robustrepro: results/smoke/p/groups/g.csv is missing: build it first"
    assert log.read_text() == "error: results/smoke/p/groups/g.csv is missing: build it first\n"


PID_PAPER = '''
import os

import pandas as pd

from robustrepro.papers.spec import Paper, RunGroup, Target


def table1(ctx):
    ctx.images()
    ctx.table(pd.DataFrame({"pid": [os.getpid()]}))


PAPER = Paper("pid-demo", "none", "Which process builds a target", (RunGroup("g", {"dataset": "mnist"}),),
              (Target("table1", "table", (), table1, "The process that built it", images="g"),))
'''


@pytest.mark.slow
def test_plain_snakemake_reads_the_default_profile_and_builds_a_table_in_its_own_process(tmp_path):
    """No --workflow-profile: Snakemake finds profiles/default beside the Snakefile, so the GPU cap holds
    and the table is built by the Snakemake process itself, not a Python started for it."""
    (tmp_path / "pid_demo_paper.py").write_text(PID_PAPER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    cfg = smoke_config(tmp_path, seeds=[0], paper_modules=["pid_demo_paper"])
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
           "--configfile", str(cfg), "--cores", "2", "results/smoke/pid-demo/table1.csv"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    assert f"Using workflow specific profile {ROOT / 'profiles' / 'default'}" in out + err
    assert 'Provided resources: gpu=Resource("gpu", 1)' in out + err
    built_by = (tmp_path / "results" / "smoke" / "pid-demo" / "table1.csv").read_text().splitlines()[1]
    assert built_by == str(proc.pid)


FAILING_PAPER = '''
from robustrepro.errors import UserError
from robustrepro.papers.spec import Paper, RunGroup, Target


def table1(ctx):
    raise UserError("fail-demo table1: its group CSV lacks column foo; rebuild it")


PAPER = Paper("fail-demo", "none", "A target whose builder fails", (RunGroup("g", {"dataset": "mnist"}),),
              (Target("table1", "table", (), table1, "Fails", images="g"),))
'''


@pytest.mark.slow
def test_a_light_job_that_fails_says_its_one_line_and_keeps_what_was_built(tmp_path):
    (tmp_path / "fail_demo_paper.py").write_text(FAILING_PAPER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    cfg = smoke_config(tmp_path, seeds=[0], paper_modules=["fail_demo_paper"])
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
           "--configfile", str(cfg), "--cores", "2", "results/smoke/fail-demo/table1.csv"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    said = "robustrepro: fail-demo table1: its group CSV lacks column foo; rebuild it"
    assert proc.returncode != 0 and said in proc.stdout + proc.stderr, proc.stderr[-3000:]
    log = tmp_path / "results" / "smoke" / "logs" / "targets" / "fail-demo-table1.log"
    assert log.read_text() == "error: fail-demo table1: its group CSV lacks column foo; rebuild it\n"
    assert (tmp_path / "prepared" / "synthetic-mnist.npz").is_file()  # the job it waited for stays built
    assert not (tmp_path / "results" / "smoke" / "fail-demo" / "table1.csv").exists()

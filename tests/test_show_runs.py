"""`robustrepro show-runs`: every resolved run of a paper or group at a scale, with the settings that differ
from the defaults, as the runs really train."""

import io
import subprocess
import sys

import pandas as pd
import pytest

from robustrepro.config import SCALE_SEEDS
from robustrepro.papers import all_papers, load
from robustrepro.report.show_runs import DEFAULTS, flatten, render, runs_table
from robustrepro.scales import SCALES


def _show(*args):
    return subprocess.run([sys.executable, "-m", "robustrepro", "show-runs", *args], capture_output=True, text=True,
                          timeout=120)


def test_a_groups_table_holds_every_run_and_exactly_the_settings_that_differ_from_the_defaults():
    paper = load("reweight")
    table = runs_table(paper, "quick", [0, 1], "cifar-background-seed")
    runs = {r["run_id"]: r["run"] for r in paper.runs("quick", [0, 1]) if r["group"] == "cifar-background-seed"}
    assert sorted(table["run_id"]) == sorted(runs) and set(table["group"]) == {"cifar-background-seed"}
    for _, row in table.iterrows():
        settings = flatten(runs[row["run_id"]])
        for key, value in settings.items():
            if key in table.columns and pd.notna(row[key]):
                shown = row[key]
                assert str(shown) == str("none" if value is None else value), key
            else:
                assert DEFAULTS.get(key) == value, f"{key} differs from the default but is not shown"


def test_the_command_answers_what_a_target_trains_at_quick_scale_as_csv():
    proc = _show("reweight", "mnist-imbalance", "--scale", "quick", "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(io.StringIO(proc.stdout))
    paper = load("reweight")
    runs = [r["run"] for r in paper.runs("quick", SCALE_SEEDS["quick"]) if r["group"] == "mnist-imbalance"]
    assert len(table) == len(runs)
    assert sorted(table["optimizer.lr"].unique()) == sorted({r["optimizer"]["lr"] for r in runs})
    assert set(table["iterations"]) == {r["iterations"] for r in runs}


@pytest.mark.parametrize("scale", SCALES)
def test_every_paper_shows_its_runs_at_every_scale(scale):
    for paper in all_papers():
        table = runs_table(paper, scale, SCALE_SEEDS[scale])
        assert len(table) == len(paper.runs(scale, SCALE_SEEDS[scale]))
        assert render(table, "markdown").startswith("| group")


@pytest.mark.parametrize("args, said", [
    (["reweight", "no-group", "--scale", "quick"], "paper reweight: run group: unknown value 'no-group'"),
    (["reweight", "--scale", "huge"], "--scale huge: unknown scale; scales: smoke, quick, paper"),
    (["no-paper", "--scale", "quick"], "paper: unknown value 'no-paper'"),
    (["reweight", "--scale", "quick", "--format", "xml"], "--format: unknown value 'xml'"),
])
def test_a_bad_name_gets_one_line(args, said):
    proc = _show(*args)
    assert proc.returncode == 2 and said in proc.stderr and "Traceback" not in proc.stderr, proc.stderr

"""The README's recipes work as written: "Adding a method" (the file registers its step, a run trains
with it, and the grid line puts it beside the baseline) and "Adding a paper" (a paper module of one's
own builds its table, comparison and claims through paper_modules)."""

import re
import subprocess
import sys

import pandas as pd
import pytest

from conftest import ROOT

SECTION = ROOT.joinpath("README.md").read_text().split("## Adding a method", 1)[1].split("\n## ", 1)[0]
BLOCKS = re.findall(r"```python\n(.*?)```", SECTION, re.S)

CHECK = '''
import numpy as np, torch
from robustrepro.runs import resolve
from robustrepro.training import STEPS, Trainer
from robustrepro.papers.spec import RunGroup
from toydata import toy_data

assert "label_smoothing" in STEPS
prepared, view = toy_data(n_train=200, n_test=100, n_val=0)
histories = {}
for step in GRID["step"]:
    trainer = Trainer(resolve({"model": {"name": "mlp1", "width": 0.25}, "epochs": 2, "batch_size": 32,
                               "step": step}), prepared, view, torch.device("cpu"))
    while not trainer.finished:
        trainer.fit_epoch()
    histories[step["name"]] = trainer.history
assert histories["label_smoothing"][-1]["train_loss"] != histories["weighted"][-1]["train_loss"]
assert histories["label_smoothing"][-1]["train_acc"] > 0.2  # it learns
group = RunGroup("g", {"epochs": 1}, grid=GRID)
assert [run["step"]["name"] for _, run in group.points("paper", [0])] == ["weighted", "label_smoothing"]
print("ok")
'''


def test_the_adding_a_method_example_registers_and_trains():
    method, grid_line = BLOCKS
    program = method + "\nGRID = dict(" + grid_line.strip() + ")[\"grid\"]\n" + CHECK
    proc = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=300,
                          cwd=ROOT / "tests")
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-3000:]


PAPER_SECTION = ROOT.joinpath("README.md").read_text().split("## Adding a paper", 1)[1].split("\n## ", 1)[0]


@pytest.mark.slow
def test_the_adding_a_paper_recipe_builds_its_table_and_comparison_from_paper_modules(tmp_path):
    """The recipe's module and command, in a fresh folder: only the module's folder and the working
    directory are changed (the command's `~/lab` and the checkout's snakemake)."""
    [module] = re.findall(r"```python\n(.*?)```", PAPER_SECTION, re.S)
    [command] = re.findall(r"```bash\n(.*?)```", PAPER_SECTION, re.S)
    lab, work = tmp_path / "lab", tmp_path / "work"
    lab.mkdir()
    work.mkdir()
    (lab / "width_paper.py").write_text(module)
    snakemake = f"{sys.executable} -m snakemake -s {ROOT / 'Snakefile'} --directory {work}"
    command = command.strip().replace("~/lab", str(lab)).replace(".venv/bin/snakemake", snakemake)
    proc = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = work / "results" / "smoke" / "width-paper"
    table = pd.read_csv(out / "table1.csv")
    assert list(table["model.width"]) == [0.25, 1.0] and table["test_acc1"].between(0, 100).all()
    comparison = pd.read_csv(out / "comparison.csv")
    assert comparison["reported"].tolist() == [97.5]
    claims = pd.read_csv(out / "claims.csv")
    assert claims["claim"].tolist() == ["wider-is-better"] and claims["holds"].iloc[0] in ("holds", "fails")
    assert not list(ROOT.glob("results/smoke/width-paper"))  # nothing of the project was written


def test_the_adding_a_paper_recipe_claim_keeps_the_claim_contract(tmp_path, monkeypatch):
    """The recipe's claim carries cases that the contract of tests/test_claims.py accepts."""
    from test_claims import broken

    [module] = re.findall(r"```python\n(.*?)```", PAPER_SECTION, re.S)
    (tmp_path / "width_paper.py").write_text(module)
    monkeypatch.syspath_prepend(str(tmp_path))
    from robustrepro.papers import load_module

    paper = load_module("width_paper")
    paper.validate()
    [claim] = paper.claims
    assert broken(claim, claim.must_fail, claim.must_hold) == []
    assert [t.name for t in paper.targets] == ["table1"] and paper.targets[0].kind == "table"


def test_the_readme_counts_are_the_count_commands_output():
    """Run counts and time estimates come from the specs, never typed by hand."""
    from robustrepro.papers import all_papers
    from robustrepro.report.counts import counts, markdown

    readme = ROOT.joinpath("README.md").read_text()
    block = readme.split("<!-- counts: the output of `python -m robustrepro counts` -->\n", 1)[1]
    block = block.split("<!-- end counts -->", 1)[0]
    assert block == markdown(counts(all_papers())), "paste the output of `python -m robustrepro counts` into the README"


def _config_examples() -> list[list[str]]:
    """Every `--config key=value ...` of the README, as its entries (the paper_modules one needs its
    module on PYTHONPATH: the recipe's own test runs it)."""
    text = ROOT.joinpath("README.md").read_text()
    found = [[t.strip("'") for t in m.group(1).split()]
             for m in re.finditer(r"--config((?:\s+'?[A-Za-z_][\w.]*=[^\s`'\\]+'?)+)", text)]
    return sorted({tuple(entries) for entries in found if not any(e.startswith("paper_modules=") for e in entries)})


@pytest.mark.slow
@pytest.mark.parametrize("entries", _config_examples(), ids=" ".join)
def test_every_config_example_of_the_readme_dry_runs(entries, tmp_path):
    from conftest import smoke_config, snakemake

    proc = snakemake(tmp_path, smoke_config(tmp_path, seeds=None), "-n", "--config", *entries)
    assert proc.returncode == 0, (entries, proc.stderr[-3000:])
    assert "robustrepro plan" in proc.stdout + proc.stderr


def test_the_readme_has_config_examples_to_check():
    assert len(_config_examples()) >= 5

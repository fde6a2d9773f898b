"""docs/extending.md's recipes work as written.

Each component recipe's file goes where the page says, in a copy of the package (a block whose first
line is `# src/robustrepro/<path>.py` is a new file there; `... (at the end)` is added to the end of
an existing module), and a fresh interpreter that imports that copy checks that the part registered
itself, fails on a bad option naming its key, passes its kind's check of tests/test_contracts.py,
and does its job: a model trains, a step trains differently from the plain one, a noise kind
relabels what it says, an attack raises the loss of a trained model with and without the
defence, a metric splits the training loss. The recipe's `RunGroup(...)` block gives the config
the part runs with. The paper recipe's module and command build its table, comparison and claims
in a fresh folder (slow), and its claim keeps the claim contract.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from conftest import ROOT

PAGE = ROOT / "docs" / "extending.md"
FILE = re.compile(r"# (src/robustrepro/[\w/]+\.py)( \(at the end\))?\n")


def section(title: str) -> str:
    """The text of the page's section `## title`, up to the next section."""
    return PAGE.read_text().split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def blocks(title: str, language: str = "python") -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section(title), re.S)


def run_group(title: str) -> str:
    """The section's one `RunGroup(...)` block: how a paper's run group uses the part."""
    [group] = [b for b in blocks(title) if b.startswith("RunGroup(")]
    return group


PRELUDE = '''
import math, sys
from pathlib import Path
import numpy as np
import torch
import robustrepro

COPY = Path(sys.argv[1]).resolve()
assert Path(robustrepro.__file__).resolve().is_relative_to(COPY), f"imported {robustrepro.__file__}, not the copy"
torch.set_num_threads(1)

from robustrepro.errors import UserError
from robustrepro.papers.spec import RunGroup
from robustrepro.runs import resolve
from toydata import toy_data


def fails(call, key):
    """call() raises a UserError whose message starts with `key`."""
    try:
        call()
    except UserError as err:
        assert str(err).startswith(key), err
    else:
        raise AssertionError(f"no UserError naming {key}")


def holds_contract(kind, name, options):
    """What tests/test_contracts.py's test_contract does with `options` as the part's EXAMPLES entry."""
    import tempfile
    from types import SimpleNamespace
    import test_contracts as contracts
    from robustrepro.selection.setcover import SetCover, save_set_cover

    registry = contracts.KINDS[kind]
    fails(lambda: registry.build({registry.field: name, **options, "no_such_option": 1}),
          f"{registry.key}.no_such_option: ")
    prepared, view = toy_data(n_train=120, n_test=40, n_val=20)  # the contract tests' `toy` fixture
    n = len(view.train_indices)
    assignment = np.arange(n) % 25
    cover = Path(tempfile.mkdtemp()) / "cover.npz"
    save_set_cover(cover, SetCover(np.arange(25), assignment, np.bincount(assignment),
                                   np.random.default_rng(0).integers(1, 9, n), 1.0))
    contracts.CHECKS[kind](name, options, SimpleNamespace(prepared=prepared, view=view, n=n, cover=cover))


def train(run, prepared, view):
    """The history of `run` trained on the toy data, on the CPU."""
    from robustrepro.training import Trainer

    trainer = Trainer(resolve(run), prepared, view, torch.device("cpu"))
    while not trainer.finished:
        trainer.fit_epoch(progress=False)
    return trainer
'''


def run_recipe(tmp_path, title: str, check: str) -> None:
    """Place the section's files in a copy of the package and run PRELUDE, GROUP (the section's
    RunGroup block) and `check` against that copy, in tests/ (for toydata and test_contracts)."""
    src = tmp_path / "src"
    # copytree keeps modification times, so the copied bytecode caches stay valid: imports stay fast.
    shutil.copytree(ROOT / "src" / "robustrepro", src / "robustrepro")
    placed = 0
    for block in blocks(title):
        if not (match := FILE.match(block)):
            continue
        path = tmp_path / match[1]
        if match[2]:  # added to an existing module
            assert path.is_file(), f"{match[1]} is not a module of the package"
            path.write_text(path.read_text() + "\n\n" + block)
        else:
            assert not path.exists(), f"{match[1]} is a module of the package already: name the recipe's file otherwise"
            path.write_text(block)
        placed += 1
    assert placed, f"section {title!r} has no block naming its file"
    program = PRELUDE + "\nGROUP = " + run_group(title) + "\n" + check + "\nprint('ok')\n"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(src), os.environ.get("PYTHONPATH")])),
           "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", program, str(src)], capture_output=True, text=True, timeout=300,
                          cwd=ROOT / "tests", env=env)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-3000:]


def test_the_model_recipe_registers_itself_builds_and_trains(tmp_path):
    run_recipe(tmp_path, "Adding a model", '''
from robustrepro.models import MODELS, build_model

assert "mlp_bn" in MODELS, "the new file did not register itself"
torch.manual_seed(0)
model = build_model("mlp_bn", 3, 10, 32, width=0.25, depth=3)
assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in model.modules()) == 3
assert model(torch.rand(4, 3, 32, 32)).shape == (4, 10)
fails(lambda: build_model("mlp_bn", 1, 10, 28, depth=0), "model.depth:")
holds_contract("model", "mlp_bn", {"width": 0.125, "depth": 2})
runs = [run for _, run in GROUP.points("paper", [0])]
assert [run["model"]["depth"] for run in runs] == [1, 2, 4] and {run["model"]["name"] for run in runs} == {"mlp_bn"}
prepared, view = toy_data(n_train=200, n_test=100, n_val=0)
history = train({"model": {**runs[1]["model"], "width": 0.125}, "epochs": 2, "batch_size": 32}, prepared, view).history
assert history[-1]["test_acc1"] > 0.5, history  # it learns the toy classes
''')


def test_the_step_recipe_registers_itself_and_trains_beside_the_baseline(tmp_path):
    run_recipe(tmp_path, "Adding a training method or step", '''
from robustrepro.training import STEPS

assert "label_smoothing" in STEPS, "the new file did not register itself"
fails(lambda: STEPS.build({"name": "label_smoothing", "smoothing": 1.0}, None), "step.smoothing:")
holds_contract("step", "label_smoothing", {"smoothing": 0.1})
prepared, view = toy_data(n_train=200, n_test=100, n_val=0)
base = {"model": {"name": "mlp1", "width": 0.25}, "epochs": 2, "batch_size": 32}
steps = [run["step"] for _, run in GROUP.points("paper", [0])]
assert [step["name"] for step in steps] == ["weighted", "label_smoothing"]
histories = [[{k: v for k, v in row.items() if k != "time_s"} for row in train({**base, "step": step}, prepared,
                                                                                 view).history]
             for step in [*steps, {"name": "label_smoothing", "smoothing": 0.0}]]
plain, smoothed, unsmoothed = histories
assert unsmoothed == plain  # smoothing 0 is the plain step, number for number
assert smoothed[-1]["train_loss"] != plain[-1]["train_loss"]
assert smoothed[-1]["train_acc"] > 0.2  # it learns
''')


def test_the_noise_recipe_registers_itself_and_relabels_its_pairs(tmp_path):
    run_recipe(tmp_path, "Adding a noise model", '''
from robustrepro.noise import NOISE, make_view
from robustrepro.run_checks import check_run
from robustrepro.runs import view_spec

assert "asymmetric" in NOISE, "the new file did not register itself"
labels = np.repeat(np.arange(10), 50)
positions, noisy, facts = NOISE.build({"kind": "asymmetric", "rate": 0.4})(labels, 10, np.random.default_rng(0))
flipped = noisy != labels
assert (positions == np.arange(labels.size)).all() and facts == {"n_selected": 100}
for source, target in [(9, 1), (2, 0), (4, 7), (3, 5), (5, 3)]:
    assert flipped[labels == source].sum() == 20 and (noisy[(labels == source) & flipped] == target).all()
assert not flipped[np.isin(labels, [0, 1, 6, 7, 8])].any()
fails(lambda: NOISE.build({"kind": "asymmetric", "rate": 1.5}), "noise.rate:")
fails(lambda: NOISE.build({"kind": "asymmetric", "rate": 0.1, "pairs": [[0, 12]]})(labels, 10, np.random.default_rng(0)),
      "noise.pairs:")
holds_contract("noise", "asymmetric", {"rate": 0.4})
runs = [run for _, run in GROUP.points("paper", [0])]
assert [run["noise"]["rate"] for run in runs] == [0.2, 0.4]
for run in runs:
    check_run(resolve(run))  # what the workflow checks when it parses
    view = make_view(labels, np.repeat(np.arange(10), 10), 10, view_spec(run))
    assert math.isclose(view.noise_rate, run["noise"]["rate"] / 2), view.noise_rate  # 5 source classes of 10
''')


def test_the_attack_and_defence_recipe_registers_both_and_attacks_a_trained_model(tmp_path):
    run_recipe(tmp_path, "Adding an attack or a test-time defence", '''
import torch.nn.functional as F
from robustrepro.evaluation.attacks import ATTACKS, Normalized
from robustrepro.evaluation.defences import DEFENCES

assert "rfgsm" in ATTACKS, "the new file did not register itself"
assert "gaussian_noise" in DEFENCES
fails(lambda: ATTACKS.build({"name": "rfgsm", "eps": 4 / 255, "alpha": 8 / 255}), "attack.alpha:")
fails(lambda: DEFENCES.build({"name": "gaussian_noise", "sigma": 0}, None), "defence.sigma:")
holds_contract("attack", "rfgsm", {"eps": 8 / 255, "alpha": 4 / 255})
holds_contract("defence", "gaussian_noise", {"sigma": 0.1, "samples": 3})

# A model trained on the toy data, taking images in [0, 1] as the evaluation gives it them.
prepared, view = toy_data(n_train=200, n_test=100, n_val=0)
trainer = train({"model": {"name": "mlp1", "width": 0.25}, "epochs": 2, "batch_size": 32}, prepared, view)
data = trainer.ctx.data
model = Normalized(trainer.ctx.model, [float(m) for m in data.mean], [float(s) for s in data.std]).eval()
model.requires_grad_(False)
x = torch.from_numpy(prepared.test_x[:64]).float() / 255
y = torch.from_numpy(prepared.test_y[:64]).long()
specs = GROUP.evaluation_specs("smoke")
assert list(specs) == ["rfgsm", "rfgsm_noise"] and {spec["subset"] for spec in specs.values()} == {100}
assert specs["rfgsm_noise"]["attack"]["eot_samples"] == 2 and specs["rfgsm"]["defence"] is None
for name, spec in specs.items():
    net = model
    if spec["defence"] is not None:
        pool = torch.from_numpy(prepared.test_x).float() / 255
        net = DEFENCES.build(spec["defence"], model, pool, torch.Generator().manual_seed(1)).eval()
    attack = ATTACKS.build(spec["attack"])
    x_adv = attack(net, x, y, generator=torch.Generator().manual_seed(2))
    assert (x_adv - x).abs().max() <= spec["attack"]["eps"] + 1e-6 and 0 <= x_adv.min() and x_adv.max() <= 1
    with torch.no_grad():
        clean, attacked = F.cross_entropy(net(x), y).item(), F.cross_entropy(net(x_adv), y).item()
    assert attacked > clean + 0.01, (name, clean, attacked)
''')


def test_the_metric_recipe_registers_itself_and_splits_the_training_loss(tmp_path):
    run_recipe(tmp_path, "Adding an epoch metric", '''
from robustrepro.training import METRICS

assert "noise_split_loss" in METRICS, "the new file did not register itself"
holds_contract("metric", "noise_split_loss", {})
[(_, run)] = GROUP.points("paper", [0])
assert run["metrics"] == ["noise_split_loss"]
prepared, view = toy_data(n_train=200, n_test=100, n_val=0, noisy=0.4)
trainer = train({"model": {"name": "mlp1", "width": 0.25}, "epochs": 3, "batch_size": 32, "metrics": run["metrics"]},
                prepared, view)
n, n_noisy = len(view.train_indices), int(view.noisy_mask.sum())
for row in trainer.history:
    # Every example is trained on once an epoch: the two means, weighted by their counts, are the training loss.
    mean = (row["noisy_loss"] * n_noisy + row["clean_loss"] * (n - n_noisy)) / n
    assert math.isclose(mean, row["train_loss"], rel_tol=1e-5), row
assert trainer.history[-1]["noisy_loss"] > trainer.history[-1]["clean_loss"]  # noisy labels are fitted last
[metric] = [m for m in trainer.metrics if m.columns == ("noisy_loss", "clean_loss")]
again = METRICS.build({"name": "noise_split_loss"}, trainer.ctx)
again.load_state_dict(metric.state_dict())  # as a resumed run takes it back from its checkpoint
assert again.result(trainer.ctx) == metric.result(trainer.ctx)
''')


PAPER = "Adding a paper"


@pytest.mark.slow
def test_the_adding_a_paper_recipe_builds_its_table_and_comparison_from_paper_modules(tmp_path):
    """The recipe's module and command, in a fresh folder: only the module's folder and the working
    directory are changed (the command's `~/lab` and the checkout's snakemake)."""
    [module] = [b for b in blocks(PAPER) if not b.startswith("RunGroup(")]
    [command] = blocks(PAPER, "bash")
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
    assert (out / "table1.tex").is_file()
    comparison = pd.read_csv(out / "comparison.csv")
    assert comparison["reported"].tolist() == [97.5]
    claims = pd.read_csv(out / "claims.csv")
    assert claims["claim"].tolist() == ["wider-is-better"] and claims["holds"].iloc[0] in ("holds", "fails")
    assert not list(ROOT.glob("results/smoke/width-paper"))  # nothing of the project was written


def test_the_adding_a_paper_recipe_claim_keeps_the_claim_contract(tmp_path, monkeypatch):
    """The recipe's claim carries cases that the contract of tests/test_claims.py accepts."""
    from test_claims import broken

    [module] = blocks(PAPER)
    (tmp_path / "width_paper.py").write_text(module)
    monkeypatch.syspath_prepend(str(tmp_path))
    from robustrepro.papers import load_module

    paper = load_module("width_paper")
    paper.validate()
    [claim] = paper.claims
    assert broken(claim, claim.must_fail, claim.must_hold) == []
    assert [t.name for t in paper.targets] == ["table1"] and paper.targets[0].kind == "table"


def test_every_recipe_names_where_its_file_goes():
    """Each component section has a block that starts with the path of its file, and the page's
    sections are the recipes the tests above run."""
    text = PAGE.read_text()
    titles = re.findall(r"^## (.+)$", text, re.M)
    assert titles == ["How parts are found", "Adding a model", "Adding a training method or step",
                      "Adding a noise model", "Adding an attack or a test-time defence", "Adding an epoch metric",
                      PAPER]
    for title in titles[1:-1]:
        assert any(FILE.match(b) for b in blocks(title)), title

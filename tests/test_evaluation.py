"""The evaluation stage: evaluation specs and ids, paper specs that declare evaluations, the
evaluate rule (a smoke run under PGD built through the real snakemake, from a paper module of
the lab's own named in config key paper_modules) and its SLURM bundle."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, smoke_config
from robustrepro.errors import UserError
from robustrepro.evaluation.spec import (DEFAULT_EVALUATION, evaluation_id, merge_evaluation,
                                         resolve_evaluation)
from robustrepro.papers import all_papers, load, load_module
from robustrepro.papers.spec import Paper, RunGroup, Target
from robustrepro.runs import run_id

PGD = {"name": "pgd", "eps": 0.3, "step_size": 0.1, "iterations": 3, "random_start": True}
RUN = {"dataset": "synthetic-mnist", "model": {"name": "lenet", "width": 0.25}, "epochs": 1}

# A lab's own paper: one smoke run of LeNet, measured clean and under PGD, and a table of both.
PAPER_MODULE = '''
import pandas as pd

from robustrepro.papers.spec import Paper, RunGroup, Target

GROUP = RunGroup(
    name="lenet",
    base={"dataset": "mnist", "model": {"name": "lenet"}, "epochs": 10},
    # Smoke: enough steps for LeNet to learn the synthetic digits well (a few seconds on a CPU).
    overrides={"smoke": {"epochs": 3, "model": {"width": 1.0}, "optimizer": {"lr": 0.05}}},
    evaluations={
        "plain": {},
        "pgd": {"attack": {"name": "pgd", "eps": 8 / 255, "step_size": 2 / 255, "iterations": 10}},
    },
    # Smoke: a strong, short attack on a class-balanced tenth of the 500 test images.
    evaluation_overrides={"smoke": {"pgd": {"subset": 50, "batch_size": 20,
                                            "attack": {"eps": 0.3, "step_size": 0.1, "iterations": 3}}}},
)


def table2_1(ctx):
    runs = ctx.results["lenet"]
    ctx.table(pd.DataFrame({"seed": runs["seed"], "clean": 100 * runs["pgd_clean_acc1"],
                            "PGD": 100 * runs["pgd_acc1"]}))


PAPER = Paper("eval-demo", "none", "An evaluation demo", (GROUP,),
              (Target("table2_1", "table", ("lenet",), table2_1, "Clean and PGD accuracy"),))
'''


def write_paper_module(folder: Path, name: str = "eval_demo_paper") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(PAPER_MODULE)
    return folder


# ---- specs and ids ----


def test_resolve_fills_defaults_and_ids_are_stable():
    assert resolve_evaluation({}) == DEFAULT_EVALUATION
    rid = run_id(RUN)
    a = evaluation_id(rid, {"attack": PGD})
    assert a == evaluation_id(RUN, {"attack": dict(PGD), "snapshot": "final", "seed": 0})  # a run or its id
    assert a.startswith(rid.rsplit("-", 1)[0] + "-pgd-final-")
    assert evaluation_id(rid, {}).startswith(rid.rsplit("-", 1)[0] + "-clean-final-")


@pytest.mark.parametrize("change", [
    {"attack": {**PGD, "eps": 0.2}}, {"attack": PGD, "seed": 1}, {"attack": PGD, "subset": 10},
    {"attack": PGD, "snapshot": "best"}, {"attack": PGD, "batch_size": 64},
    {"attack": PGD, "defence": {"name": "sum_augment", "k": 2, "samples": 4}},
])
def test_a_different_spec_or_run_gets_another_id(change):
    rid = run_id(RUN)
    base = evaluation_id(rid, {"attack": PGD})
    assert evaluation_id(rid, change) != base
    assert evaluation_id(run_id({**RUN, "seed": 1}), {"attack": PGD}) != base


@pytest.mark.parametrize("spec, message", [
    ({"atack": PGD}, r"^evaluation key 'atack': unknown key; known keys: attack, batch_size"),
    ({"snapshot": 0}, r"^evaluation key 'snapshot': 'final', 'best' or an epoch"),
    ({"attack": "pgd"}, r"^evaluation key 'attack': null, or a mapping with a 'name'"),
    ({"split": "train"}, r"^evaluation key 'split': unknown value 'train'; choose one of: test, val"),
    ({"subset": 0}, r"^evaluation key 'subset': must be an integer >= 1"),
    ({"batch_size": 1.5}, r"^evaluation key 'batch_size': must be an integer >= 1"),
])
def test_a_bad_spec_is_one_line_naming_the_key(spec, message):
    with pytest.raises(UserError, match=message) as err:
        resolve_evaluation(spec)
    assert "\n" not in str(err.value)


def test_scale_overrides_merge_an_attack_option_by_option_and_replace_another_attack():
    merged = merge_evaluation({"attack": PGD, "subset": None}, {"subset": 5, "attack": {"iterations": 1}})
    assert merged == {"attack": {**PGD, "iterations": 1}, "subset": 5}
    assert merge_evaluation({"attack": PGD}, {"attack": {"name": "fgsm", "eps": 0.1}}) == {
        "attack": {"name": "fgsm", "eps": 0.1}}
    assert merge_evaluation({"attack": PGD}, {"attack": None}) == {"attack": None}


def test_a_paper_lists_its_evaluations_and_they_leave_run_ids_alone():
    plain = RunGroup("g", {"dataset": "mnist", "epochs": 3, "snapshots": [2]}, grid={"optimizer.lr": [0.1, 0.5]})
    evaluated = RunGroup("g", plain.base, grid=plain.grid,
                         evaluations={"pgd": {"attack": PGD}, "early": {"snapshot": 2}},
                         evaluation_overrides={"smoke": {"pgd": {"subset": 20}}})
    target = (Target("table2_1", "table", ("g",), print, "c"),)
    a, b = Paper("p", "s", "P", (plain,), target), Paper("p", "s", "P", (evaluated,), target)
    assert [r["run_id"] for r in a.runs("smoke", [0, 1])] == [r["run_id"] for r in b.runs("smoke", [0, 1])]
    assert a.evaluations("smoke", [0]) == []
    rows = b.evaluations("smoke", [0, 1])
    assert len(rows) == 2 * 2 * 2 and {r["name"] for r in rows} == {"pgd", "early"}
    assert {r["spec"]["subset"] for r in rows if r["name"] == "pgd"} == {20}
    assert {r["spec"]["subset"] for r in b.evaluations("paper", [0]) if r["name"] == "pgd"} == {None}
    assert all(r["eval_id"] == evaluation_id(r["run_id"], r["spec"]) for r in rows)
    assert len({r["eval_id"] for r in rows}) == len(rows)
    b.validate()


@pytest.mark.parametrize("group, message", [
    (RunGroup("g", {"dataset": "mnist"}, evaluations={"late": {"snapshot": 4}}),
     r"evaluation late at smoke scale: evaluation key 'snapshot': run \S+ keeps no snapshot of epoch 4"),
    (RunGroup("g", {"dataset": "mnist"}, evaluations={"pgd": {"attack": PGD, "atack": 1}}),
     r"run group g, evaluation pgd at smoke scale: evaluation key 'atack': unknown key"),
    (RunGroup("g", {"dataset": "mnist"}, evaluations={"test": {}}), r"evaluation name 'test': .*none of"),
    (RunGroup("g", {"dataset": "mnist"}, evaluations={"pgd": {}}, evaluation_overrides={"smoke": {"pdg": {}}}),
     r"evaluation_overrides\['smoke'\] names evaluation 'pdg', which the group does not declare"),
])
def test_a_bad_evaluation_in_a_paper_names_the_group_and_the_evaluation(group, message):
    paper = Paper("p", "s", "P", (group,), ())
    with pytest.raises(UserError, match=message) as err:
        paper.evaluations("smoke", [0])
    assert "\n" not in str(err.value)


def test_collect_puts_each_evaluation_on_its_runs_row_and_names_a_missing_one(tmp_path):
    from robustrepro.report.results import collect

    group = RunGroup("g", {"dataset": "mnist"}, evaluations={"pgd": {"attack": PGD}})
    paper = Paper("p", "s", "P", (group,), ())
    (run,) = paper.runs("smoke", [0])
    (evaluation,) = paper.evaluations("smoke", [0])
    runs, evals = tmp_path / "runs", tmp_path / "evals"
    (runs / run["run_id"]).mkdir(parents=True)
    (runs / run["run_id"] / "metrics.json").write_text(json.dumps({"test_acc1": 0.9, "seed": 0}))
    with pytest.raises(UserError, match=rf"evals/{evaluation['eval_id']}.json is missing: evaluation pgd of run"):
        collect(paper, "g", "smoke", [0], runs)
    evals.mkdir()
    numbers = {"acc1": 0.1, "clean_acc1": 0.9, "loss": 3.0, "clean_loss": 0.3, "n": 50}
    (evals / f"{evaluation['eval_id']}.json").write_text(json.dumps({"eval_id": evaluation["eval_id"], **numbers}))
    table = collect(paper, "g", "smoke", [0], runs)
    assert table.loc[0, "test_acc1"] == 0.9
    assert {key: table.loc[0, f"pgd_{key}"] for key in numbers} == numbers


def test_paper_modules_load_a_labs_own_paper(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(write_paper_module(tmp_path)))
    paper = load("eval-demo", ["eval_demo_paper"])
    assert paper.slug == "eval-demo" and [p.slug for p in all_papers(["eval_demo_paper"])][-1] == "eval-demo"
    with pytest.raises(UserError, match="paper_modules: cannot import 'no_such_paper_module'"):
        load_module("no_such_paper_module")
    (tmp_path / "not_a_paper.py").write_text("X = 1\n")
    with pytest.raises(UserError, match="module 'not_a_paper' defines no PAPER"):
        load_module("not_a_paper")


def test_balanced_subset_takes_classes_in_turn_without_drawing():
    from robustrepro.evaluation.run import balanced_subset

    labels = np.array([0, 0, 0, 0, 1, 2, 1, 2, 0])
    assert balanced_subset(labels, 3).tolist() == [0, 4, 5]
    chosen = balanced_subset(labels, 6)
    assert chosen.tolist() == [0, 1, 4, 5, 6, 7]
    assert balanced_subset(labels, None).tolist() == list(range(9))
    assert balanced_subset(labels, 50).tolist() == list(range(9))


# ---- the workflow ----


def _env(module_dir: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(module_dir), env.get("PYTHONPATH")]))
    return env


def _snakemake(workdir: Path, configfile: Path, module_dir: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(configfile), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=_env(module_dir))


@pytest.mark.slow
def test_a_smoke_run_under_pgd_builds_through_snakemake_and_a_rerun_does_nothing(tmp_path, monkeypatch):
    modules = write_paper_module(tmp_path / "modules")
    monkeypatch.syspath_prepend(str(modules))
    cfg = smoke_config(tmp_path, seeds=[0], paper_modules=["eval_demo_paper"])
    target = "results/smoke/eval-demo/table2_1.tex"
    proc = _snakemake(tmp_path, cfg, modules, "--cores", "2", target)
    assert proc.returncode == 0, proc.stderr[-4000:]

    paper = load("eval-demo", ["eval_demo_paper"])
    (run,) = paper.runs("smoke", [0])
    evaluations = {row["name"]: row for row in paper.evaluations("smoke", [0])}
    results = tmp_path / "results" / "smoke"
    metrics = json.loads((results / "runs" / run["run_id"] / "metrics.json").read_text())
    pgd = json.loads((results / "evals" / f"{evaluations['pgd']['eval_id']}.json").read_text())
    plain = json.loads((results / "evals" / f"{evaluations['plain']['eval_id']}.json").read_text())
    assert pgd["eval_id"] == evaluations["pgd"]["eval_id"] and pgd["run_id"] == run["run_id"]
    assert pgd["spec"] == evaluations["pgd"]["spec"] and pgd["spec"]["attack"]["iterations"] == 3
    assert pgd["n"] == 50 and plain["n"] == 500
    assert 0 <= pgd["acc1"] <= pgd["clean_acc1"] <= 1 and pgd["acc1"] < pgd["clean_acc1"]
    assert pgd["provenance"]["snapshot"]["tag"] == "final" and pgd["provenance"]["snapshot"]["epoch"] == 3
    assert set(pgd["provenance"]["data"]) == {"prepared", "view"} and pgd["provenance"]["code"]["source_sha256"]
    # Without an attack the evaluation is the run's own test accuracy, the normalisation alike.
    assert plain["acc1"] == plain["clean_acc1"] == pytest.approx(metrics["test_acc1"], abs=1e-9)
    assert (results / "logs" / "evaluate" / f"{pgd['eval_id']}.log").is_file()

    group = pd.read_csv(results / "eval-demo" / "groups" / "lenet.csv")
    assert group.loc[0, "pgd_acc1"] == pytest.approx(pgd["acc1"]) and group.loc[0, "pgd_n"] == 50
    table = pd.read_csv(results / "eval-demo" / "table2_1.csv")
    assert table.loc[0, "PGD"] == pytest.approx(100 * pgd["acc1"])

    again = _snakemake(tmp_path, cfg, modules, "--cores", "2", target)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr

    # The same evaluation again, straight from the library, gives the same numbers on a CPU.
    from robustrepro.evaluation.run import evaluate_snapshot
    from robustrepro.runs import view_id
    from robustrepro.training.checkpoint import snapshot_path

    rerun = evaluate_snapshot(run["run"], evaluations["pgd"]["spec"], tmp_path / "prepared" / "synthetic-mnist.npz",
                              results / "views" / f"{view_id(run['run'])}.npz",
                              snapshot_path(results / "checkpoints" / f"{run['run_id']}.pt", "final"),
                              tmp_path / "again.json", device="cpu", threads=1, progress=False)
    for key in ("n", "acc1", "clean_acc1", "loss", "clean_loss", "flipped"):
        assert rerun[key] == pgd[key], key


@pytest.mark.slow
def test_the_slurm_profile_bundles_evaluations_apart_from_training(tmp_path):
    modules = write_paper_module(tmp_path / "modules")
    cfg = smoke_config(tmp_path, seeds=[0, 1], paper_modules=["eval_demo_paper"])
    proc = _snakemake(tmp_path, cfg, modules, "--workflow-profile", str(ROOT / "profiles" / "slurm"),
                      "--dry-run", "results/smoke/eval-demo/table2_1.tex")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "Group job eval-bundle" in out and "Group job train-bundle" in out
    assert out.count("rule evaluate:") == 4  # two evaluations of each of two runs


def test_an_unknown_evaluation_path_gets_one_line(tmp_path):
    from conftest import snakemake

    proc = snakemake(tmp_path, smoke_config(tmp_path), "-n", "results/smoke/evals/no-such-eval.json")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "robustrepro: unknown evaluation 'no-such-eval' at scale smoke" in out, out[-3000:]
    assert "Traceback" not in out

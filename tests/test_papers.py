"""The paper-spec framework: grids, scales, dedup of shared runs, target listing, cheap imports."""

import os
import subprocess
import sys

import pytest

from robustrepro.papers import MODULES, all_papers, load
from robustrepro.papers.spec import Paper, RunGroup, Target, get_dotted, set_dotted
from robustrepro.errors import UserError

from conftest import ROOT, smoke_config


def test_set_and_get_dotted_do_not_mutate():
    run = {"optimizer": {"name": "sgd", "lr": 0.1}}
    new = set_dotted(run, "optimizer.lr", 0.5)
    assert get_dotted(new, "optimizer.lr") == 0.5 and run["optimizer"]["lr"] == 0.1
    assert set_dotted({}, "noise.alpha", 3) == {"noise": {"alpha": 3}}


def _group(name, **grid):
    return RunGroup(name, {"dataset": "mnist", "epochs": 10}, grid={"optimizer.lr": [0.1, 0.5], **grid},
                    overrides={"quick": {"epochs": 2}}, grids={"smoke": {"optimizer.lr": [0.1]}})


def test_grid_expands_per_scale_and_seed():
    group = _group("g", **{"noise.alpha": [0, 10]})
    paper_points = group.points("paper", [0, 1, 2])
    assert len(paper_points) == 2 * 2 * 3
    coords, run = paper_points[-1]
    assert coords == {"optimizer.lr": 0.5, "noise.alpha": 10, "seed": 2}
    assert run["optimizer"]["lr"] == 0.5 and run["noise"]["alpha"] == 10 and run["seed"] == 2
    assert {r["epochs"] for _, r in group.points("quick", [0])} == {2}
    smoke = group.points("smoke", [0])
    assert len(smoke) == 2 and all(r["dataset"] == "synthetic-mnist" for _, r in smoke)


def test_runs_shared_by_groups_get_one_id():
    paper = Paper("p", "seed.txt", "P", (_group("a"), _group("b")),
                  (Target("figure1", "figure", ("a", "b"), print, "c"),))
    rows = paper.runs("paper", [0])
    assert len(rows) == 4 and len({r["run_id"] for r in rows}) == 2


def test_target_outputs():
    assert Target("table1", "table", ("a",), print, "c").outputs() == (".tex", ".csv")
    assert Target("figure1", "figure", ("a",), print, "c").outputs() == (".pdf", ".png", ".csv")


def test_every_paper_is_consistent_at_every_scale():
    for paper in all_papers():
        paper.validate()
        assert paper.targets and paper.claims


def test_unknown_paper_names_the_choices():
    with pytest.raises(UserError, match="massive-noise"):
        load("massive-nois")


def test_importing_specs_imports_no_torch():
    code = ("import sys, robustrepro.papers as p; [p.load(s) for s in p.MODULES]; "
            "import robustrepro.data.registry, robustrepro.runs, robustrepro.config; "
            "bad = [m for m in ('torch', 'torchvision', 'matplotlib') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert set(MODULES) >= {"massive-noise"}


def test_coupled_axes_move_together_and_replace_the_axes_they_name():
    group = RunGroup("g", {"dataset": "mnist"}, grid={"noise.alpha": [0, 5, 9], "optimizer.lr": [0.1, 0.5]},
                     grids={"quick": {("noise.alpha", "epochs"): [(0, 20), (50, 2)]}})
    assert group.coord_names("quick") == ["optimizer.lr", "noise.alpha", "epochs"]
    points = group.points("quick", [0])
    assert len(points) == 4
    assert {(c["noise.alpha"], r["epochs"]) for c, r in points} == {(0, 20), (50, 2)}
    assert len(group.points("paper", [0])) == 6


@pytest.mark.parametrize("lookup, known", [("group", "alpha-grid"), ("target", "figure1")])
def test_unknown_group_or_target_names_the_paper_and_the_choices(lookup, known):
    paper = load("massive-noise")
    assert getattr(paper, lookup)(known) is not None
    with pytest.raises(UserError, match=rf"massive-noise.*{lookup}.*'nope'.*{known}"):
        getattr(paper, lookup)("nope")


# --- Paper.validate: a broken spec stops the build at parse time with one line ---

def _paper(groups=None, targets=None, **kwargs):
    groups = groups or (_group("g"),)
    targets = targets or (Target("table2_1", "table", ("g",), print, "c"),)
    return Paper("demo", "none", "Demo", tuple(groups), tuple(targets), **kwargs)


@pytest.mark.parametrize("paper, message", [
    (lambda: _paper(targets=(Target("table-a", "table", ("g",), print, "c"),)), "target table-a: a table's name"),
    (lambda: _paper(targets=(Target("figure1", "table", ("g",), print, "c"),)), "target figure1: a table's name"),
    (lambda: _paper(targets=(Target("table1", "chart", ("g",), print, "c"),)), "kind 'chart'"),
    (lambda: _paper(targets=(Target("table1", "table", ("h",), print, "c"),)), "unknown run groups h"),
    (lambda: _paper(targets=(Target("table1", "table", ("g",), print, "c"),) * 2), "two targets are named 'table1'"),
    (lambda: _paper(groups=(_group("g"), _group("g"))), "two run groups are named 'g'"),
    (lambda: _paper(groups=(RunGroup("g", {"epochs": 2, "epoch": 3}),)), "unknown run key 'epoch'"),
    (lambda: _paper(targets=(Target("figure1", "figure", ("g",), print, "c", images="h"),)),
     "target figure1: images names run group 'h', which the paper does not declare; name one of: g"),
])
def test_validate_names_the_first_problem_in_one_line(paper, message):
    with pytest.raises(UserError, match=message) as err:
        paper().validate()
    assert str(err.value).startswith("paper demo: ") and "\n" not in str(err.value)


def test_a_target_reads_the_images_of_its_groups_dataset_at_each_scale():
    cifar = RunGroup("c", {"dataset": "cifar10"})
    paper = _paper(groups=(_group("g"), cifar), targets=(Target("figure1", "figure", (), print, "c", images="c"),
                                                         Target("table1", "table", ("g",), print, "c")))
    paper.validate()  # the images group need not be one the target reads results of
    assert paper.images_dataset(paper.target("figure1"), "paper") == "cifar10"
    assert paper.images_dataset(paper.target("figure1"), "smoke") == "synthetic-cifar10"
    assert paper.images_dataset(paper.target("table1"), "paper") is None


def test_target_names_with_chapter_numbers_validate():
    _paper(targets=(Target("table2_1", "table", ("g",), print, "c"),
                    Target("figure3_4", "figure", ("g",), print, "c"))).validate()


BROKEN_PAPER = '''
from robustrepro.papers.spec import Paper, RunGroup, Target

PAPER = Paper("broken", "none", "Broken", (RunGroup("g", {"dataset": "mnist"}),),
              (Target("table 1", "table", ("g",), print, "c"),))
'''


def test_the_workflow_refuses_a_broken_paper_spec_when_it_parses(tmp_path):
    (tmp_path / "broken_paper.py").write_text(BROKEN_PAPER)
    cfg = smoke_config(tmp_path, paper_modules=["broken_paper"])
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory",
                           str(tmp_path), "--configfile", str(cfg), "-n"], capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.startswith("robustrepro:")]
    assert lines == ["robustrepro: paper broken: target table 1: a table's name is 'table' and digits or underscores "
                     "(e.g. table2_1), which the workflow's table rule builds"], proc.stderr[-2000:]

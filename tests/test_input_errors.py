"""Mistakes in what a user gives the harness, each answered by one line that names it and the fix:
config values on the command line, config files, data folders, values starting with '-', paper
specs (found when the workflow parses), a target builder that writes nothing, a full disk and an
unknown dataset."""

import errno
import os
import re
import subprocess
import sys

import pytest
from snakemake.cli import parse_config

from conftest import ROOT, smoke_config, snakemake
from robustrepro import config as rr_config
from robustrepro.errors import UserError
from robustrepro.files import atomic_write_text
from robustrepro.papers.spec import Paper, RunGroup, Target

DEFAULT_CONFIG = ROOT / "config.yaml"


def _command_line_config(*entries: str) -> dict:
    """The workflow's config after `snakemake --config ENTRIES`, parsed as Snakemake and the Snakefile do."""
    return rr_config.workflow_config(parse_config(list(entries)), DEFAULT_CONFIG)


def _one_line(text: str, message: str) -> None:
    assert message in text, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    [line] = [line for line in text.splitlines() if message in line]


# ---- config values on the command line ----

def test_the_docs_pack_settings_work_as_written():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    spellings = re.findall(r"`(?:--config )?(pack=\w+)`", "\n".join(page.read_text() for page in pages))
    assert {"pack=true", "pack=false"} <= set(spellings)
    for entry in spellings:
        assert _command_line_config(entry)["pack"] is (entry == "pack=true")


@pytest.mark.parametrize("entry, value", [("pack=TRUE", True), ("pack=False", False), ("pack=yes", True),
                                          ("pack=off", False), ("pack=auto", "auto"), ("compile=true", True),
                                          ("progress=false", False)])
def test_booleans_are_read_in_any_case_and_as_yaml_spells_them(entry, value):
    key = entry.partition("=")[0]
    assert _command_line_config(entry)[key] == value


def test_a_bad_choice_lists_the_choices_as_they_are_written():
    with pytest.raises(UserError, match=r"^config key 'pack': bad value 'maybe'; allowed: one of auto, true, false$"):
        _command_line_config("pack=maybe")


@pytest.mark.parametrize("entry, message", [
    ("seeds=[0,x]", "config key 'seeds.1': bad value 'x'"),
    ("seeds=0,1,x", "config key 'seeds.2': bad value 'x'"),
    ("seeds=[0,-1]", "config key 'seeds.1': bad value -1; allowed: a number in [0, inf]"),
])
def test_a_bad_seed_is_named_and_not_the_good_ones(entry, message):
    with pytest.raises(UserError, match=re.escape(message)):
        _command_line_config(entry)


@pytest.mark.parametrize("pack, jobs", [("true", {"train_pack": 10}), ("false", {"train": 40})])
def test_pack_given_on_the_command_line_decides_the_jobs(tmp_path, pack, jobs):
    proc = snakemake(tmp_path, smoke_config(tmp_path, pack="auto"), "-n", "results/smoke/massive-noise/figure1.pdf",
                     "--config", f"pack={pack}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = {name: int(n) for name, n in re.findall(r"^(train\w*)\s+(\d+)\s*$", proc.stdout, re.M)}
    assert counts == jobs


# ---- config files and data folders ----

@pytest.mark.parametrize("text", ["", "# only a comment\n"])
def test_an_empty_configfile_is_named_with_the_fix_through_the_wrapper(tmp_path, text):
    (tmp_path / "empty.yaml").write_text(text)
    proc = subprocess.run([sys.executable, "-m", "robustrepro", "snakemake", "-s", str(ROOT / "Snakefile"), "-n",
                           "--configfile", "empty.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr == ("robustrepro: --configfile empty.yaml: config file empty.yaml is empty (no key: value "
                           "line); write in it the keys you set (e.g. scale: smoke)\n")


def test_a_shared_root_that_is_not_here_is_named_once_and_skipped(tmp_path):
    cfg = smoke_config(tmp_path, data={"root": str(tmp_path / "data"), "shared_roots": ["no such store"],
                                       "mirror": None, "prepared": str(tmp_path / "prepared")})
    proc = snakemake(tmp_path, cfg, "-n", "results/smoke/massive-noise/figure1.pdf")
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = ("robustrepro: data.shared_roots: no such store is not a folder here, so it is skipped (raw files come "
            "from data.root or a download); fix the path, or remove it from data.shared_roots on this machine")
    assert proc.stderr.splitlines().count(line) == 1, proc.stderr[-3000:]


def test_data_folders_whose_names_start_with_a_dash_work(tmp_path):
    """The rules pass them to the command line as values of options (--data -prep/...)."""
    cfg = smoke_config(tmp_path, seeds=[0], data={"root": "-data", "shared_roots": [], "mirror": None,
                                                  "prepared": "-prep"})
    proc = snakemake(tmp_path, cfg, "-n", "results/smoke/massive-noise/figure1.pdf")
    view = re.search(r"results/smoke/views/[\w.-]+\.npz", proc.stdout).group(0)
    proc = snakemake(tmp_path, cfg, view)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "-prep" / "synthetic-mnist.npz").is_file() and (tmp_path / view).is_file()


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "robustrepro", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


@pytest.mark.parametrize("args, message", [
    (["fetch", "--dataset", "foo", "--root", "-x", "--manifest", "m.json"],
     "robustrepro fetch: error: --dataset: unknown value 'foo'; choose one of: cifar10, cifar100, fashion-mnist, "
     "mnist, synthetic-cifar10, synthetic-cifar100, synthetic-fashion-mnist, synthetic-mnist"),
    (["cluster", "--vectors", "v.npy", "--radius", "1", "--out", "c.npz", "--device", "-x"],
     "robustrepro cluster: error: argument --device: invalid choice: '-x' (choose from 'auto', 'cpu', 'cuda'); "
     "see robustrepro cluster --help"),
    (["prepare", "--dataset", "mnist", "--out"],
     "robustrepro prepare: error: argument --out: expected one argument; see robustrepro prepare --help"),
])
def test_a_bad_command_line_gets_one_line(tmp_path, args, message):
    proc = _cli(*args, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr == message + "\n", proc.stderr


# ---- paper specs: found when the workflow parses ----

def _paper(base=None, grid=None, evaluations=None, **group):
    run = {"dataset": "mnist", "epochs": 2, **(base or {})}
    return Paper("demo", "none", "Demo", (RunGroup("g", run, grid=grid or {}, evaluations=evaluations or {}, **group),),
                 (Target("table1", "table", ("g",), print, "c"),))


@pytest.mark.parametrize("paper, message", [
    (_paper({"dataset": "mnits"}), "paper demo: run group g at quick scale: dataset: unknown value 'mnits'; choose one"),
    (_paper(grid={"optimizer.lr": []}), "paper demo: run group g has no runs at quick scale: its grid axis "
                                        "'optimizer.lr' has no values; give it at least one"),
    (_paper(max_seeds=0), "paper demo: run group g: max_seeds is 0; give an integer >= 1"),
    (_paper({"optimizer": {"lr": -0.1}}), "paper demo: run group g at quick scale: optimizer.lr: must be a number > 0; "
                                          "got -0.1"),
    (_paper({"epochs": 0}), "paper demo: run group g at quick scale: epochs: must be an integer >= 1; got 0"),
    (_paper({"batch_size": 0}), "batch_size: must be an integer >= 1; got 0"),
    (_paper({"noise": {"kind": "uniform", "rate": 1.5}}), "noise.rate: must be a number >= 0 and <= 1; got 1.5"),
    (_paper({"noise": {"kind": "uniforn"}}), "noise.kind: unknown value 'uniforn'"),
    (_paper({"test_subset": 20000}), "test_subset: examples of mnist to keep, an integer >= 1 and <= 10000; got 20000"),
    (_paper(evaluations={"big": {"subset": 10001}}),
     "demo: run group g, evaluation big at quick scale: evaluation key 'subset': 10001 is more than the 10000 "
     "examples of the test split of run mnist-lenet-none-s0-"),
    (_paper({"validation": "test:100", "test_subset": 500}, evaluations={"big": {"subset": 450}}),
     "more than the 400 examples"),
    (_paper(evaluations={"v": {"split": "val"}}), "evaluation key 'split': run mnist-lenet-none-s0-"),
])
def test_a_paper_spec_mistake_is_found_at_parse_time_in_one_line(paper, message):
    with pytest.raises(UserError, match=re.escape(message)) as err:
        paper.validate(scales=["quick"])
    assert "demo" in str(err.value) and "\n" not in str(err.value)


def test_the_papers_own_values_pass_at_every_scale():
    _paper(evaluations={"all": {"subset": 500}}).validate()
    _paper({"validation": "holdout", "holdout": {"size": 0.1}}, evaluations={"v": {"split": "val", "subset": 50}}).validate()


SPEC_MODULE = '''
from robustrepro.papers.spec import Paper, RunGroup, Target


def figure1(ctx):
    pass  # draws nothing and writes nothing


PAPER = Paper("faulty", "none", "Faulty", (RunGroup("g", {{"dataset": {dataset!r}}}),),
              (Target("figure1", "figure", (), figure1, "Nothing"),))
'''


def _spec_workflow(tmp_path, monkeypatch, dataset):
    (tmp_path / "faulty_paper.py").write_text(SPEC_MODULE.format(dataset=dataset))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))
    return smoke_config(tmp_path, seeds=[0], paper_modules=["faulty_paper"])


def test_the_workflow_stops_on_an_unknown_dataset_before_any_job(tmp_path, monkeypatch):
    proc = snakemake(tmp_path, _spec_workflow(tmp_path, monkeypatch, "mnits"), "-n")
    assert proc.returncode != 0
    _one_line(proc.stderr, "robustrepro: paper faulty: run group g at smoke scale: dataset: unknown value "
                           "'mnits'; choose one of: ")
    assert "MissingInput" not in proc.stderr


def test_a_builder_that_writes_nothing_fails_its_job_naming_the_target(tmp_path, monkeypatch):
    proc = snakemake(tmp_path, _spec_workflow(tmp_path, monkeypatch, "mnist"), "results/smoke/faulty/figure1.pdf")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert ("robustrepro: target faulty/figure1: its builder wrote no figure1.pdf, figure1.png, figure1.csv in "
            "results/smoke/faulty; a figure's builder writes its files with ctx.figure(fig, data)") in out, out[-3000:]
    assert "latency" not in out, out[-3000:]


# ---- a full disk ----

def _disk_full(monkeypatch):
    """Point the atomic writer's temporary files at /dev/full, where every write fails with ENOSPC."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    fdopen = os.fdopen

    def full(fd, *args, **kwargs):
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".part"):
            os.close(fd)
            return open("/dev/full", "wb")
        return fdopen(fd, *args, **kwargs)

    monkeypatch.setattr(os, "fdopen", full)


def test_a_full_disk_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    path = tmp_path / "groups" / "g.csv"
    atomic_write_text(path, "finished\n")
    _disk_full(monkeypatch)
    with pytest.raises(UserError) as err:
        atomic_write_text(path, "new\n" * 10000)
    assert str(err.value) == (f"disk full writing {path} ({os.strerror(errno.ENOSPC)}): free space on that file "
                              "system (df -h shows it) and run again; the files already finished are kept")
    assert path.read_text() == "finished\n" and [p.name for p in path.parent.iterdir()] == ["g.csv"]


DISK_FULL_CLI = '''
import os, sys
fdopen = os.fdopen
def full(fd, *args, **kwargs):
    if os.readlink(f"/proc/self/fd/{fd}").endswith(".part"):
        os.close(fd)
        return open("/dev/full", "wb")
    return fdopen(fd, *args, **kwargs)
os.fdopen = full
from robustrepro.cli import main
sys.exit(main(sys.argv[1:]))
'''


def test_a_job_on_a_full_disk_ends_with_one_line(tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    proc = subprocess.run([sys.executable, "-c", DISK_FULL_CLI, "prepare", "--dataset", "synthetic-mnist", "--out",
                           "prepared/synthetic-mnist.npz"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-1].startswith("robustrepro prepare: error: disk full writing "
                                                    "prepared/synthetic-mnist.npz"), proc.stderr
    assert "Traceback" not in proc.stderr and not list((tmp_path / "prepared").iterdir())


def test_a_spec_mistake_at_another_scale_is_found_when_its_target_is_named(tmp_path, monkeypatch):
    """The configured scale (smoke) is sound; the quick scale's override is not, and naming a quick target
    checks the spec there before its runs are expanded."""
    module = SPEC_MODULE.format(dataset="mnist").replace(
        'RunGroup("g", {"dataset": \'mnist\'})', 'RunGroup("g", {"dataset": \'mnist\'}, overrides={"quick": {"epochs": 0}})')
    assert "overrides" in module
    (tmp_path / "faulty_paper.py").write_text(module)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))
    config = smoke_config(tmp_path, seeds=[0], paper_modules=["faulty_paper"])
    assert snakemake(tmp_path, config, "-n", "results/smoke/faulty/groups/g.csv").returncode == 0
    proc = snakemake(tmp_path, config, "-n", "results/quick/faulty/groups/g.csv")
    assert proc.returncode != 0
    _one_line(proc.stderr, "robustrepro: paper faulty: run group g at quick scale: epochs")

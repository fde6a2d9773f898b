"""What the workflow does with what a user types: paths, targets, config files, seeds, make clean."""

import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT, SHARED_DATA, smoke_config, snakemake


def _one_line(proc, text):
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-2000:]
    assert text in out and "robustrepro: " in out, out[-3000:]
    assert "Traceback" not in out and "Exception" not in out, out[-3000:]


@pytest.mark.parametrize("target, message", [
    ("results/smoke/massive-noise/table99.tex", "massive-noise has no table 'table99'; its targets: figure1"),
    ("results/smoke/massive-noise/figure9.pdf", "massive-noise has no figure 'figure9'"),
    ("results/smoke/no-such-paper/table1.tex", "'no-such-paper' is no paper; papers: massive-noise, noise-batchsize, ordering-augment, reweight, robust-clustering"),
    ("results/smoke/no-such-paper/comparison.csv", "'no-such-paper' is no paper"),
    ("results/huge/massive-noise/figure1.pdf", "unknown scale 'huge'; scales: smoke, quick, paper"),
    ("results/smoke/massive-noise/groups/no-group.csv", "massive-noise has no run group 'no-group'; its groups: alpha-grid"),
    ("results/smoke/views/mnist-none-0123456789.npz", "unknown view 'mnist-none-0123456789'"),
    ("results/smoke/runs/no-run/metrics.json", "unknown run 'no-run' at scale smoke"),
    ("results/smoke/clusters/setcover-0123456789.npz", "unknown set cover 'setcover-0123456789' at scale smoke"),
])
def test_an_unknown_target_gets_one_line_naming_what_exists(tmp_path, target, message):
    _one_line(snakemake(tmp_path, smoke_config(tmp_path), "-n", target), message)


def test_a_broken_config_file_is_named_with_its_line(tmp_path):
    (tmp_path / "config.yaml").write_text("scale: smoke\ndata:\n  root: [unclosed\ndevice: cpu\n")
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-n", "--cores", "1"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    _one_line(proc, "robustrepro: config file config.yaml is not valid YAML at line 4")


def test_without_a_config_file_in_the_working_directory_the_projects_defaults_apply(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-n", "--cores", "1",
                           "results/smoke/massive-noise/figure1.pdf", "--config", "scale=smoke"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.parametrize("spelling, seeds", [("seeds=[3,4]", (3, 4)), ("seeds=5", (5,)), ("seeds=6,7", (6, 7))])
def test_seeds_can_be_set_on_the_command_line(tmp_path, spelling, seeds):
    proc = snakemake(tmp_path, smoke_config(tmp_path), "-n", "-p", "results/smoke/massive-noise/groups/alpha-grid.csv",
                     "--config", spelling)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # The runs train in packs, whose printed commands carry each run's config and so its seed.
    named = {int(s) for s in re.findall(r'"seed": (\d+)', proc.stdout)}
    assert named == set(seeds)


def test_the_workflow_parses_with_its_own_source_not_another_installed_copy(tmp_path):
    decoy = tmp_path / "decoy" / "robustrepro"
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("raise ImportError('the decoy copy of robustrepro was imported')\n")
    cfg = smoke_config(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(decoy.parent)}
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
           "--configfile", str(cfg), "--cores", "1", "-n", "results/smoke/massive-noise/figure1.pdf"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


@pytest.mark.slow
def test_data_paths_with_spaces_and_shell_syntax_reach_no_shell(tmp_path):
    """A root, a shared root and a prepared folder named with a space and `$(...)` are used as
    plain paths: the command substitutions never run, and MNIST is found and prepared."""
    if not (SHARED_DATA / "MNIST" / "raw").is_dir():
        pytest.skip(f"{SHARED_DATA} has no MNIST")
    trap = tmp_path / "PWNED"
    shared = tmp_path / f"lab store $(touch {trap}1)"
    shutil.copytree(SHARED_DATA / "MNIST", shared / "MNIST")
    cfg = smoke_config(tmp_path, scale="quick", data={
        "root": str(tmp_path / f"raw data $(touch {trap}2)"), "shared_roots": [str(shared)], "mirror": None,
        "prepared": str(tmp_path / f"prepared `touch {trap}3` $(touch {trap}4)")})
    prepared = yaml.safe_load(cfg.read_text())["data"]["prepared"]
    proc = snakemake(tmp_path, cfg, f"{prepared}/mnist.npz")
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert (tmp_path / prepared / "mnist.npz").is_file()
    assert not list(tmp_path.glob("PWNED*")) and not list(ROOT.glob("PWNED*"))


IMAGES_PAPER = '''
from robustrepro.papers.spec import Paper, RunGroup, Target


def figure1(ctx):
    import matplotlib.pyplot as plt
    import pandas as pd

    prepared = ctx.images()
    fig, ax = plt.subplots()
    ax.imshow(prepared.train_x[0, 0], cmap="gray")
    ctx.figure(fig, pd.DataFrame({"train_images": [len(prepared.train_x)], "dataset": [prepared.name]}))


PAPER = Paper("images-demo", "none", "Images demo", (RunGroup("g", {"dataset": "mnist"}),),
              (Target("figure1", "figure", (), figure1, "Example images", images="g"),
               Target("table1", "table", ("g",), print, "Results")))
'''


def _images_paper(tmp_path, monkeypatch):
    (tmp_path / "images_demo_paper.py").write_text(IMAGES_PAPER)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))
    return smoke_config(tmp_path, seeds=[0], paper_modules=["images_demo_paper"])


def _job_inputs(dry_run_output: str, rule: str) -> list[str]:
    """The input files of the one job of `rule` in a dry run's listing."""
    blocks = re.split(r"^(?=(?:local)?rule \w+:)", dry_run_output, flags=re.M)
    [block] = [b for b in blocks if re.match(rf"(?:local)?rule {rule}:", b)]
    found = re.search(r"^\s+input: (.*)$", block, re.M)
    return found.group(1).split(", ") if found else []


def test_a_target_that_reads_images_needs_its_groups_prepared_dataset_and_no_runs(tmp_path, monkeypatch):
    cfg = _images_paper(tmp_path, monkeypatch)
    npz = tmp_path / "prepared" / "synthetic-mnist.npz"  # the smoke stand-in of the group's mnist
    proc = snakemake(tmp_path, cfg, "-n", "-p", "results/smoke/images-demo/figure1.pdf")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "rule prepare:" in out and "rule train:" not in out and "rule collect:" not in out, out[-3000:]
    assert _job_inputs(proc.stdout, "figure") == [str(npz)], out[-3000:]
    # A target without images is built as before: from its groups' CSVs, and no prepared dataset.
    proc = snakemake(tmp_path, cfg, "-n", "-p", "results/smoke/images-demo/table1.tex")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "rule collect:" in out, out[-3000:]
    assert _job_inputs(proc.stdout, "table") == ["results/smoke/images-demo/groups/g.csv"], out[-3000:]
    # Built for real in the suite's smoke build: ordering-augment's figure3_3 (tests/test_cascading_sum_paper.py).


def _make_clean(workdir, *args, answer=""):
    return subprocess.run(["make", "-f", str(ROOT / "Makefile"), "clean", *args], cwd=workdir, input=answer,
                          capture_output=True, text=True, timeout=60)


def test_make_clean_asks_or_takes_a_scale_and_keeps_tracked_files(tmp_path):
    for scale in ("smoke", "quick"):
        (tmp_path / "results" / scale / "runs").mkdir(parents=True)
    (tmp_path / "results" / "README.md").write_text("tracked\n")
    assert "nothing removed" in _make_clean(tmp_path, answer="n\n").stdout
    assert (tmp_path / "results" / "smoke").is_dir() and (tmp_path / "results" / "quick").is_dir()
    proc = _make_clean(tmp_path, "SCALE=smoke")
    assert proc.returncode == 0 and not (tmp_path / "results" / "smoke").exists()
    assert (tmp_path / "results" / "quick").is_dir()
    bad = _make_clean(tmp_path, "SCALE=../results")
    assert bad.returncode != 0 and "is no scale" in bad.stderr and (tmp_path / "results" / "quick").is_dir()
    assert _make_clean(tmp_path, answer="y\n").returncode == 0
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["README.md"]


@pytest.mark.parametrize("pack, jobs", [(True, {"train_pack": 5 * 2}), (False, {"train": 5 * 2 * 2 * 2}),
                                       ("auto", {"train": 5 * 2 * 2 * 2})])  # auto packs on CUDA only
def test_pack_false_or_auto_on_a_cpu_trains_every_run_in_a_job_of_its_own(tmp_path, pack, jobs):
    cfg = smoke_config(tmp_path, pack=pack)
    proc = snakemake(tmp_path, cfg, "-n", "results/smoke/massive-noise/groups/alpha-grid.csv")
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = {name: int(n) for name, n in re.findall(r"^(train\w*)\s+(\d+)\s*$", proc.stdout, re.M)}
    assert counts == jobs  # models x alphas packs of lrs x seeds, or models x alphas x lrs x seeds runs


def test_one_figure_builds_alone_with_its_own_papers_runs_only(tmp_path):
    proc = snakemake(tmp_path, smoke_config(tmp_path), "-n", "results/smoke/massive-noise/figure1.pdf")
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = {name: int(n) for name, n in re.findall(r"^(\w+)\s+(\d+)\s*$", proc.stdout, re.M) if name != "total"}
    # Its group's 5 models x 2 alphas packs (2 lrs x 2 seeds each) on 2 views of the one dataset, its
    # group CSV and itself: no other paper's run, no other target, no comparison or index.
    assert counts == {"prepare": 1, "view": 2, "train_pack": 10, "collect": 1, "figure": 1}

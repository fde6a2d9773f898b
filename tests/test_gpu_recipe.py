"""The GPU recipe, run on the CPU: every training method, step, sampler, metric, attack and defence
under bf16 autocast, channels_last and torch.compile, as a CUDA machine runs them.

No GPU has run this code in CI, so the recipe a GPU user gets (robustrepro.compute.recipe) would
otherwise meet its first test on their machine. The CPU takes the same recipe (bf16 autocast on
the CPU, channels_last tensors, torch.compile with inductor's C++ backend), so an op that refuses
bf16, a layout that a view or a reshape rejects, a graph that compile cannot take or a dtype that
leaks out of autocast fails here. What CUDA alone would show (its kernels, its memory) is
bench/device-check.sh's to measure.

Every case trains a run of two epochs through train_run under the recipe and checks: finite losses,
history.csv, metrics.json (with the recipe in its provenance) and the checkpoint written; and that a
run resumed from its epoch-1 checkpoint ends where the run trained straight through ends. The cases
come from tests/test_contracts.py's EXAMPLES, which has an example for every registered part, so a
part registered later is covered here too. Attacks and defences run fp32 by design (the evaluation
module says why); they run here on the channels_last model, compiled.

Slow tier: torch.compile's first graphs take tens of seconds on a CPU (inductor caches them on
disk, so later cases of the same model reuse them).
"""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

from robustrepro import paths
from robustrepro.evaluation.attacks import ATTACKS
from robustrepro.evaluation.defences import DEFENCES
from robustrepro.evaluation.run import evaluate_snapshot
from robustrepro.selection.setcover import SetCover, save_set_cover
from robustrepro.training import METRICS, OPTIMIZERS, SAMPLERS, STEPS, train_run
from robustrepro.training import run_job
from robustrepro.training.checkpoint import snapshot_path
from robustrepro.training.pack import train_pack
from robustrepro.training.step_log import STEP_METRICS

from test_contracts import EXAMPLES, one_thread  # noqa: F401 (its autouse fixture: one torch thread)
from toydata import save_toy, toy_data

pytestmark = pytest.mark.slow

GPU_RECIPE = {"precision": "bf16", "channels_last": True, "compile": True}
# A small convolutional model, whose graphs compile in seconds; a network with BatchNorm (running
# statistics updated under compile and, in a pack, under vmap) in the cases BATCHNORM names.
BASE_RUN = {"model": {"name": "lenet", "width": 0.5}, "epochs": 2, "batch_size": 16,
            "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9}}
BATCHNORM = {"model": {"name": "resnet20", "width": 0.25}}
# Seed 004's cascade: sum augmentation whose k halves at each plateau of the test accuracy.
CASCADE = {"step": {"name": "sum_augment", "k": 4}, "cascade": {"patience": 1, "metric": "test_acc1"}}


def _cases() -> list:
    cases = []
    for kind, registry, key in (("step", STEPS, "step"), ("sampler", SAMPLERS, "sampler"),
                                ("optimizer", OPTIMIZERS, "optimizer")):
        for name in registry:
            cases.append(pytest.param({key: {"name": name, **EXAMPLES[kind][name]}}, id=f"{kind}-{name}"))
    for name in METRICS:
        options = EXAMPLES["metric"][name]
        cases.append(pytest.param({"metrics": [{"name": name, **options} if options else name]}, id=f"metric-{name}"))
    for name in STEP_METRICS:
        cases.append(pytest.param({"step_log": {"every": 2, "metrics": [name]}}, id=f"step_metric-{name}"))
    cases.append(pytest.param(CASCADE, id="cascade-sum_augment"))
    cases.append(pytest.param(BATCHNORM, id="model-resnet20"))
    return cases


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """Toy data with a validation split, and a set cover of its training view (the clusters sampler). 96
    training examples, whole batches of 16, and as many validation as test images: fewer shapes to compile."""
    prepared, view = toy_data(n_train=136, n_test=40, n_val=40)
    folder = tmp_path_factory.mktemp("recipe")
    assignment = np.arange(len(view.train_indices)) % 25
    save_set_cover(folder / "cover.npz", SetCover(np.arange(25), assignment, np.bincount(assignment),
                                                  np.random.default_rng(0).integers(1, 9, len(assignment)), 1.0))
    return prepared, view, folder


def train(run: dict, toy, out, **recipe) -> dict:
    prepared, view, folder = toy
    save_toy(out / "toy.npz", out / "view.npz", prepared, view, run)
    return train_run(run, out / "toy.npz", out / "view.npz", out / "run", out / "last.pt", device="cpu",
                     progress=False, clustering=str(folder / "cover.npz"), **{**GPU_RECIPE, **recipe})


def keep_first_checkpoint(monkeypatch, copy_to):
    """Copy the first checkpoint the trainer writes (epoch 1's) to `copy_to`."""
    original = run_job.save_checkpoint

    def save(path, state):
        original(path, state)
        if not copy_to.exists() and state["step_in_epoch"] == 0:
            shutil.copy(path, copy_to)

    monkeypatch.setattr(run_job, "save_checkpoint", save)


def numbers(metrics: dict) -> dict:
    """The run's numbers, NaN (a value not measured) as None so that equal runs compare equal."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in metrics.items()
            if isinstance(v, (int, float)) and k != "wall_time_s"}


@pytest.mark.parametrize("changes", _cases())
def test_every_training_part_trains_and_resumes_under_the_gpu_recipe(changes, toy, tmp_path, monkeypatch):
    run = {**BASE_RUN, **changes}
    epoch_one = tmp_path / "epoch1.pt"
    keep_first_checkpoint(monkeypatch, epoch_one)
    metrics = train(run, toy, tmp_path)

    history = (tmp_path / "run" / paths.HISTORY).read_text().splitlines()
    assert len(history) == 1 + metrics["epochs_done"] and metrics["epochs_done"] >= 1
    assert math.isfinite(metrics["train_loss"]) and math.isfinite(metrics["test_loss"])
    written = json.loads((tmp_path / "run" / paths.METRICS).read_text())
    assert written["provenance"]["sessions"][-1]["recipe"] == {"precision": "bf16", "channels_last": True,
                                                             "compile": True}
    assert (tmp_path / "last.pt").is_file() and snapshot_path(tmp_path / "last.pt", "final").is_file()
    if metrics["epochs_done"] < 2:  # a cascade may end after its first phase
        return

    # Killed after epoch 1: resumed from that checkpoint, it ends where the straight run ended.
    shutil.copy(epoch_one, tmp_path / "last.pt")
    (tmp_path / "run" / paths.METRICS).unlink()
    resumed = train(run, toy, tmp_path)
    assert len(resumed["provenance"]["sessions"]) == 2
    assert numbers(resumed) == numbers(metrics)


def test_a_pack_trains_side_by_side_under_the_gpu_recipe(toy, tmp_path):
    """The vmapped pack, compiled, on channels_last inputs under bf16 autocast: each run as it trains alone
    under the same recipe, up to the batched kernels' rounding (bf16: a loose tolerance)."""
    prepared, view, _ = toy
    runs = [{**BASE_RUN, **BATCHNORM, "seed": seed, "optimizer": {**BASE_RUN["optimizer"], "lr": lr}}
            for seed, lr in ((0, 0.05), (1, 0.02))]
    save_toy(tmp_path / "toy.npz", tmp_path / "view.npz", prepared, view, runs[0])
    folders = [tmp_path / f"run{i}" for i in range(len(runs))]
    packed = train_pack(runs, tmp_path / "toy.npz", tmp_path / "view.npz", folders,
                        [f / "last.pt" for f in folders], device="cpu", side_by_side=True, **GPU_RECIPE)
    for run, folder, metrics in zip(runs, folders, packed):
        assert metrics["epochs_done"] == 2 and math.isfinite(metrics["train_loss"])
        assert metrics["provenance"]["sessions"][-1]["recipe"]["compile"] is True
        alone = train_run(run, tmp_path / "toy.npz", tmp_path / "view.npz", folder / "alone", folder / "alone.pt",
                          device="cpu", progress=False, **GPU_RECIPE)
        assert metrics["train_loss"] == pytest.approx(alone["train_loss"], rel=0.05)


@pytest.fixture(scope="module")
def trained(toy, tmp_path_factory):
    """A run trained under the recipe, for the evaluations."""
    folder = tmp_path_factory.mktemp("evaluated")
    train(BASE_RUN, toy, folder)
    return folder


EVALUATIONS = [pytest.param({"attack": {"name": name, **EXAMPLES["attack"][name]}}, id=f"attack-{name}")
               for name in ATTACKS]
EVALUATIONS += [pytest.param({"defence": {"name": name, **EXAMPLES["defence"][name]}}, id=f"defence-{name}")
                for name in DEFENCES]


@pytest.mark.parametrize("spec", EVALUATIONS)
def test_every_attack_and_defence_runs_on_the_compiled_channels_last_model(spec, trained, tmp_path):
    run = BASE_RUN
    result = evaluate_snapshot(run, {**spec, "subset": 20, "batch_size": 10}, trained / "toy.npz",
                               trained / "view.npz", snapshot_path(trained / "last.pt", "final"),
                               tmp_path / "eval.json", device="cpu", progress=False, channels_last=True,
                               compile=True)
    assert result["n"] == 20 and all(math.isfinite(result[k]) for k in ("clean_loss", "loss"))
    assert result["provenance"]["recipe"] == {"precision": "fp32", "channels_last": True, "compile": True}
    if "attack" in spec:
        assert result["acc1"] <= result["clean_acc1"]


def test_the_cases_cover_every_registered_part():
    """A part registered later gets a case here (its example comes from tests/test_contracts.py)."""
    ids = {case.id for case in _cases()} | {case.id for case in EVALUATIONS}
    for kind, registry in (("step", STEPS), ("sampler", SAMPLERS), ("metric", METRICS),
                           ("step_metric", STEP_METRICS), ("attack", ATTACKS), ("defence", DEFENCES),
                           ("optimizer", OPTIMIZERS)):
        missing = {f"{kind}-{name}" for name in registry} - ids
        assert not missing, f"no GPU-recipe case for {sorted(missing)}"

"""The plan printed before a build: which data can be had, what is skipped, and the time estimate."""

import json
import re

import pytest

from conftest import SHARED_DATA, smoke_config, snakemake
from robustrepro.data.registry import DATASETS
from robustrepro import gpu_cost
from robustrepro.data.availability import availability
from robustrepro.plan import (DEFAULT_RATES, MODEL_MFLOPS, OTHER_JOB_S, AllTargets, calibration,
                              estimate_seconds, finished_runs, gpu_cost_of, gpu_jobs, run_work)
from robustrepro.runs import resolve, run_id


def _data(tmp_path, **changes):
    return {"root": str(tmp_path / "root"), "shared_roots": [], "mirror": None, **changes}


def test_availability_of_synthetic_present_and_missing_datasets(tmp_path):
    assert availability(DATASETS["synthetic-cifar10"], _data(tmp_path), tmp_path / "prep").ok
    mnist = DATASETS["mnist"]
    for raw in mnist.files:
        (tmp_path / "lab" / raw.path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "lab" / raw.path).write_bytes(b"x")
    # downloads: this test's own, not the checkout's resources/ (a local build may have verified MNIST there)
    found = availability(mnist, _data(tmp_path, shared_roots=[str(tmp_path / "lab")]), tmp_path / "prep",
                         downloads=tmp_path / "downloads")
    assert found.ok and str(tmp_path / "lab") in found.how
    # An empty local mirror cannot serve CIFAR-10: missing, with the fix named.
    empty = tmp_path / "mirror"
    empty.mkdir()
    missing = availability(DATASETS["cifar10"], _data(tmp_path, mirror=empty.as_uri()), tmp_path / "prep")
    assert not missing.ok and "cifar-10-python.tar.gz" in missing.how + missing.fix and "data.mirror" in missing.fix
    (empty / "cifar-10-python.tar.gz").write_bytes(b"x")
    assert availability(DATASETS["cifar10"], _data(tmp_path, mirror=empty.as_uri()), tmp_path / "prep").ok


def test_model_costs_match_the_models():
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    from robustrepro.models import MODELS, build_model

    assert set(MODEL_MFLOPS) == set(MODELS) - {"wrn"}
    for name in ("lenet", "mlp2", "conv4", "resnet20"):
        for i, (channels, size) in enumerate(((1, 28), (3, 32))):
            model = build_model(name, channels, 10, size)  # outside the counter: initialisation does matmuls
            with FlopCounterMode(display=False) as counter:
                model(torch.zeros(2, channels, size, size))
            assert counter.get_total_flops() / 2e6 == pytest.approx(MODEL_MFLOPS[name][i], rel=0.02), name


def test_work_grows_with_epochs_copies_and_model_size():
    base = resolve({"dataset": "mnist", "model": {"name": "mlp1"}, "epochs": 2, "train_subset": 1000})
    steps, gflops = run_work(base)
    assert steps == 2 * 8
    assert run_work({**base, "epochs": 4})[1] == pytest.approx(2 * gflops)
    # An iteration budget of two epochs' steps is the same work as two epochs.
    assert run_work(resolve({**base, "epochs": None, "iterations": 2 * steps // base["epochs"]})) == pytest.approx(
        (steps * 2 / base["epochs"], gflops * 2 / base["epochs"]))
    alpha = resolve({**base, "noise": {"kind": "alpha", "alpha": 9}})
    assert run_work(alpha)[0] == 2 * 79
    assert run_work(resolve({**base, "model": {"name": "conv4"}}))[1] > 10 * gflops


def _finished(tmp_path, run, seconds, device="cpu (x86_64, 1 threads)"):
    out = tmp_path / "results" / "quick" / "runs" / "r" / "metrics.json"
    out.parent.mkdir(parents=True)
    provenance = {"run": run, "sessions": [{"device": "cuda (elsewhere)"}, {"device": device}]}
    out.write_text(json.dumps({"wall_time_s": seconds, "provenance": provenance}))


def test_the_estimate_is_calibrated_on_this_machines_finished_runs(tmp_path):
    """A machine three times slower than the default rates: its finished run's measured training time
    (metrics.json's wall_time_s, start-up excluded) makes the estimate three times the compute."""
    run = resolve({"dataset": "mnist", "model": {"name": "mlp1"}, "epochs": 5})
    start_s = DEFAULT_RATES["cpu"][0]
    compute = estimate_seconds([run], "cpu", 1.0, 1) - start_s
    _finished(tmp_path, run, 3 * compute)
    factor, basis = calibration(finished_runs(tmp_path / "results"), "cpu")
    assert factor == pytest.approx(3.0) and "1 finished cpu run" in basis
    assert estimate_seconds([run, run], "cpu", factor, 2) == pytest.approx(start_s + 3 * compute)
    # Other jobs (views, set covers, evaluations) add their share, spread over the jobs at once...
    assert estimate_seconds([run] * 3, "cpu", 1.0, 2, other_jobs=4) == pytest.approx(
        (3 * (start_s + compute) + 4 * OTHER_JOB_S["cpu"]) / 2)
    # ... and no build is shorter than its longest job: one run does not go faster on two cores.
    assert estimate_seconds([run], "cpu", 1.0, 2) == pytest.approx(start_s + compute)
    # GPU runs say nothing about the CPU, and the other way round.
    assert calibration(finished_runs(tmp_path / "results"), "cuda")[0] == 1.0


@pytest.mark.slow
def test_targets_whose_data_cannot_be_had_are_listed_not_failed(tmp_path):
    if not (SHARED_DATA / "FashionMNIST" / "raw").is_dir():
        pytest.skip(f"{SHARED_DATA} has no FashionMNIST")
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    data = {"root": str(tmp_path / "data"), "shared_roots": [str(SHARED_DATA)], "mirror": empty.as_uri(),
            "prepared": str(tmp_path / "prepared")}
    cfg = smoke_config(tmp_path, scale="quick", seeds=[0], data=data)
    proc = snakemake(tmp_path, cfg, "-n", "all")
    assert proc.returncode == 0, proc.stderr[-3000:]
    err = proc.stderr
    assert "data cifar10: MISSING" in err and "fix: put cifar-10-python.tar.gz under data.root" in err
    assert "data fashion-mnist: available" in err and "estimated time:" in err
    # Each paper says what its runs cost, so a user sees before starting which paper costs what.
    assert re.search(r"robust-clustering: \d+ runs, \d+ to train \(about [\d.]+ (s|min|h)\)", err), err
    assert "robust-clustering (needs cifar10): table1, figure1" in err
    # The FashionMNIST targets and every comparison are built; no CIFAR-10 run is.
    assert "results/quick/robust-clustering/table6.tex" in proc.stdout
    assert "results/quick/robust-clustering/table1.tex" not in proc.stdout
    assert "cifar10" not in proc.stdout.replace("synthetic-cifar10", "")
    failing = snakemake(tmp_path, smoke_config(tmp_path, scale="quick", seeds=[0], data=data, missing_data="fail"),
                        "-n", "all")
    assert failing.returncode != 0 and "robustrepro: missing_data is 'fail'" in failing.stderr
    assert "Traceback" not in failing.stderr


def test_samplers_that_score_candidates_cost_their_forward_passes_and_trials():
    base = resolve({"dataset": "cifar10", "model": {"name": "resnet20"}, "epochs": 1, "train_subset": 1280,
                    "batch_size": 128})
    steps, gflops = run_work(base)
    forward = MODEL_MFLOPS["resnet20"][1] / 1000  # GFLOPs of one example's forward pass
    order = run_work(resolve({**base, "sampler": {"name": "loss_order", "candidates": 8}}))
    assert order == pytest.approx((steps, gflops + steps * 8 * 128 * forward))
    same = {"name": "loss_delta", "candidates": 4, "score_on": "same"}
    delta = run_work(resolve({**base, "sampler": {**same, "trials": "vmap"}}))
    assert delta == pytest.approx((2 * steps, gflops + steps * 4 * (3 + 2) * 128 * forward))
    assert run_work(resolve({**base, "sampler": {**same, "trials": "sequential"}}))[0] == 5 * steps  # 4 trials a step
    external = run_work(resolve({**base, "sampler": {**same, "score_on": "external", "external_size": 512,
                                                     "trials": "vmap"}}))
    assert external[1] == pytest.approx(gflops + steps * 4 * (3 * 128 + 512) * forward)


def test_the_brute_force_orderings_cost_every_run_they_train():
    base = {"dataset": "mnist", "model": {"name": "tinyconv"}, "batch_size": 8, "epochs": 13,
            "shaping": {"kind": "imbalance", "classes": [0, 1], "proportion": 0.5, "size": 48}}
    calls, gflops = run_work(resolve({**base, "orderings": {"keep": 12, "test_size": 2048, "loss_batch": 512}}))
    trained = 720 + 12 * 12 * 720  # seed 004: 720 orders in epoch 1, 12 kept runs x 720 in each of 12 more
    assert gflops == pytest.approx(trained * (3 * 48 + 2048) * MODEL_MFLOPS["tinyconv"][0] / 1000)
    assert calls == pytest.approx(trained * (6 + 4) / 64)
    fewer = run_work(resolve({**base, "orderings": {"keep": 3, "test_size": 2048, "loss_batch": 512}}))
    assert fewer[1] == pytest.approx(gflops * (720 + 12 * 3 * 720) / trained)


# ---- the GPU cost model (robustrepro.gpu_cost) ----

def _cifar_wrn(**changes):
    return resolve({"dataset": "cifar10", "model": {"name": "wrn28_10"}, "epochs": 200, "batch_size": 128,
                    "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9}, **changes})


def _mnist_mlp1(**changes):
    return resolve({"dataset": "mnist", "model": {"name": "mlp1"}, "epochs": 100, "batch_size": 128,
                    "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9}, **changes})


def test_layer_counts_match_the_models():
    pytest.importorskip("torch")
    from torch import nn

    from robustrepro.models import build_model

    assert set(gpu_cost.MODEL_LAYERS) == set(MODEL_MFLOPS)
    for name, layers in gpu_cost.MODEL_LAYERS.items():
        model = build_model(name, 3, 10, 32)
        assert sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.modules()) == layers, name


def _ops_per_step(run, prepared, view, steps=3):
    """Top-level aten ops a trainer step issues (torch.profiler, on the CPU)."""
    from itertools import islice

    import torch
    from torch.profiler import ProfilerActivity, profile

    from robustrepro.compute.recipe import Recipe
    from robustrepro.training import Trainer

    # The CUDA recipe (bf16 autocast, channels_last), which runs on a CPU too: the ops a GPU step issues.
    trainer = Trainer(resolve(run), prepared, view, torch.device("cpu"), recipe=Recipe("bf16", True, False))
    trainer.start_epoch()
    batches = trainer.sampler.batches(trainer.ctx)
    trainer.train_steps(islice(batches, 2))  # warm-up: lazy state, first-call paths
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        trainer.train_steps(islice(batches, steps))
    ops = [e for e in prof.events() if e.name.startswith("aten::")
           and (e.cpu_parent is None or not e.cpu_parent.name.startswith("aten::"))]
    return len(ops) / steps


def test_the_step_floor_counts_the_ops_a_step_issues():
    """The floor's op counts, fitted on the CPU, hold for a tiny model and a deep one: a trainer that
    issued many more ops a step (or the fit gone stale) fails here."""
    pytest.importorskip("torch")
    from toydata import toy_data

    sgd = {"name": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4}
    cases = [({"model": {"name": "mlp1"}}, (1, 28, 28)),
             ({"model": {"name": "resnet20", "width": 0.25}, "augment": {"crop": 4, "flip": True}}, (3, 32, 32))]
    for run, shape in cases:
        prepared, view = toy_data(n_train=80, n_test=20, n_val=0, shape=shape)
        counted = _ops_per_step({**run, "batch_size": 8, "optimizer": sgd}, prepared, view)
        model = gpu_cost.OPS_PER_STEP + gpu_cost.OPS_PER_LAYER * gpu_cost.MODEL_LAYERS[run["model"]["name"]]
        assert counted == pytest.approx(model, rel=0.25), (run["model"], counted, model)


def test_a_large_model_at_paper_scale_is_flop_bound_at_the_stated_utilisation(monkeypatch):
    """WRN-28-10, 200 epochs of CIFAR-10: its hours are its FLOPs over the stated share of the peak."""
    job = gpu_cost.job_time("wrn28_10", [run_work(_cifar_wrn())])
    # By hand: 200 epochs x (3 x 50,000 training + 10,000 test) examples x 10.4867 GFLOP a forward pass,
    # at 25 % of 989.4 TFLOP/s, after a 10 s start-up.
    flops = 200 * (3 * 50_000 + 10_000) * 10.4867e9
    assert job.flop_bound and job.seconds == pytest.approx(10 + flops / (0.25 * 989.4e12), rel=1e-4)
    assert 0.3 < job.seconds / 3600 < 0.45
    assert job.step_s == pytest.approx(200 * 391 * (42 + 25 * 29) * 6e-6)  # 391 steps an epoch, 29 layers
    # Hours follow FLOPs and the utilisation: twice the epochs, twice the compute; half the share, twice again.
    assert gpu_cost.job_time("wrn28_10", [run_work(_cifar_wrn(epochs=400))]).compute_s == pytest.approx(
        2 * job.compute_s)
    before = job.compute_s  # a property: it reads the constants when asked
    monkeypatch.setattr(gpu_cost, "UTILISATION", gpu_cost.UTILISATION / 2)
    assert job.compute_s == pytest.approx(2 * before)


def test_a_tiny_model_is_step_bound():
    """MLP1 on MNIST: microseconds of arithmetic a step, half a millisecond of ops."""
    job = gpu_cost.job_time("mlp1", [run_work(_mnist_mlp1())])
    assert not job.flop_bound and job.flop_s < job.step_s / 100
    # By hand: 100 epochs x 469 steps (60,000 / 128, rounded up), (42 + 25 x 2) ops x 6 us a step.
    assert job.compute_s == pytest.approx(100 * 469 * 92 * 6e-6)
    assert gpu_cost.job_time("mlp1", [run_work(_mnist_mlp1(epochs=200))]).compute_s == pytest.approx(
        2 * job.compute_s)  # the steps, not the FLOPs, set its time


def test_a_pack_of_twelve_runs_pays_one_step_floor():
    """Seed 003's grid point, 4 learning rates x 3 seeds: one vmapped step trains all twelve."""
    runs = [_mnist_mlp1(seed=seed, optimizer={"name": "sgd", "lr": lr, "momentum": 0.9})
            for lr in (0.01, 0.03, 0.1, 0.3) for seed in (0, 1, 2)]
    by_id = {run_id(run): run for run in runs}
    jobs = gpu_jobs(by_id)
    assert len(jobs) == 1 and jobs[0][1].runs == 12
    alone = gpu_cost.job_time("mlp1", [run_work(runs[0])])
    assert jobs[0][1].compute_s == pytest.approx(alone.compute_s, rel=0.01)  # not 12 times it
    packed, apart = estimate_seconds(runs, "cuda", 1.0, 1), estimate_seconds(runs, "cuda", 1.0, 1, packed=False)
    assert packed == pytest.approx(gpu_cost.START_S + alone.compute_s, rel=0.01)
    assert apart == pytest.approx(12 * (gpu_cost.START_S + alone.compute_s))
    assert gpu_cost_of(by_id).packs == 1 and gpu_cost_of(by_id, packed=False).packs == 0
    # A pack shares steps, not arithmetic: twelve FLOP-bound runs side by side cost twelve runs' FLOPs.
    wide = {run_id(r): r for r in (_cifar_wrn(seed=s, optimizer={"name": "sgd", "lr": lr, "momentum": 0.9})
                                  for lr in (0.05, 0.1) for s in (0, 1))}
    (_, pack), = gpu_jobs(wide)
    assert pack.runs == 4 and pack.compute_s == pytest.approx(
        4 * gpu_cost.job_time("wrn28_10", [run_work(_cifar_wrn())]).compute_s)


def test_gpu_runs_of_a_pack_calibrate_as_their_pack(tmp_path):
    """A finished pack on a GPU three times slower than the model: each run records the pack's wall time."""
    runs = [_mnist_mlp1(seed=seed) for seed in (0, 1, 2)]
    model = gpu_cost.job_time("mlp1", [run_work(r) for r in runs]).compute_s
    for i, run in enumerate(runs):
        out = tmp_path / "results" / "paper" / "runs" / f"r{i}" / "metrics.json"
        out.parent.mkdir(parents=True)
        out.write_text(json.dumps({"wall_time_s": 3 * model, "provenance": {"run": run, "device": "cuda (H100)"}}))
    factor, basis = calibration(finished_runs(tmp_path / "results"), "cuda")
    assert factor == pytest.approx(3.0) and "3 finished cuda run" in basis


def test_the_paper_scale_plan_prints_each_papers_h100_gpu_hours():
    from robustrepro.papers import all_papers
    from robustrepro.pipeline import Pipeline

    papers = all_papers()
    data = {"root": "/nonexistent", "shared_roots": [], "mirror": None, "prepared": "/nonexistent/prepared"}
    pipeline = Pipeline(papers, [0])
    text = AllTargets(pipeline, "paper", data, data["prepared"], dry_run=True).text(1)
    assert text.count(f"at {gpu_cost.UTILISATION:.0%} utilisation") == 1  # the assumptions, named once
    every = {}
    for paper in papers:
        runs = {r["run_id"]: r["run"] for r in paper.runs("paper", [0])}
        every.update(runs)
        hours = gpu_cost.describe_hours(gpu_cost_of(runs).hours)
        assert re.search(rf"\n    {paper.slug}: {len(runs)} runs, {len(runs)} to train in \d+ jobs \(\d+ packs?\): "
                         rf"{re.escape(hours)} GPU-h \([\d.,]+ FLOP-bound, [\d.,]+ step-bound\)", text), paper.slug
    assert f"all papers: {len(every)} runs to train" in text
    assert f"{gpu_cost.describe_hours(gpu_cost_of(every).hours)} GPU-h" in text
    # Below paper scale the plan says nothing of GPU-hours.
    assert "GPU-h" not in AllTargets(pipeline, "smoke", data, data["prepared"], dry_run=True).text(1)


def test_the_performance_pages_gpu_table_is_the_commands_output():
    """docs/performance.md's per-paper H100 table is `python -m robustrepro counts --gpu`, never typed."""
    from conftest import ROOT
    from robustrepro.papers import all_papers
    from robustrepro.report.counts import gpu_counts, markdown

    page = ROOT.joinpath("docs", "performance.md").read_text()
    block = page.split("<!-- gpu: the output of `python -m robustrepro counts --gpu` -->\n", 1)[1]
    block = block.split("<!-- end gpu -->", 1)[0]
    assert block == markdown(gpu_counts(all_papers())), "paste the output of `python -m robustrepro counts --gpu` there"

"""The plan printed before a build: which data can be had, what is skipped, and the time estimate."""

import json
import re

import pytest

from conftest import SHARED_DATA, smoke_config, snakemake
from robustrepro.data.registry import DATASETS
from robustrepro.plan import (DEFAULT_RATES, MODEL_MFLOPS, OTHER_JOB_S, availability, calibration, estimate_seconds,
                              finished_runs, run_work)
from robustrepro.runs import resolve


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

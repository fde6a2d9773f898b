"""Model snapshots kept by training runs, and the features and last-layer gradients extracted from them."""

import csv
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import robustrepro.training.run_job as run_job
from robustrepro.errors import UserError
from robustrepro.models import build_model
from robustrepro.runs import resolve
from robustrepro.selection.vectors import extract
from robustrepro.extraction import extract_many, extract_to_file
from robustrepro.selection.vectors import load_vectors, save_vectors
from robustrepro.training import DeviceData, Trainer, train_run
from robustrepro.training.checkpoint import load_snapshot, save_snapshot, snapshot_path
from robustrepro.training.trainer import load_model_snapshot
from robustrepro.views import View

from toydata import CLASSES, save_toy, save_toy_view, toy_data as toy
EPOCHS = 4
# Learns within 4 epochs, with its best epoch (3) neither the first nor the last.
RUN = {"model": {"name": "lenet", "width": 0.5}, "epochs": EPOCHS, "batch_size": 16,
       "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9}, "snapshots": [1, 2, 3, 4]}
CPU = torch.device("cpu")


def toy_data(validation: bool, n_train=200, n_val=40, n_test=100, seed=0):
    """30 % of the training labels are wrong; the validation split is used only when asked for."""
    return toy(n_train, n_test, n_val, noisy=0.3, seed=seed, background=120, patch=220,
               validation="train" if validation else "none")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Prepared data and two views (with and without a validation split), saved."""
    folder = tmp_path_factory.mktemp("toy")
    save_toy(folder / "toy.npz", folder / "view-True.npz", *toy_data(True))
    save_toy_view(folder / "view-False.npz", toy_data(False)[1], folder / "toy.npz")
    return {validation: (folder / "toy.npz", folder / f"view-{validation}.npz") for validation in (True, False)}


def train(files, out, validation=True, **changes):
    return train_run({**RUN, **changes}, *files[validation], out, out / "last.pt", device="cpu", progress=False)


@pytest.fixture(scope="module")
def trained(files, tmp_path_factory):
    """One finished run with a snapshot after every epoch; its checkpoint is out/last.pt."""
    out = tmp_path_factory.mktemp("run")
    metrics = train(files, out)
    return out, metrics


def history(out):
    with open(out / "history.csv") as f:
        return list(csv.DictReader(f))


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def snapshot(out, tag):
    return load_snapshot(snapshot_path(out / "last.pt", tag))


def test_snapshot_path_sits_beside_the_checkpoint(tmp_path):
    assert snapshot_path(tmp_path / "ck" / "run-1.pt", 100) == tmp_path / "ck" / "run-1.e100.pt"
    assert snapshot_path("results/quick/checkpoints/r.pt", "best").as_posix() == "results/quick/checkpoints/r.best.pt"


def test_snapshots_are_kept_at_listed_epochs_and_survive_a_kill_and_resume(files, tmp_path, monkeypatch):
    # Killed after the best epoch (3): a resumed run that forgot the best so far would take epoch 4 as best.
    run = {"snapshots": [1, 4]}
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    train(files, whole, **run)

    class Killed(Exception):
        pass

    real_save = run_job.save_checkpoint

    def save_then_die_after_epoch_3(path, state):
        real_save(path, state)
        if state["epoch"] == 3:
            raise Killed

    monkeypatch.setattr(run_job, "save_checkpoint", save_then_die_after_epoch_3)
    with pytest.raises(Killed):
        train(files, killed, **run)
    kept = sorted(p.name for p in killed.glob("last.*.pt"))
    assert kept == ["last.best.pt", "last.e1.pt"]  # no e4 yet, no final
    first = snapshot_path(killed / "last.pt", 1).read_bytes()

    monkeypatch.setattr(run_job, "save_checkpoint", real_save)
    train(files, killed, **run)
    assert sorted(p.name for p in killed.glob("last.*.pt")) == ["last.best.pt", "last.e1.pt", "last.e4.pt",
                                                                  "last.final.pt"]
    assert snapshot_path(killed / "last.pt", 1).read_bytes() == first  # the resumed session left it alone
    assert snapshot(killed, "best")["epoch"] == 3
    for tag in (1, 4, "best", "final"):
        resumed, uninterrupted = snapshot(killed, tag), snapshot(whole, tag)
        assert resumed["epoch"] == uninterrupted["epoch"]
        assert same_weights(resumed["model"], uninterrupted["model"])


@pytest.mark.parametrize("validation, early_stopping, metric", [
    (True, None, "val_acc1"), (False, None, "test_acc1"),
    (True, {"patience": 5, "metric": "val_loss"}, "val_loss"),
    (False, {"patience": 5, "metric": "train_loss"}, "train_loss")])
def test_best_is_early_stoppings_metric_else_validation_else_test_accuracy(validation, early_stopping, metric):
    trainer = Trainer(resolve({**RUN, "early_stopping": early_stopping}), *toy_data(validation), CPU)
    assert trainer.best.metric == metric and trainer.best.mode == ("min" if metric.endswith("loss") else "max")


def test_best_snapshot_is_the_best_validation_epoch_and_final_the_last(trained):
    out, _ = trained
    rows = history(out)
    val = [float(r["val_acc1"]) for r in rows]
    best_epoch = int(np.argmax(val)) + 1  # the first epoch reaching the maximum
    assert 1 < best_epoch < EPOCHS  # so neither "keep the first" nor "keep the last" passes
    best = snapshot(out, "best")
    assert best["epoch"] == best_epoch
    assert same_weights(best["model"], snapshot(out, best_epoch)["model"])
    final = snapshot(out, "final")
    assert final["epoch"] == EPOCHS
    assert same_weights(final["model"], torch.load(out / "last.pt", weights_only=True)["model"])
    assert json.loads(final["run_json"]) == resolve(RUN)


def test_without_validation_best_follows_test_accuracy(files, tmp_path):
    train(files, tmp_path, validation=False)
    test = [float(r["test_acc1"]) for r in history(tmp_path)]
    assert "val_acc1" not in history(tmp_path)[0]
    best = snapshot(tmp_path, "best")
    assert best["epoch"] == int(np.argmax(test)) + 1
    assert same_weights(best["model"], snapshot(tmp_path, best["epoch"])["model"])


def test_under_early_stopping_best_is_the_reported_epoch(files, tmp_path):
    metrics = train(files, tmp_path, epochs=10, snapshots=[],
                    early_stopping={"patience": 1, "metric": "train_loss", "mode": "max"})
    assert metrics["stopped_early"]
    assert snapshot(tmp_path, "best")["epoch"] == metrics["best_epoch"]
    assert snapshot(tmp_path, "final")["epoch"] == metrics["epochs_done"]


@pytest.mark.parametrize("snapshots", [[0], [EPOCHS + 1], ["3"], [True], 2])
def test_snapshot_epochs_outside_the_run_are_refused(files, tmp_path, snapshots):
    with pytest.raises(UserError, match=r"^snapshots: "):
        train(files, tmp_path, snapshots=snapshots)
    assert not (tmp_path / "last.pt").exists()


def test_loaded_snapshot_reproduces_the_test_accuracy_of_its_epoch(trained):
    out, _ = trained
    prepared, view = toy_data(validation=True)
    data = DeviceData(prepared, view, CPU)
    rng_before = torch.get_rng_state()
    for epoch, row in enumerate(history(out), start=1):
        model = load_model_snapshot(snapshot_path(out / "last.pt", epoch), prepared, view, CPU)
        assert not model.training
        with torch.no_grad():
            x, y = next(data.batches("test", len(view.test_indices)))
            accuracy = int((model(x).argmax(1) == y).sum()) / len(y)
        assert accuracy == float(row["test_acc1"])
    assert torch.equal(torch.get_rng_state(), rng_before)  # building the model drew nothing from the caller's RNG


def test_snapshot_errors_name_the_file(trained, tmp_path):
    out, _ = trained
    prepared, view = toy_data(validation=True)
    with pytest.raises(UserError, match=r"last\.e7\.pt is missing"):
        load_model_snapshot(snapshot_path(out / "last.pt", 7), prepared, view, CPU)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a snapshot")
    with pytest.raises(UserError, match=r"bad\.pt cannot be read"):
        load_model_snapshot(bad, prepared, view, CPU)
    three_classes = View(3, view.train_indices, view.train_labels % 3, view.true_labels % 3, view.noisy_mask,
                         view.holdout_indices, view.holdout_labels % 3, "none", view.val_indices, view.val_labels % 3,
                         view.test_indices, view.test_labels % 3, np.eye(3), 0.0)
    with pytest.raises(UserError, match="does not fit this data"):
        load_model_snapshot(snapshot_path(out / "last.pt", 1), prepared, three_classes, CPU)


@pytest.fixture(scope="module")
def model_and_data(trained):
    out, _ = trained
    prepared, view = toy_data(validation=True)
    model = load_model_snapshot(snapshot_path(out / "last.pt", 2), prepared, view, CPU)
    data = DeviceData(prepared, view, CPU)
    everything = torch.arange(len(data))
    return model, data, data.inputs("train", everything), data.labels("train", everything), view


def test_features_are_the_penultimate_layer_of_every_training_example(model_and_data):
    model, data, x, _, view = model_and_data
    features = extract(model, data, "features", batch_size=64)  # batches of 64, 64 and 32
    assert features.shape == (len(view.train_indices), model.head.in_features) and features.dtype == np.float32
    with torch.no_grad():
        assert np.allclose(features, model.embed(x).numpy(), atol=1e-5)


def test_softmax_gradient_is_the_logit_gradient_on_the_training_labels(model_and_data):
    model, data, x, y, view = model_and_data
    assert (view.train_labels != view.true_labels).any()  # the noisy labels differ from the clean ones
    grads = extract(model, data, "grad_softmax", batch_size=50)
    assert grads.shape == (len(y), CLASSES)
    assert np.allclose(grads.sum(1), 0, atol=1e-6)
    with torch.no_grad():
        logits = model(x)
    logits.requires_grad_(True)
    F.cross_entropy(logits, y, reduction="sum").backward()
    assert np.allclose(grads, logits.grad.numpy(), atol=1e-6)
    expected = logits.detach().softmax(1) - F.one_hot(torch.as_tensor(view.train_labels), CLASSES)
    assert np.allclose(grads, expected.numpy(), atol=1e-6)


def test_fc_gradient_equals_autograds_per_example_weight_and_bias_gradients(model_and_data):
    model, data, x, y, _ = model_and_data
    grads = extract(model, data, "grad_fc", batch_size=64)
    dims = model.head.in_features
    assert grads.shape == (len(y), CLASSES * (dims + 1))
    for i in (0, 7, 100, len(y) - 1):
        model.zero_grad()
        F.cross_entropy(model(x[i:i + 1]), y[i:i + 1]).backward()
        per_class = grads[i].reshape(CLASSES, dims + 1)
        assert np.allclose(per_class[:, :dims], model.head.weight.grad.numpy(), atol=1e-5)
        assert np.allclose(per_class[:, dims], model.head.bias.grad.numpy(), atol=1e-6)
    model.zero_grad()


def test_unknown_kind_is_a_user_error(model_and_data):
    model, data, *_ = model_and_data
    with pytest.raises(UserError, match=r"kind: unknown value 'grad_conv'"):
        extract(model, data, "grad_conv")


def test_extract_many_puts_checkpoints_side_by_side(trained, tmp_path):
    out, _ = trained
    prepared, view = toy_data(validation=True)
    paths = [snapshot_path(out / "last.pt", e) for e in (1, 3)]
    data = DeviceData(prepared, view, CPU)
    blocks = [extract(load_model_snapshot(p, prepared, view, CPU), data, "grad_softmax") for p in paths]
    both = extract_many(paths, prepared, view, "grad_softmax", CPU)
    assert np.array_equal(both, np.hstack(blocks))
    # squared distances over the concatenation are the sums over the checkpoints
    d_both = ((both[:, None] - both[None, :5]) ** 2).sum(-1)
    assert np.allclose(d_both, sum(((b[:, None] - b[None, :5]) ** 2).sum(-1) for b in blocks), atol=1e-5)
    half = extract_many(paths, prepared, view, "grad_softmax", CPU, dtype="float16")
    assert half.dtype == np.float16 and np.allclose(half, both, atol=1e-3)

    wider = resolve({**RUN, "model": {"name": "lenet", "width": 1.0}})
    torch.manual_seed(0)
    save_snapshot(tmp_path / "wide.pt", build_model("lenet", 1, CLASSES, 28, width=1.0), wider, 1)
    with pytest.raises(UserError, match="one architecture"):
        extract_many([paths[0], tmp_path / "wide.pt"], prepared, view, "features", CPU)


def test_vectors_round_trip_through_files(files, trained, tmp_path):
    out, _ = trained
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    save_vectors(tmp_path / "v.npy", array, {"kind": "features"})
    loaded, meta = load_vectors(tmp_path / "v.npy")
    assert np.array_equal(loaded, array) and loaded.dtype == np.float32
    assert meta == {"kind": "features", "shape": [3, 4], "dtype": "float32"}
    assert not list(tmp_path.glob("*.part"))

    paths = [snapshot_path(out / "last.pt", e) for e in (2, 4)]
    target = tmp_path / "features" / "grad_fc.npy"
    written = extract_to_file(paths, *files[True], "grad_fc", target, device="cpu", dtype="float16")
    loaded, meta = load_vectors(target)
    assert np.array_equal(loaded, written) and loaded.dtype == np.float16
    prepared, view = toy_data(validation=True)
    assert np.array_equal(loaded, extract_many(paths, prepared, view, "grad_fc", CPU, dtype="float16"))
    assert meta["kind"] == "grad_fc" and meta["checkpoints"] == [str(p) for p in paths]
    assert meta["shape"] == [len(view.train_indices), loaded.shape[1]] and meta["dtype"] == "float16"
    assert meta["dims_per_checkpoint"] * 2 == loaded.shape[1]
    with pytest.raises(UserError, match="missing"):
        load_vectors(tmp_path / "nothing.npy")

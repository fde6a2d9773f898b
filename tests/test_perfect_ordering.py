"""Seed 004's brute-force perfect ordering: every order of every epoch, KMeans picks, resume."""

from __future__ import annotations

import csv
import logging
import itertools
import json

import numpy as np
import pytest
import torch
from torch import nn

from robustrepro.data.prepared import Prepared, load_prepared
from robustrepro.errors import UserError
from robustrepro.runs import resolve
from robustrepro.training import perfect_ordering as po
from robustrepro.training.seeding import derive_seed
from robustrepro.training.run_job import train_run
from robustrepro.views import View, load_view
from toydata import save_toy

KEEP, EPOCHS, ORDERS = 3, 3, 24  # 16 images in batches of 4: 4! orders per kept run
RUN = {"model": {"name": "tinyconv"}, "epochs": EPOCHS, "batch_size": 4, "seed": 3,
       "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": False, "weight_decay": 1e-3},
       "orderings": {"keep": KEEP, "test_size": 40, "loss_batch": 16}}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Two classes told apart by a bright square on a noisy background: 16 training, 64 test images."""
    folder = tmp_path_factory.mktemp("orderings")
    rng = np.random.default_rng(0)

    def images(n):
        y = rng.integers(0, 2, n)
        x = rng.integers(0, 120, (n, 1, 28, 28)).astype(np.uint8)
        x[y == 1, :, 8:20, 8:20] = 200
        return x, y

    (train_x, train_y), (test_x, test_y) = images(16), images(64)
    none = np.zeros(0, dtype=np.int64)
    save_toy(folder / "toy.npz", folder / "view.npz", Prepared("toy", train_x, train_y, test_x, test_y, ("off", "on")),
             View(2, np.arange(16), train_y, train_y, np.zeros(16, bool), none, none, "none", none, none,
                  np.arange(64), test_y, np.eye(2), 0.0))
    return folder / "toy.npz", folder / "view.npz"


def train(files, out, **changes):
    return train_run({**RUN, **changes}, *files, out, out / "last.pt", device="cpu", progress=False)


def read(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def trained(files, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    metrics = train(files, out)
    return out, metrics, read(out / "orderings.csv")


def test_epoch_one_trains_every_order_once_from_the_initial_model(trained):
    _, _, rows = trained
    first = [r for r in rows if r["epoch"] == "1"]
    assert sorted(r["order"] for r in first) == sorted("-".join(map(str, p)) for p in itertools.permutations(range(4)))
    assert {r["parent"] for r in first} == {"-1"}


def test_kept_runs_are_the_kmeans_picks_and_each_goes_on_in_every_order(trained):
    _, _, rows = trained
    for epoch in range(1, EPOCHS + 1):
        ids = [i for i, r in enumerate(rows) if r["epoch"] == str(epoch)]
        kept = [i for i in ids if rows[i]["kept"] == "True"]
        if epoch == EPOCHS:
            assert kept == []  # nothing goes on after the last epoch
            continue
        losses = np.array([float(rows[i]["test_loss"]) for i in ids])
        picks = po.keep_runs(losses, KEEP, np.random.default_rng(derive_seed(RUN["seed"], epoch, "kmeans")))
        assert kept == [ids[0] + int(p) for p in picks] and len(set(kept)) == KEEP
        children = [r for r in rows if r["epoch"] == str(epoch + 1)]
        assert len(children) == KEEP * ORDERS
        for parent in kept:
            orders = [r["order"] for r in children if r["parent"] == str(parent)]
            assert len(set(orders)) == ORDERS


def test_a_kept_run_retrained_alone_reproduces_its_recorded_numbers(files, trained):
    """Follow the last epoch's best run back to epoch 1 and retrain it with nn.Module and torch.optim.SGD."""
    _, metrics, rows = trained
    experiment = po.Experiment(resolve(RUN), load_prepared(files[0]), load_view(files[1]), torch.device("cpu"),
                               {"data": None, "code": None})
    last = [i for i, r in enumerate(rows) if r["epoch"] == str(EPOCHS)]
    row = min(last, key=lambda i: (-float(rows[i]["test_acc1"]), float(rows[i]["test_loss"])))  # as best_orders
    chain = []
    while row >= 0:
        chain.append(row)
        row = int(rows[row]["parent"])
    chain.reverse()
    assert [int(rows[i]["epoch"]) for i in chain] == list(range(1, EPOCHS + 1))

    model = experiment.model  # the run's initial weights, untouched by side-by-side training
    options = {k: v for k, v in RUN["optimizer"].items() if k != "name"}
    optimizer = torch.optim.SGD(model.parameters(), **options)
    for i in chain:
        model.train()
        for batch in map(int, rows[i]["order"].split("-")):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(experiment.train_x[batch]), experiment.train_y[batch]).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            logits = model(experiment.test_x)
        losses = nn.functional.cross_entropy(logits, experiment.test_y, reduction="none").double()
        summed = sum(part.mean() for part in losses.split(16)).item()
        assert summed == pytest.approx(float(rows[i]["test_loss"]), abs=1e-4)
        assert losses.mean().item() == pytest.approx(float(rows[i]["test_loss_mean"]), abs=1e-4)
        assert (logits.argmax(1) == experiment.test_y).double().mean().item() == float(rows[i]["test_acc1"])
    assert metrics["best_orders"] == [rows[i]["order"] for i in chain]


def test_history_summarises_the_orderings_and_metrics_close_the_run(trained):
    out, metrics, rows = trained
    history = read(out / "history.csv")
    assert [h["epoch"] for h in history] == [str(e) for e in range(1, EPOCHS + 1)]
    for h in history:
        mine = [r for r in rows if r["epoch"] == h["epoch"]]
        acc, loss = [float(r["test_acc1"]) for r in mine], [float(r["test_loss"]) for r in mine]
        assert int(h["orderings"]) == len(mine) == (ORDERS if h["epoch"] == "1" else KEEP * ORDERS)
        assert (float(h["test_acc1_min"]), float(h["test_acc1_max"])) == (min(acc), max(acc))
        assert float(h["test_acc1_mean"]) == pytest.approx(np.mean(acc))
        assert (float(h["test_loss_min"]), float(h["test_loss_max"])) == (min(loss), max(loss))
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["provenance"]["run"] == resolve(RUN)
    assert saved["orderings_trained"] == len(rows) == ORDERS + (EPOCHS - 1) * KEEP * ORDERS
    assert saved["test_acc1_max"] == float(history[-1]["test_acc1_max"]) == metrics["test_acc1_max"]
    assert len(saved["batches"]) == 4 and sorted(sum(saved["batches"], [])) == list(range(16))


def test_interrupted_run_resumes_to_identical_results(files, trained, tmp_path, monkeypatch):
    whole, _, rows = trained
    fit_epoch = po.Experiment.fit_epoch

    def stop_before_the_last_epoch(self, progress):
        if self.epoch == EPOCHS - 1:
            raise KeyboardInterrupt
        return fit_epoch(self, progress)

    monkeypatch.setattr(po.Experiment, "fit_epoch", stop_before_the_last_epoch)
    with pytest.raises(KeyboardInterrupt):
        train(files, tmp_path)
    assert not (tmp_path / "metrics.json").exists()
    monkeypatch.setattr(po.Experiment, "fit_epoch", fit_epoch)
    metrics = train(files, tmp_path)
    assert read(tmp_path / "orderings.csv") == rows
    strip = lambda path: [{k: v for k, v in h.items() if k != "time_s"} for h in read(path)]  # noqa: E731
    assert strip(tmp_path / "history.csv") == strip(whole / "history.csv")
    assert [s["last_epoch"] for s in metrics["provenance"]["sessions"]] == [EPOCHS - 1, EPOCHS]


@pytest.mark.parametrize("changes,key", [
    ({"orderings": {"keeep": 3}}, "orderings.keeep"),
    ({"orderings": {"keep": 0}}, "orderings.keep"),
    ({"orderings": {"test_size": 65}}, "orderings.test_size"),
    ({"orderings": {"loss_batch": "all"}}, "orderings.loss_batch"),
    ({"orderings": [3]}, "orderings"),
    ({"optimizer": {"name": "adam", "lr": 0.01}}, "optimizer.name"),
    ({"optimizer": {"name": "sgd", "lr": 0.1, "dampening": 0.5}}, "optimizer.dampening"),
    ({"batch_size": 5}, "batch_size"),
    ({"batch_size": 1}, "batch_size"),  # 16 batches: 16! orders
    ({"schedule": {"name": "cosine"}}, "schedule"),
    ({"augment": {"crop": 2}}, "augment"),
])
def test_bad_config_names_its_key(files, tmp_path, changes, key):
    with pytest.raises(UserError, match=rf"^{key}:"):
        train(files, tmp_path, **changes)


@pytest.mark.parametrize("seed", range(5))
def test_kmeans_keeps_the_run_nearest_each_cluster_centre(seed):
    losses = np.array([20.1, 0.0, 10.2, 0.1, 20.0, 10.1, 0.35, 20.2, 10.0])
    rng = np.random.default_rng(seed)
    centres = np.sort(po.kmeans_1d(losses, 3, rng))
    np.testing.assert_allclose(centres, [0.15, 10.1, 20.1])
    # Nearest to 0.15: 0.1 (index 3); to 10.1: index 5; to 20.1: index 0.
    assert po.keep_runs(losses, 3, np.random.default_rng(seed)).tolist() == [0, 3, 5]


def test_kmeans_keeps_distinct_runs_even_among_equal_losses_and_all_of_few():
    picks = po.keep_runs(np.ones(5), 3, np.random.default_rng(0))
    assert len(set(picks.tolist())) == 3
    assert po.keep_runs(np.array([2.0, 1.0]), 3, np.random.default_rng(0)).tolist() == [0, 1]


def test_prefix_levels_share_steps_between_orders():
    levels = po.prefix_levels(3)
    assert [len(last) for _, last in levels] == [3, 6, 6]
    # Follow each full order back through its prefixes.
    orders = []
    for i in range(6):
        path, index = [], i
        for own_prefix, last in reversed(levels):
            path.append(int(last[index]))
            index = int(own_prefix[index])
        orders.append(tuple(reversed(path)))
    assert orders == list(itertools.permutations(range(3)))


def test_empty_orderings_section_is_the_defaults_and_not_an_ordinary_run():
    from robustrepro.runs import run_id

    plain = {k: v for k, v in RUN.items() if k != "orderings"}
    spelled = {**plain, "orderings": {"keep": 12, "test_size": 2048, "loss_batch": 512}}
    assert run_id({**plain, "orderings": {}}) == run_id(spelled) != run_id(plain)


def test_a_finished_run_found_again_is_kept_as_the_trainer_keeps_it(files, trained, tmp_path, caplog):
    """A job that finds its run finished with the same run, data and code writes its results again."""
    _, _, rows = trained
    train(files, tmp_path)
    (tmp_path / "orderings.csv").unlink()
    with caplog.at_level(logging.INFO, logger="robustrepro"):
        metrics = train(files, tmp_path)
    assert "keeping its results" in caplog.text and "epoch 1:" not in caplog.text
    assert read(tmp_path / "orderings.csv") == rows
    assert len(metrics["provenance"]["sessions"]) == 1

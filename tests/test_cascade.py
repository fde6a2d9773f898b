"""Cascading sum augmentation (seed 004 chapter 3.4): k, k/2, ..., until sum groups, each phase from the
best epoch of the one before; its columns in history.csv; its best snapshot; resuming in any phase; its errors."""

import copy
import csv
import json
import math

import pytest
import torch

from robustrepro.errors import UserError
from robustrepro.runs import identity, resolve, run_id
from robustrepro.training import STEPS, Trainer, train_run
from robustrepro.training.checkpoint import load_checkpoint, load_snapshot, save_checkpoint, snapshot_path
from robustrepro.training.steps import WeightedStep

from toydata import save_toy, toy_data

CPU = torch.device("cpu")
PROBE = "cascade_probe"
# 300 training examples in batches of 32: 10 steps per epoch. Momentum (optimizer state a new phase
# drops) and a reduce-on-plateau lr (a schedule state a new phase restarts) that drops often.
RUN = {"model": {"name": "lenet", "width": 0.5, "dropout": 0.2}, "batch_size": 32, "epochs": 40,
       "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4},
       "schedule": {"name": "plateau", "metric": "train_loss", "patience": 0, "factor": 0.5},
       "augment": {"crop": 2, "flip": True}, "step": {"name": PROBE, "k": 8},
       "cascade": {"patience": 2, "metric": "test_acc1"}}


class GroupsProbe(WeightedStep):
    """The plain step with the sum-group interface of sum_augment; it records what each epoch starts from."""

    def __init__(self, k):
        self.k = k
        self.calls = []  # (epoch, k) of every update
        self.starts = {}  # epoch -> (weights before its first update, optimizer state entries then)

    def set_groups(self, k):
        self.k = k

    def start_epoch(self, ctx):
        self.first = True

    def __call__(self, ctx, batch, x, y):
        if self.first:
            self.first = False
            self.starts[ctx.epoch] = ({k: v.clone() for k, v in ctx.model.state_dict().items()},
                                      len(ctx.optimizer.state))
        self.calls.append((ctx.epoch, self.k))
        return super().__call__(ctx, batch, x, y)


@pytest.fixture(scope="module", autouse=True)
def probe_step():
    STEPS.register(PROBE)(lambda ctx, *, k: GroupsProbe(k))
    yield
    del STEPS.builders[PROBE]


@pytest.fixture(scope="module")
def toy():
    return toy_data(n_train=400, n_test=100, n_val=100)


@pytest.fixture(scope="module")
def toy_files(tmp_path_factory, toy):
    folder = tmp_path_factory.mktemp("cascade")
    save_toy(folder / "toy.npz", folder / "view.npz", *toy)
    return folder


def trainer(toy, **changes) -> Trainer:
    return Trainer(resolve({**RUN, **changes}), *toy, CPU)


def weights(t: Trainer) -> dict:
    return {k: v.clone() for k, v in t.ctx.model.state_dict().items()}


def same_tensors(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def without_time(rows):
    return [{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items() if k != "time_s"}
            for row in rows]


@pytest.fixture(scope="module")
def whole(toy, tmp_path_factory):
    """The uninterrupted run, with the weights at the end of every epoch, and the checkpoints
    train_run would write (taken on the way, which changes nothing) three steps into every epoch
    and after it, in checkpoints / step<global step>.pt and epoch<epoch>.pt."""
    folder = tmp_path_factory.mktemp("checkpoints")
    t = trainer(toy)

    def checkpoint_within():
        if t.step_in_epoch == 3:
            save_checkpoint(folder / f"step{t.ctx.global_step}.pt", t.state_dict())

    t.on_step = checkpoint_within
    ends = {}
    while not t.finished:
        row = t.fit_epoch()
        ends[row["epoch"]] = weights(t)
        save_checkpoint(folder / f"epoch{t.epoch}.pt", t.state_dict())
    t.on_step = None
    t.checkpoints = folder
    return t, ends


def expected_phases(rows, patience, k=8, metric="test_acc1", until=1):
    """The cascade recomputed from the rows: (epoch, phase, k, restored_from_epoch or None) per epoch."""
    out, phase, best, best_epoch, waited = [], 0, None, None, 0
    for row in rows:
        value = row[metric]
        if best is None or value > best:
            best, best_epoch, waited = value, row["epoch"], 0
        else:
            waited += 1
        plateau = waited >= patience
        out.append((row["epoch"], phase, k, best_epoch if plateau and k > until else None))
        if plateau:
            if k == until:
                break
            phase, k, best, best_epoch, waited = phase + 1, k // 2, None, None, 0
    return out


def test_phases_halve_k_at_each_plateau_down_to_the_original_data(whole):
    t, _ = whole
    rows = without_time(t.history)
    got = [(r["epoch"], r["phase"], r["sum_groups"], r["restored_from_epoch"]) for r in rows]
    assert got == expected_phases(rows, patience=2)
    assert [k for _, _, k, _ in got] == sorted((k for _, _, k, _ in got), reverse=True)
    assert {k for _, _, k, _ in got} == {8, 4, 2, 1}  # every phase, and the k = 1 phase plateaued: stopped
    assert t.stopped_early and t.epoch < t.epochs
    # The step trained every update of an epoch at that epoch's k.
    ks = {r["epoch"]: r["sum_groups"] for r in rows}
    assert t.step.calls and all(k == ks[epoch] for epoch, k in t.step.calls)
    # metrics.json reports the best epoch of the last phase: the seed's best checkpoint.
    last = [r for r in rows if r["phase"] == 3]
    best = max(last, key=lambda r: r["test_acc1"])
    assert t.summary()["best_epoch"] == best["epoch"] == t.cascade.best_epoch


def test_every_phase_starts_from_its_predecessors_best_epoch_bit_for_bit(whole):
    t, ends = whole
    rows = t.history
    transitions = [r for r in rows if not math.isnan(r["restored_from_epoch"])]
    assert len(transitions) == 3
    for row in rows[:-1]:
        after = row["epoch"] + 1
        start_weights, optimizer_entries = t.step.starts[after]
        if math.isnan(row["restored_from_epoch"]):
            assert same_tensors(start_weights, ends[row["epoch"]]) and optimizer_entries > 0
        else:
            best = row["restored_from_epoch"]
            assert best < row["epoch"] and not same_tensors(ends[best], ends[row["epoch"]])
            assert same_tensors(start_weights, ends[best])
            assert optimizer_entries == 0  # a fresh optimizer: no momentum from the old phase
            # The reduce-on-plateau lr starts the phase at its base again.
            assert rows[after - 1]["lr"] == RUN["optimizer"]["lr"]
    assert min(r["lr"] for r in rows) < RUN["optimizer"]["lr"]  # it did drop within phases


def test_history_csv_and_metrics_json_carry_the_phases(whole, toy_files, tmp_path):
    t, _ = whole
    metrics = train_run(RUN, toy_files / "toy.npz", toy_files / "view.npz", tmp_path, tmp_path / "c.pt",
                        device="cpu", progress=False)
    with open(tmp_path / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert {"phase", "sum_groups", "restored_from_epoch"} <= set(rows[0])
    assert [int(r["phase"]) for r in rows] == [r["phase"] for r in t.history]
    assert [int(r["sum_groups"]) for r in rows] == [r["sum_groups"] for r in t.history]
    restored = [(int(r["epoch"]), int(r["restored_from_epoch"])) for r in rows if r["restored_from_epoch"]]
    assert restored == [(r["epoch"], r["restored_from_epoch"]) for r in t.history
                        if not math.isnan(r["restored_from_epoch"])]
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written["stopped_early"] and written["best_epoch"] == metrics["best_epoch"] == t.cascade.best_epoch
    assert written["test_acc1"] == t.history[t.cascade.best_epoch - 1]["test_acc1"]
    # The best snapshot is that epoch's model, not the trainer's own best (of every phase, on val_acc1).
    assert load_snapshot(snapshot_path(tmp_path / "c.pt", "best"))["epoch"] == written["best_epoch"]


def test_the_best_snapshot_follows_the_current_phase(whole, toy, tmp_path):
    t_whole, ends = whole
    t = trainer(toy)
    kept = []
    while not t.finished:
        t.fit_epoch()
        t.save_epoch_snapshots(tmp_path / "c.pt")  # as train_run does after every epoch
        kept.append(load_snapshot(snapshot_path(tmp_path / "c.pt", "best"))["epoch"])
    # Each phase's first epoch is its first best, whatever the epochs before it scored.
    assert kept == [_best_so_far_in_phase(t_whole.history, r["epoch"]) for r in t_whole.history]
    assert kept[-1] == t_whole.summary()["best_epoch"]
    assert same_tensors(load_snapshot(snapshot_path(tmp_path / "c.pt", "best"))["model"], ends[kept[-1]])


def phases_to_the_end(t: Trainer):
    """Train t to its end: its history rows and (epoch, phase, sum_groups, restored_from_epoch) per epoch."""
    while not t.finished:
        t.fit_epoch()
    rows = without_time(t.history)
    return rows, [(r["epoch"], r["phase"], r["sum_groups"], r["restored_from_epoch"]) for r in rows]


def _best_so_far_in_phase(rows, epoch):
    phase = rows[epoch - 1]["phase"]
    mine = [r for r in rows[:epoch] if r["phase"] == phase]
    return max(mine, key=lambda r: (r["test_acc1"], -r["epoch"]))["epoch"]


def test_until_stops_the_cascade_at_that_k(toy):
    t = trainer(toy, cascade={"patience": 2, "until": 2})
    rows, got = phases_to_the_end(t)
    assert got == expected_phases(rows, patience=2, until=2)
    assert {k for _, _, k, _ in got} == {8, 4, 2} and t.stopped_early and t.step.k == 2
    last = [r for r in rows if r["sum_groups"] == 2]
    assert t.summary()["best_epoch"] == max(last, key=lambda r: r["test_acc1"])["epoch"]


def test_a_cascade_from_k_1_is_one_phase_on_the_original_data(toy):
    t = trainer(toy, step={"name": "sum_augment", "k": 1}, cascade={"patience": 2})
    rows, got = phases_to_the_end(t)
    assert got == expected_phases(rows, patience=2, k=1)
    assert {(phase, k) for _, phase, k, _ in got} == {(0, 1)} and t.stopped_early and t.epoch < t.epochs


def resumed_from(toy, path) -> Trainer:
    t = trainer(toy)
    t.load_state_dict(load_checkpoint(path, t.run))
    while not t.finished:
        t.fit_epoch()
    return t


def assert_same_run(resumed: Trainer, whole: Trainer) -> None:
    assert same_tensors(weights(resumed), weights(whole))
    assert without_time(resumed.history) == without_time(whole.history)
    assert resumed.summary()["best_epoch"] == whole.summary()["best_epoch"]


def transition_epochs(whole_trainer):
    return [r["epoch"] for r in whole_trainer.history if not math.isnan(r["restored_from_epoch"])]


@pytest.mark.parametrize("phase", [1, 3])
def test_a_run_resumed_within_an_epoch_of_any_phase_ends_like_an_uninterrupted_one(toy, whole, phase):
    t_whole, _ = whole
    # Three steps into the epoch that starts the phase, from the best weights just loaded.
    path = t_whole.checkpoints / f"step{transition_epochs(t_whole)[phase - 1] * 10 + 3}.pt"
    state = load_checkpoint(path, t_whole.run)
    assert state["step_in_epoch"] == 3 and state["cascade"]["phase"] == phase
    assert_same_run(resumed_from(toy, path), t_whole)


@pytest.mark.parametrize("after", ["plateau", "mid_phase"])
def test_a_run_resumed_between_epochs_ends_like_an_uninterrupted_one(toy, whole, after):
    t_whole, _ = whole
    plateau = transition_epochs(t_whole)[1]
    # Right after a plateau epoch (its phase's best weights still to be loaded), or within a phase.
    path = t_whole.checkpoints / f"epoch{plateau if after == 'plateau' else plateau + 2}.pt"
    assert load_checkpoint(path, t_whole.run)["cascade"]["pending"] == (after == "plateau")
    assert_same_run(resumed_from(toy, path), t_whole)


def test_sum_augment_cascades_end_to_end(toy):
    t = trainer(toy, step={"name": "sum_augment", "k": 4}, cascade={"patience": 1})
    rows, got = phases_to_the_end(t)
    assert got == expected_phases(rows, patience=1, k=4)
    assert [k for _, _, k, _ in got][0] == 4 and t.step.k == got[-1][2]


@pytest.mark.parametrize("changes, key", [
    ({"step": {"name": "weighted"}}, "cascade:"),
    ({"step": {"name": PROBE, "k": 0}}, "cascade:"),
    ({"step": {"name": PROBE, "k": 6}}, "cascade:"),
    ({"cascade": {"patience": 2, "until": 3}}, r"cascade\.until"),
    ({"cascade": {"patience": 2, "until": 16}}, r"cascade\.until"),
    ({"cascade": {"patience": 2, "until": 0}}, r"cascade\.until"),
    ({"cascade": {"patience": 2, "until": 2.0}}, r"cascade\.until"),
    ({"step": {"name": PROBE, "k": 1}, "cascade": {"patience": 2, "until": 2}}, r"cascade\.until"),
    ({"cascade": {"metric": "test_acc1"}}, r"cascade\.patience"),
    ({"cascade": {"patience": 0}}, r"cascade\.patience"),
    ({"cascade": {"patience": 2, "min_delta": 0.1}}, r"cascade\.min_delta"),
    ({"cascade": {"patience": 2, "metric": "nope"}}, r"cascade\.metric"),
    ({"cascade": {"patience": 2, "mode": "up"}}, r"cascade\.mode"),
    ({"cascade": 3}, "cascade:"),
    ({"early_stopping": {"patience": 3}}, "early_stopping:"),
])
def test_bad_cascades_name_their_key(toy, changes, key):
    with pytest.raises(UserError, match=key):
        trainer(toy, **changes)


def test_a_cascade_on_a_test_column_tests_every_epoch(toy):
    t = trainer(toy, eval_every=5, epochs=3)
    assert t.test_every_epoch


def test_runs_without_a_cascade_keep_their_ids():
    # The ids these runs had before the key existed.
    assert run_id({}) == "mnist-lenet-none-s0-c52921b0b7"
    assert run_id({"dataset": "cifar10", "model": {"name": "preact_resnet18"}, "epochs": 200}) \
        == "cifar10-preact-resnet18-none-s0-ab3f7a376f"
    assert "cascade" not in identity({}) and run_id({"cascade": None}) == run_id({})
    # The defaults are filled in: two spellings of one cascade are one run.
    assert run_id({"cascade": {"patience": 3}}) == run_id({"cascade": {"patience": 3, "metric": "test_acc1",
                                                                        "mode": None, "until": 1}})
    assert copy.deepcopy(resolve({"cascade": {"patience": 3}}))["cascade"] == \
        {"patience": 3, "metric": "test_acc1", "mode": None, "until": 1}

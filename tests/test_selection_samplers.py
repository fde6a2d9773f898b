"""Seed 000's samplers: set-cover clusters, online facility location, ball weights, data covered."""

import math

import numpy as np
import pytest
import torch

from robustrepro.data.prepared import Prepared
from robustrepro.errors import UserError
from robustrepro.runs import resolve
from robustrepro.selection.setcover import SetCover, save_set_cover
from robustrepro.training import Trainer
from robustrepro.training.checkpoint import load_checkpoint, save_checkpoint
from robustrepro.training.seeding import derive_seed, make_generator
from robustrepro.training.methods.selection import ClusterSampler
from robustrepro.views import View

CLASSES = 10
N_TRAIN = 200


class EpochOnly:
    """The part of a TrainContext a ClusterSampler uses: the epoch's seeded generators."""

    def __init__(self, epoch, seed=0):
        self.epoch, self.seed = epoch, seed

    def generator(self, purpose):
        return make_generator(derive_seed(self.seed, self.epoch, purpose))


def toy_clustering(seed=0, n=300, n_clusters=40):
    rng = np.random.default_rng(seed)
    assignment = np.concatenate([np.arange(n_clusters), rng.integers(0, n_clusters, n - n_clusters)])  # none empty
    rng.shuffle(assignment)
    labels = rng.integers(0, 4, n)
    return torch.from_numpy(assignment), n_clusters, torch.from_numpy(labels)


def epoch_batches(sampler, epoch):
    return list(sampler.batches(EpochOnly(epoch)))


def test_cluster_sampler_draws_one_member_of_every_cluster_per_epoch():
    assignment, n_clusters, labels = toy_clustering()
    sampler = ClusterSampler(assignment, n_clusters, labels, batch_size=16, weighting="size")
    assert sampler.steps_per_epoch() == math.ceil(n_clusters / 16) == 3
    draws = []
    for epoch in (1, 2):
        batches = epoch_batches(sampler, epoch)
        assert len(batches) == 3
        indices = torch.cat([b.indices for b in batches])
        clusters = assignment[indices]
        assert sorted(clusters.tolist()) == list(range(n_clusters))  # every cluster once, one member each
        assert clusters.tolist() != list(range(n_clusters))  # in a shuffled order
        draws.append(indices)
    assert not torch.equal(draws[0].sort().values, draws[1].sort().values)  # new members each epoch
    again = torch.cat([b.indices for b in epoch_batches(sampler, 2)])
    assert torch.equal(again, draws[1])  # the epoch's seed decides everything
    # Over many epochs every member of a cluster gets drawn.
    seen = torch.cat([b.indices for e in range(3, 60) for b in epoch_batches(sampler, e)])
    assert len(torch.unique(seen)) > 0.9 * len(assignment)


def test_size_weights_are_cluster_sizes_normalised_over_the_batch():
    assignment, n_clusters, labels = toy_clustering(1)
    sizes = torch.bincount(assignment)
    for batch in epoch_batches(ClusterSampler(assignment, n_clusters, labels, 16, "size"), 1):
        want = sizes[assignment[batch.indices]].float()
        assert torch.allclose(batch.weights, want / want.sum())
        assert batch.weights.sum().item() == pytest.approx(1.0)


def test_confidence_is_the_share_of_the_cluster_agreeing_with_the_member_label():
    assignment, n_clusters, labels = toy_clustering(2)
    sampler = ClusterSampler(assignment, n_clusters, labels, 16, "confidence")
    for batch in epoch_batches(sampler, 1):
        for i, w in zip(batch.indices.tolist(), batch.weights.tolist()):
            cluster = assignment == assignment[i]
            assert w == pytest.approx((labels[cluster] == labels[i]).float().mean().item())
            assert 0 < w <= 1


def test_unknown_weighting_is_rejected():
    assignment, n_clusters, labels = toy_clustering()
    with pytest.raises(UserError, match="sampler.weighting"):
        ClusterSampler(assignment, n_clusters, labels, 16, "loss")


# --- whole (tiny) runs ---

def toy(n=N_TRAIN, n_test=50, seed=0):
    """Random 1x28x28 images whose label brightens one row band, so an mlp learns something."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, n + n_test)
    x = rng.integers(0, 100, (n + n_test, 1, 28, 28)).astype(np.uint8)
    for k in range(CLASSES):
        x[y == k, :, 2 * k:2 * k + 2] = 250
    prepared = Prepared("toy", x[:n], y[:n], x[n:], y[n:], tuple(map(str, range(CLASSES))))
    empty = np.arange(0)
    view = View(CLASSES, np.arange(n), y[:n], y[:n], np.zeros(n, bool), empty, empty, "none", empty, empty,
                np.arange(n_test), y[n:], np.eye(CLASSES), 0.0)
    return prepared, view


def make_trainer(sampler, epochs=3, cluster_file=None, **changes):
    prepared, view = toy()
    run = resolve({"model": {"name": "mlp1", "width": 0.25}, "epochs": epochs, "batch_size": 32,
                   "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9}, "sampler": sampler,
                   "metrics": ["data_covered"], **changes})
    return Trainer(run, prepared, view, torch.device("cpu"), clustering=cluster_file)


def fit(trainer, epochs):
    """Run epochs; returns (optimizer steps per epoch, history rows)."""
    steps = []
    for _ in range(epochs):
        before = trainer.ctx.global_step
        trainer.fit_epoch()
        steps.append(trainer.ctx.global_step - before)
    return steps


def without_time(history):
    return [{k: v for k, v in row.items() if k != "time_s"} for row in history]


def test_facility_location_trains_on_the_greedy_selection_after_the_warmup():
    trainer = make_trainer({"name": "facility_location", "ratio": 0.4, "warmup_epochs": 1})
    labels = trainer.ctx.data.splits["train"].labels
    selected = sum(max(1, round(0.4 * c)) for c in torch.bincount(labels, minlength=CLASSES).tolist())
    steps = fit(trainer, 3)
    assert steps == [math.ceil(N_TRAIN / 32), math.ceil(selected / 32), math.ceil(selected / 32)]
    sampler = trainer.sampler
    assert len(sampler.selection) == selected == len(torch.unique(sampler.selection))
    batches = list(sampler.batches(trainer.ctx))
    assert torch.equal(torch.cat([b.indices for b in batches]), sampler.selection)  # greedy order, no shuffle
    assert all(b.weights.sum().item() == pytest.approx(1.0) for b in batches)
    assert sampler.weights.sum().item() == N_TRAIN  # cluster sizes: every example counted once
    covered = [row["data_covered"] for row in trainer.history]
    assert math.isnan(covered[0])  # the warm-up is not counted
    assert selected / N_TRAIN <= covered[1] <= covered[2] <= 1


def test_epoch_schedules_follow_epochs_when_the_selection_shortens_them():
    """Milestones fall on their epoch, and annealing moves through each shortened epoch in step."""
    trainer = make_trainer({"name": "facility_location", "ratio": 0.4, "warmup_epochs": 1}, epochs=4,
                           schedule={"name": "multistep", "milestones": [2, 3], "gamma": 0.5})
    fit(trainer, 4)
    assert [row["lr"] for row in trainer.history] == pytest.approx([0.05, 0.05, 0.025, 0.0125])

    trainer = make_trainer({"name": "facility_location", "ratio": 0.4, "warmup_epochs": 1}, epochs=3,
                           schedule={"name": "cosine"})
    lrs = []
    real = trainer.schedule.lr
    trainer.schedule.lr = lambda step: lrs.append(step) or real(step)
    fit(trainer, 3)
    planned = trainer.planned_steps
    assert planned == math.ceil(N_TRAIN / 32) > trainer.ctx.steps_per_epoch
    last_epoch = [s for s in lrs if s >= 2 * planned]
    assert last_epoch[0] == 2 * planned and max(last_epoch) < 3 * planned  # the epoch's share of the plan
    assert len(set(last_epoch)) == len(last_epoch) - 1  # the epoch's first lr, asked again for the history row


def test_facility_location_resumes_exactly(tmp_path):
    sampler = {"name": "facility_location", "ratio": 0.4, "warmup_epochs": 1, "weights": "ball", "radius": 0.5}
    whole = make_trainer(sampler)
    fit(whole, 3)
    first = make_trainer(sampler)
    fit(first, 2)
    save_checkpoint(tmp_path / "last.pt", first.state_dict())
    resumed = make_trainer(sampler)
    resumed.load_state_dict(load_checkpoint(tmp_path / "last.pt", resumed.run))
    fit(resumed, 1)
    np.testing.assert_equal(without_time(resumed.history), without_time(whole.history))
    assert torch.equal(resumed.sampler.selection, whole.sampler.selection)
    assert torch.equal(resumed.sampler.weights, whole.sampler.weights)


def test_facility_location_selected_once_keeps_its_selection_with_equal_weights():
    trainer = make_trainer({"name": "facility_location", "ratio": 0.3, "warmup_epochs": 1, "reselect": False,
                            "weights": "equal"})
    fit(trainer, 2)
    chosen = trainer.sampler.selection.clone()
    fit(trainer, 1)
    assert torch.equal(trainer.sampler.selection, chosen)
    assert all(b.weights is None for b in trainer.sampler.batches(trainer.ctx))
    assert trainer.history[2]["data_covered"] == pytest.approx(len(chosen) / N_TRAIN)  # the same points twice


def test_ball_weighted_weights_by_ball_counts_after_the_warmup(tmp_path):
    counts = np.random.default_rng(0).integers(1, 20, N_TRAIN)
    cover = SetCover(np.arange(N_TRAIN), np.arange(N_TRAIN), np.ones(N_TRAIN, dtype=np.int64), counts, 1.0)
    save_set_cover(tmp_path / "cover.npz", cover)
    trainer = make_trainer({"name": "ball_weighted", "warmup_epochs": 1}, epochs=2, cluster_file=tmp_path / "cover.npz")
    trainer.ctx.epoch = 1
    assert all(b.weights is None for b in trainer.sampler.batches(trainer.ctx))
    trainer.ctx.epoch = 2
    for batch in trainer.sampler.batches(trainer.ctx):
        want = torch.from_numpy(counts)[batch.indices].float()
        assert torch.allclose(batch.weights, want / want.sum())
    steps = fit(trainer, 2)
    assert steps == [math.ceil(N_TRAIN / 32)] * 2
    assert [row["data_covered"] for row in trainer.history] == [1.0, 1.0]


def test_ball_weighted_counts_on_the_gradients_at_the_end_of_the_warmup():
    trainer = make_trainer({"name": "ball_weighted", "warmup_epochs": 1, "radius": 0.3}, epochs=2)
    fit(trainer, 1)
    counts = trainer.sampler.counts
    labels = trainer.ctx.data.splits["train"].labels
    assert counts.shape == (N_TRAIN,) and counts.min() >= 1
    assert torch.all(counts <= torch.bincount(labels, minlength=CLASSES)[labels])  # within the class
    fit(trainer, 1)
    assert torch.equal(trainer.sampler.counts, counts)  # counted once


def test_ball_counts_in_feature_space_follow_the_penultimate_features():
    trainer = make_trainer({"name": "ball_weighted", "warmup_epochs": 1, "radius": 1e9, "space": "features"}, epochs=2)
    fit(trainer, 1)
    labels = trainer.ctx.data.splits["train"].labels
    assert torch.equal(trainer.sampler.counts, torch.bincount(labels, minlength=CLASSES)[labels].float())
    trainer = make_trainer({"name": "ball_weighted", "warmup_epochs": 1, "radius": 0.0, "space": "features"}, epochs=2)
    fit(trainer, 1)
    assert trainer.sampler.counts.min() >= 1 and trainer.sampler.counts.float().mean() < 2  # mostly alone
    trainer = make_trainer({"name": "ball_weighted", "warmup_epochs": 1, "radius": 2.0, "space": "features"}, epochs=2)
    fit(trainer, 1)  # unit vectors: nothing is further apart than 2
    assert torch.equal(trainer.sampler.counts, torch.bincount(labels, minlength=CLASSES)[labels].float())


def test_a_run_with_a_clustering_key_needs_its_file():
    spec = {"source": "x", "space": "features", "checkpoints": ["final"], "radius": 1.0}
    with pytest.raises(UserError, match="train --clustering"):
        make_trainer({"name": "clusters"}, clustering=spec)


def test_clusters_sampler_from_a_set_cover_file(tmp_path):
    assignment = np.arange(N_TRAIN) % 50
    cover = SetCover(np.arange(50), assignment, np.bincount(assignment), np.ones(N_TRAIN, dtype=np.int64), 1.0)
    save_set_cover(tmp_path / "cover.npz", cover)
    trainer = make_trainer({"name": "clusters", "weighting": "confidence"}, epochs=2, cluster_file=tmp_path / "cover.npz")
    assert fit(trainer, 2) == [2, 2]  # 50 clusters in batches of 32
    assert trainer.summary()["clusters"] == 50
    assert 0.25 <= trainer.history[0]["data_covered"] == 50 / N_TRAIN
    save_set_cover(tmp_path / "small.npz", SetCover(np.arange(5), np.arange(5), np.ones(5, dtype=np.int64),
                                                    np.ones(5, dtype=np.int64), 1.0))
    with pytest.raises(UserError, match="clustering.*5 points.*200"):
        make_trainer({"name": "clusters"}, cluster_file=tmp_path / "small.npz")
    save_set_cover(tmp_path / "gap.npz", SetCover(np.arange(3), np.arange(N_TRAIN) % 2, np.array([100, 100, 0]),
                                                  np.ones(N_TRAIN, dtype=np.int64), 1.0))
    with pytest.raises(UserError, match="corrupt"):
        make_trainer({"name": "clusters"}, cluster_file=tmp_path / "gap.npz")
    with pytest.raises(UserError, match="missing.npz"):
        make_trainer({"name": "clusters"}, cluster_file=tmp_path / "missing.npz")


@pytest.mark.parametrize("sampler, message", [
    ({"name": "facility_location", "ratio": 0}, "sampler.ratio"),
    ({"name": "facility_location", "ratio": 0.4, "weights": "loss"}, "sampler.weights"),
    ({"name": "facility_location", "ratio": 0.4, "weights": "ball"}, "sampler.radius.*clustering"),
    ({"name": "facility_location", "ratio": 0.4, "weights": "ball", "radius": 1, "space": "logits"}, "sampler.space"),
    ({"name": "facility_location", "ratio": 0.4, "radius": 1.0}, "only used with weights: ball"),
    ({"name": "facility_location", "ratio": 0.4, "warmup_epochs": 0}, "sampler.warmup_epochs"),
    ({"name": "facility_location", "ratio": 0.4, "start_epoch": 3}, "sampler.start_epoch"),
    ({"name": "ball_weighted", "warmup_epochs": 0, "radius": 1.0}, "sampler.warmup_epochs"),
    ({"name": "ball_weighted", "warmup_epochs": 3, "radius": -1}, "sampler.radius"),
    ({"name": "clusters"}, "sampler.name: clusters.*clustering"),
])
def test_bad_sampler_options_name_the_key(sampler, message):
    with pytest.raises(UserError, match=message):
        make_trainer(sampler)

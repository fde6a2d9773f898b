import re

import numpy as np
import pytest

from robustrepro.errors import UserError
from robustrepro.noise import make_view
from robustrepro.noise.sampling import balanced_counts, stratified_counts
from robustrepro.runs import view_spec
from robustrepro.views import load_view, save_view, view_summary_json

K = 10
NOISES = {
    "uniform": {"kind": "uniform", "rate": 0.4},
    "uniform_incl": {"kind": "uniform_incl", "rate": 0.5},
    "background": {"kind": "background", "rate": 0.4, "background_class": 3},
    "pair": {"kind": "pair", "rate": 0.3},
    "alpha": {"kind": "alpha", "alpha": 5},
}


def shuffled_labels(per_class, seed: int = 0) -> np.ndarray:
    """Labels with per_class[c] examples of class c (an int: the same for every class), in random order."""
    counts = np.broadcast_to(per_class, K)
    return np.random.default_rng(seed).permutation(np.repeat(np.arange(K), counts))


TRAIN_Y = shuffled_labels(np.arange(400, 400 + 10 * K, 10))  # mildly imbalanced, like MNIST
TEST_Y = shuffled_labels(100, seed=1)


def view(train_y=TRAIN_Y, test_y=TEST_Y, **run):
    return make_view(train_y, test_y, K, view_spec(run))


def assert_views_equal(a, b):
    for name in ("train_indices", "train_labels", "true_labels", "noisy_mask", "holdout_indices", "holdout_labels",
                 "val_indices", "val_labels", "test_indices", "test_labels", "transition"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    for name in ("num_classes", "val_source", "noise_rate", "summary"):
        assert getattr(a, name) == getattr(b, name), name


# --- properties every kind shares -------------------------------------------------------------

@pytest.mark.parametrize("kind", ["none", *NOISES])
def test_view_is_consistent(kind):
    v = view(noise=NOISES.get(kind, {"kind": "none"}), holdout={"size": 5, "per_class": True})
    assert v.train_indices.dtype == v.train_labels.dtype == v.true_labels.dtype == np.int64
    np.testing.assert_array_equal(v.true_labels, TRAIN_Y[v.train_indices])
    np.testing.assert_array_equal(v.noisy_mask, v.train_labels != v.true_labels)
    assert v.noise_rate == pytest.approx(v.noisy_mask.mean())
    assert v.summary["n_noisy"] == v.noisy_mask.sum() and v.summary["n_train"] == v.train_indices.size
    assert v.summary["train_true_per_class"] == np.bincount(v.true_labels, minlength=K).tolist()
    assert v.summary["train_label_per_class"] == np.bincount(v.train_labels, minlength=K).tolist()
    np.testing.assert_allclose(v.transition.sum(axis=1), 1.0)
    counts = np.zeros((K, K))
    np.add.at(counts, (v.true_labels, v.train_labels), 1)
    np.testing.assert_allclose(v.transition, counts / counts.sum(axis=1, keepdims=True))


@pytest.mark.parametrize("kind", list(NOISES))
def test_same_seed_same_view_other_seed_other_noise(kind):
    a = view(noise=NOISES[kind], data_seed=3)
    assert_views_equal(a, view(noise=NOISES[kind], data_seed=3))
    assert not np.array_equal(a.train_labels, view(noise=NOISES[kind], data_seed=4).train_labels)


def test_none_keeps_every_label_and_seed_moves_the_holdout():
    v = view(holdout={"size": 50})
    assert v.noise_rate == 0 and not v.noisy_mask.any()
    np.testing.assert_array_equal(v.transition, np.eye(K))
    assert np.array_equal(np.sort(np.r_[v.train_indices, v.holdout_indices]), np.arange(TRAIN_Y.size))
    assert not np.array_equal(v.holdout_indices, view(holdout={"size": 50}, data_seed=1).holdout_indices)


def test_class_without_training_examples_gets_identity_row():
    v = make_view(np.repeat(np.arange(K - 1), 50), TEST_Y, K, view_spec({"noise": NOISES["uniform"]}))
    np.testing.assert_array_equal(v.transition[K - 1], np.eye(K)[K - 1])
    np.testing.assert_allclose(v.transition.sum(axis=1), 1.0)


# --- noise kinds --------------------------------------------------------------------------------

def test_uniform_flips_exactly_rate_to_other_classes():
    v = view(noise={"kind": "uniform", "rate": 0.4})
    n = TRAIN_Y.size
    assert v.noisy_mask.sum() == round(0.4 * n) and v.noise_rate == round(0.4 * n) / n
    assert (v.transition[np.eye(K, dtype=bool)] < 1).all()
    shift = (v.train_labels - v.true_labels)[v.noisy_mask] % K  # uniform over 1 .. K-1
    np.testing.assert_allclose(np.bincount(shift, minlength=K)[1:] / shift.size, 1 / (K - 1), atol=0.03)


def test_uniform_incl_keeps_the_true_class_about_one_in_k():
    v = view(noise={"kind": "uniform_incl", "rate": 0.5})
    selected = v.summary["n_selected"]
    assert selected == round(0.5 * TRAIN_Y.size)
    kept = selected - v.noisy_mask.sum()
    assert kept / selected == pytest.approx(1 / K, abs=0.02)
    assert v.noise_rate == pytest.approx(0.5 * (K - 1) / K, abs=0.01)


def test_background_goes_to_the_background_class():
    v = view(noise={"kind": "background", "rate": 0.4, "background_class": 3})
    assert (v.train_labels[v.noisy_mask] == 3).all()
    assert v.summary["n_selected"] == round(0.4 * TRAIN_Y.size)
    # The chosen examples that were already of class 3 stay clean.
    assert v.noise_rate == pytest.approx(0.4 * (1 - (TRAIN_Y == 3).mean()), abs=0.01)
    assert v.transition[3, 3] == 1


def test_pair_flips_each_class_to_the_next():
    v = view(noise={"kind": "pair", "rate": 0.3})
    np.testing.assert_array_equal(v.train_labels[v.noisy_mask], (v.true_labels[v.noisy_mask] + 1) % K)
    per_class = np.bincount(v.true_labels[v.noisy_mask], minlength=K)
    np.testing.assert_array_equal(per_class, np.round(0.3 * np.bincount(TRAIN_Y)))
    np.testing.assert_allclose(np.diag(np.roll(v.transition, -1, axis=1)), 0.3, atol=0.002)


@pytest.mark.parametrize("rate", [0.0, 1.0])
def test_rate_at_the_ends(rate):
    assert view(noise={"kind": "uniform", "rate": rate}).noise_rate == rate


def test_alpha_100_on_mnist_sized_labels():
    train_y = shuffled_labels(6000)  # 60000 labels
    v = make_view(train_y, TEST_Y, K, view_spec({"noise": {"kind": "alpha", "alpha": 100}}))
    n, copies = train_y.size, 100 * train_y.size
    assert v.train_indices.shape == v.train_labels.shape == (n + copies,)
    assert (v.summary["alpha"], v.summary["n_clean"], v.summary["n_copies"]) == (100, n, copies)
    blocks = v.train_labels.reshape(n, 101)
    np.testing.assert_array_equal(v.train_indices.reshape(n, 101), np.repeat(np.arange(n)[:, None], 101, axis=1))
    np.testing.assert_array_equal(blocks[:, 0], train_y)  # each image first appears with its clean label
    np.testing.assert_allclose(np.bincount(blocks[:, 1:].ravel(), minlength=K) / copies, 1 / K, atol=0.002)
    assert v.noise_rate == pytest.approx(100 / 101 * (K - 1) / K, abs=0.002)


def test_alpha_zero_is_the_clean_set():
    v = view(noise={"kind": "alpha", "alpha": 0})
    np.testing.assert_array_equal(v.train_labels, TRAIN_Y)
    assert v.noise_rate == 0 and v.summary["n_copies"] == 0


def test_changing_the_noise_keeps_the_holdout_and_subsets():
    runs = [dict(train_subset=2000, test_subset=500, holdout={"size": 10, "per_class": True}, validation="test:100",
                 noise=noise) for noise in ({"kind": "none"}, NOISES["uniform"], NOISES["alpha"])]
    a, *others = (view(**run) for run in runs)
    for b in others:
        for name in ("holdout_indices", "val_indices", "test_indices"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        np.testing.assert_array_equal(np.unique(a.train_indices), np.unique(b.train_indices))


# --- holdout, subsets, validation -----------------------------------------------------------------

def test_holdout_per_class_is_clean_and_kept_out_of_training():
    v = view(holdout={"size": 10, "per_class": True}, noise=NOISES["uniform"])
    np.testing.assert_array_equal(np.bincount(v.holdout_labels, minlength=K), 10)
    np.testing.assert_array_equal(v.holdout_labels, TRAIN_Y[v.holdout_indices])
    assert not np.intersect1d(v.holdout_indices, v.train_indices).size
    assert v.train_indices.size + v.holdout_indices.size == TRAIN_Y.size


def test_holdout_fraction_is_stratified():
    v = view(holdout={"size": 0.2})
    assert v.holdout_indices.size == round(0.2 * TRAIN_Y.size)
    np.testing.assert_allclose(np.bincount(v.holdout_labels), 0.2 * np.bincount(TRAIN_Y), atol=1)


def test_holdout_count_is_balanced():
    assert np.bincount(view(holdout={"size": 100}).holdout_labels, minlength=K).tolist() == [10] * K


def test_validation_from_the_holdout():
    v = view(holdout={"size": 10, "per_class": True}, validation="holdout")
    assert v.val_source == "train"
    np.testing.assert_array_equal(v.val_indices, v.holdout_indices)
    np.testing.assert_array_equal(v.val_labels, v.holdout_labels)


def test_validation_split_off_the_test_set():
    v = view(validation="test:200")
    assert v.val_source == "test"
    np.testing.assert_array_equal(np.bincount(v.val_labels, minlength=K), 20)
    assert not np.intersect1d(v.val_indices, v.test_indices).size
    np.testing.assert_array_equal(np.sort(np.r_[v.val_indices, v.test_indices]), np.arange(TEST_Y.size))
    np.testing.assert_array_equal(v.test_labels, TEST_Y[v.test_indices])
    assert view().val_source == "none" and view().test_indices.size == TEST_Y.size


def test_subsets_are_class_balanced():
    v = view(train_subset=1000, test_subset=300)
    np.testing.assert_array_equal(np.bincount(v.true_labels, minlength=K), 100)
    np.testing.assert_array_equal(np.bincount(v.test_labels, minlength=K), 30)
    assert np.unique(v.train_indices).size == 1000


def test_balanced_counts_pass_a_small_class_share_on():
    rng = np.random.default_rng(0)
    assert balanced_counts(np.array([2, 100, 100]), 90, rng).tolist() == [2, 44, 44]
    assert sorted(balanced_counts(np.array([5, 5, 5]), 13, rng)) == [4, 4, 5]
    assert stratified_counts(np.array([10, 20, 30]), 0.25).tolist() == [3, 5, 7]


# --- shaping ------------------------------------------------------------------------------------

def test_per_class_shaping():
    v = view(shaping={"kind": "per_class", "n": 100}, holdout={"size": 10, "per_class": True})
    np.testing.assert_array_equal(np.bincount(v.true_labels, minlength=K), 100)
    assert not np.intersect1d(v.holdout_indices, v.train_indices).size


def test_imbalance_keeps_and_relabels_the_classes():
    shaping = {"kind": "imbalance", "classes": [4, 9], "proportion": 0.99, "size": 400}
    v = view(shaping=shaping, holdout={"size": 5, "per_class": True})
    assert v.num_classes == 2 and v.transition.shape == (2, 2) and v.summary["source_classes"] == [4, 9]
    np.testing.assert_array_equal(np.bincount(v.true_labels), [4, 396])  # 0.99 * 400 of class 9
    np.testing.assert_array_equal(TRAIN_Y[v.train_indices], np.array([4, 9])[v.true_labels])
    np.testing.assert_array_equal(np.bincount(v.holdout_labels), [5, 5])
    np.testing.assert_array_equal(TRAIN_Y[v.holdout_indices], np.array([4, 9])[v.holdout_labels])
    # the test set keeps every example of the two classes
    np.testing.assert_array_equal(v.test_indices, np.flatnonzero(np.isin(TEST_Y, [4, 9])))
    np.testing.assert_array_equal(v.test_labels, (TEST_Y[v.test_indices] == 9).astype(int))


def test_imbalance_dominant_and_noise_in_view_classes():
    shaping = {"kind": "imbalance", "classes": [1, 2, 3], "proportion": 0.57, "size": 100, "dominant": 1}
    v = view(shaping=shaping, noise={"kind": "background", "rate": 0.2, "background_class": 2})
    counts = np.bincount(v.true_labels)
    assert counts[0] == 57 and sorted(counts[1:]) == [21, 22]  # 0.57 * 100 is 56.99999999999999 in floats
    assert set(np.unique(v.train_labels)) <= {0, 1, 2} and (v.train_labels[v.noisy_mask] == 2).all()


# --- errors -------------------------------------------------------------------------------------

@pytest.mark.parametrize("run, message", [
    ({"noise": {"kind": "uniform", "rate": 1.5}}, "noise.rate: must be a number >= 0 and <= 1; got 1.5"),
    ({"noise": {"kind": "uniform", "rate": "high"}}, "noise.rate: must be a number >= 0 and <= 1; got 'high'"),
    ({"noise": {"kind": "uniform"}}, "noise.rate: noise kind 'uniform' needs this option"),
    ({"noise": {"kind": "uniform", "rat": 0.2}},
     "noise.rat: noise kind 'uniform' has no option 'rat'; its options are: rate"),
    ({"noise": {"kind": "gaussian"}}, "noise.kind: unknown value 'gaussian'; choose one of: alpha, background"),
    ({"noise": "uniform"}, "noise: expected a mapping with a 'kind' key (one of: alpha, background"),
    ({"noise": {"kind": "alpha", "alpha": -1}}, "noise.alpha: must be an integer >= 0; got -1"),
    ({"noise": {"kind": "alpha", "alpha": 2.5}}, "noise.alpha: must be an integer >= 0; got 2.5"),
    ({"noise": {"kind": "background", "rate": 0.4, "background_class": 10}},
     "noise.background_class: must be an integer >= 0 and <= 9; got 10"),
    ({"shaping": {"kind": "per_class", "n": 1000}}, "shaping.n: 1000 per class"),
    ({"shaping": {"kind": "imbalance", "classes": [4, 42], "proportion": 0.9, "size": 100}}, "shaping.classes"),
    ({"shaping": {"kind": "imbalance", "classes": [4, 9], "proportion": 0.9, "size": 10**5}}, "shaping.size"),
    ({"shaping": {"kind": "imbalance", "classes": [4, 9], "proportion": 2, "size": 100}}, "shaping.proportion"),
    ({"shaping": {"kind": "imbalance", "classes": [4, 9], "proportion": .9, "size": 9, "dominant": 3}},
     "shaping.dominant"),
    ({"holdout": {"size": 1.5}}, "holdout.size: 1.5"),
    ({"holdout": {"size": 0.2, "per_class": True}}, "holdout.size"),
    ({"holdout": {"size": 1000, "per_class": True}}, "holdout.size: 1000 per class"),
    ({"holdout": {"sizes": 10}}, "holdout.sizes"),
    ({"train_subset": 10**6}, "train_subset: 1000000 is more than"),
    ({"test_subset": 0}, "test_subset: must be an integer >= 1; got 0"),
    ({"validation": "val"}, "validation: unknown value 'val'"),
    ({"validation": "holdout"}, "validation: 'holdout' needs a clean holdout"),
    ({"validation": "test:1000"}, "validation: 'test:1000' must leave some test examples"),
    ({"data_seed": -1}, "data_seed: must be an integer >= 0; got -1"),
])
def test_bad_spec_names_the_key(run, message):
    with pytest.raises(UserError, match="^" + re.escape(message)):
        view(**run)


def test_bad_labels_and_keys():
    with pytest.raises(UserError, match="train labels"):
        make_view(np.array([0, 1, 10]), TEST_Y, K, view_spec({}))
    with pytest.raises(UserError, match="^model: not a view key"):
        make_view(TRAIN_Y, TEST_Y, K, {"model": {}})


# --- storage ------------------------------------------------------------------------------------

def test_save_load_round_trip(tmp_path):
    v = view(noise=NOISES["pair"], holdout={"size": 10, "per_class": True}, validation="test:100")
    save_view(tmp_path / "view.npz", v)
    assert_views_equal(v, load_view(tmp_path / "view.npz"))
    assert '"n_noisy"' in view_summary_json(v)

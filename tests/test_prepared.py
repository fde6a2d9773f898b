"""Prepared datasets: the harness's own files carry a record (size, sha256) and are checked when
loaded; a damaged one is named and rebuilt by the next workflow run; a file the harness did not
write is never overwritten, by the workflow or by the prepare command."""

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import smoke_config, snakemake
from robustrepro.data import load_prepared, prepare
from robustrepro.data.prepared import record_path, vet_prepared
from robustrepro.errors import UserError
from robustrepro.files import file_digest

DATASET = "synthetic-mnist"


def _build(workdir):
    """Prepare the synthetic dataset with the real workflow; its path."""
    target = workdir / "prepared" / f"{DATASET}.npz"
    proc = snakemake(workdir, smoke_config(workdir), str(target))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return target


def _assert_same(a, b):
    assert a.name == b.name and a.classes == b.classes
    for key in ("train_x", "train_y", "test_x", "test_y"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))


def _users_npz(path):
    # A user's own MNIST in the Keras layout, the kind that was overwritten without a word.
    rng = np.random.default_rng(0)
    np.savez(path, x_train=rng.integers(0, 256, (8, 28, 28), dtype=np.uint8), y_train=np.arange(8))
    return path.read_bytes()


@pytest.mark.slow
def test_truncated_prepared_file_is_moved_aside_and_rebuilt_by_the_next_run(tmp_path):
    target = _build(tmp_path)
    original = load_prepared(target)
    with open(target, "r+b") as f:
        f.truncate(target.stat().st_size // 2)

    proc = snakemake(tmp_path, smoke_config(tmp_path), str(target))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"prepared dataset {target} is damaged" in proc.stderr
    assert target.with_name(target.name + ".corrupt").is_file()
    _assert_same(load_prepared(target), original)


@pytest.mark.slow
def test_damaged_bytes_are_one_line_naming_the_file_and_the_next_run_rebuilds_it(tmp_path):
    target = _build(tmp_path)
    original = load_prepared(target)
    raw = bytearray(target.read_bytes())
    middle = len(raw) // 2
    raw[middle:middle + 64] = bytes(255 - b for b in raw[middle:middle + 64])  # same size: only the digest tells
    target.write_bytes(raw)
    assert vet_prepared(target, DATASET) is None  # the vetting does not hash

    with pytest.raises(UserError) as err:
        load_prepared(target)
    message = str(err.value)
    assert "\n" not in message and str(target) in message and "damaged" in message
    assert f"moved it aside to {target.name}.corrupt" in message
    assert not target.exists() and target.with_name(target.name + ".corrupt").read_bytes() == raw

    proc = snakemake(tmp_path, smoke_config(tmp_path), str(target))
    assert proc.returncode == 0, proc.stderr[-3000:]
    _assert_same(load_prepared(target), original)


def _drop_record(target, how):
    """A file of the harness without its record: a kill between the two writes, or an older robustrepro's."""
    original = load_prepared(target)
    record_path(target).unlink()
    if how == "older format":  # what save_prepared wrote before records: the same arrays, no marker
        np.savez(target, name=np.array(original.name), train_x=original.train_x, train_y=original.train_y,
                 test_x=original.test_x, test_y=original.test_y, classes=np.array(original.classes))
    return original


@pytest.mark.slow
@pytest.mark.parametrize("how", ["record lost", "older format"])
def test_harness_file_without_a_record_is_kept_and_recorded_when_it_loads(tmp_path, how):
    target = _build(tmp_path)
    original = _drop_record(target, how)
    before = target.stat().st_mtime_ns

    # Not rebuilt: a newer prepared file would make Snakemake redo every view and run made from it.
    proc = snakemake(tmp_path, smoke_config(tmp_path), str(target))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert target.stat().st_mtime_ns == before and not record_path(target).exists()

    _assert_same(load_prepared(target), original)
    record = json.loads(record_path(target).read_text())
    assert (record["size"], record["sha256"]) == (target.stat().st_size, file_digest(target))


@pytest.mark.slow
def test_harness_file_without_a_record_that_fails_to_read_is_moved_aside_and_rebuilt(tmp_path):
    target = _build(tmp_path)
    original = _drop_record(target, "record lost")
    raw = bytearray(target.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # inside train_x: only its zip CRC-32 tells
    target.write_bytes(raw)

    with pytest.raises(UserError) as err:
        load_prepared(target)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"prepared dataset {target} is damaged (BadZipFile: Bad CRC-32 for file 'train_x.npy')")
    assert not target.exists() and not record_path(target).exists()

    proc = snakemake(tmp_path, smoke_config(tmp_path), str(target))
    assert proc.returncode == 0, proc.stderr[-3000:]
    _assert_same(load_prepared(target), original)


@pytest.mark.slow
@pytest.mark.parametrize("name", [DATASET, "mnist"])
def test_workflow_stops_naming_a_users_file_in_the_prepared_folder_and_leaves_it(tmp_path, name):
    # The file the target would overwrite, or another dataset's path in the same folder.
    (tmp_path / "prepared").mkdir()
    users = tmp_path / "prepared" / f"{name}.npz"
    content = _users_npz(users)

    proc = snakemake(tmp_path, smoke_config(tmp_path), str(tmp_path / "prepared" / f"{DATASET}.npz"))
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.startswith("robustrepro:")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert f"{users} was not written by robustrepro" in lines[0] and "data.prepared" in lines[0]
    assert users.read_bytes() == content
    assert not record_path(users).exists()


def test_prepare_command_refuses_to_overwrite_a_users_file(tmp_path):
    users = tmp_path / f"{DATASET}.npz"
    content = _users_npz(users)
    proc = subprocess.run([sys.executable, "-m", "robustrepro", "prepare", "--dataset", DATASET, "--out", str(users)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"robustrepro prepare: error: {users} was not written by robustrepro, and preparing the dataset would "
        "overwrite it: point data.prepared (or --out) at another folder, or move the file away"]
    assert users.read_bytes() == content


def test_users_file_under_a_stale_harness_record_is_neither_moved_nor_overwritten(tmp_path):
    path = tmp_path / f"{DATASET}.npz"
    prepare(DATASET, None, path)
    content = _users_npz(path)  # copied over the harness's file, its record left behind
    for check in (lambda p: vet_prepared(p, DATASET), load_prepared, lambda p: prepare(DATASET, None, p)):
        with pytest.raises(UserError, match="was not written by robustrepro"):
            check(path)
    assert path.read_bytes() == content


def test_a_users_file_at_the_record_path_is_refused(tmp_path):
    path = tmp_path / f"{DATASET}.npz"
    prepare(DATASET, None, path)
    record_path(path).write_text('{"my": "notes"}')
    with pytest.raises(UserError, match=f"{record_path(path)} was not written by robustrepro"):
        prepare(DATASET, None, path)
    assert record_path(path).read_text() == '{"my": "notes"}'

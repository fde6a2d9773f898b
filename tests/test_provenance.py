"""What results record they were computed from: the code fingerprint, input digests, and the
provenance that model snapshots and the vectors extracted from them carry."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from robustrepro.errors import UserError
from robustrepro.files import file_digest
from robustrepro.provenance import (EVALUATION, JOBS, PACKAGE_ROOT, TRAINING, code_fingerprint, differences, input_digests,
                                    source_hash)
from robustrepro.runs import canonical_json, resolve, run_id
from robustrepro.extraction import extract_to_file
from robustrepro.selection.vectors import load_vectors
from robustrepro.training import train_run
from robustrepro.training.checkpoint import load_snapshot, snapshot_path
from toydata import save_toy, toy_data


@pytest.fixture
def package_copy(tmp_path):
    copy = tmp_path / "robustrepro"
    shutil.copytree(PACKAGE_ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def fresh_hash(root, entries=None):
    """The source hash of `root` as it is now, past the once-per-process cache."""
    return source_hash.__wrapped__(root, entries)


def test_source_hash_is_of_the_python_sources_alone(package_copy, tmp_path):
    base = fresh_hash(package_copy)
    again = tmp_path / "again"
    shutil.copytree(package_copy, again)
    assert fresh_hash(again) == base  # the content counts, not where it lies
    (package_copy / "notes.txt").write_text("not code")
    (package_copy / "__pycache__").mkdir(exist_ok=True)
    (package_copy / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    assert fresh_hash(package_copy) == base


def test_source_hash_changes_with_a_code_edit_a_new_module_or_a_rename(package_copy):
    base = fresh_hash(package_copy)
    steps = package_copy / "training" / "steps.py"
    original = steps.read_text()
    steps.write_text(original + "\nLIMIT = 1\n")
    assert fresh_hash(package_copy) != base
    steps.write_text(original)
    assert fresh_hash(package_copy) == base
    steps.rename(package_copy / "training" / "steps2.py")
    assert fresh_hash(package_copy) != base
    (package_copy / "training" / "steps2.py").rename(steps)
    (package_copy / "extra.py").write_text("X = 1\n")
    assert fresh_hash(package_copy) != base


def test_source_hash_ignores_what_cannot_change_a_number(package_copy):
    """Comments, docstrings and blank lines are not code: editing them keeps every fingerprint."""
    hashes = {entries: fresh_hash(package_copy, entries) for entries in (None, TRAINING, EVALUATION)}
    steps = package_copy / "training" / "steps.py"
    text = steps.read_text()
    first_def = text.index("\ndef ")
    steps.write_text(text[:first_def] + "\n# a comment\n\n" + text[first_def:].replace('"""', '"""Reworded. ', 1)
                     + "\n\n# the end\n")
    assert {entries: fresh_hash(package_copy, entries) for entries in hashes} == hashes


def test_a_computation_fingerprints_the_modules_it_imports(package_copy):
    """Training imports neither the report nor the paper specs: editing them leaves trained runs current,
    while an edit of what training imports (the synthetic data, a model) does not."""
    training = fresh_hash(package_copy, TRAINING)
    report = package_copy / "report" / "index.py"
    report.write_text(report.read_text() + "\nEXTRA = 1\n")
    assert fresh_hash(package_copy, TRAINING) == training and fresh_hash(package_copy) != fresh_hash(PACKAGE_ROOT)
    # A model and a method register themselves (registry.import_all imports every module of their
    # package, no import statement names them): each is part of the fingerprint all the same, as a
    # noise kind is of the view job's.
    view = fresh_hash(package_copy, JOBS["view"])
    labels = package_copy / "noise" / "labels.py"
    labels.write_text(labels.read_text() + "\nEXTRA = 1\n")
    assert fresh_hash(package_copy, JOBS["view"]) != view
    for module in ("data/synthetic.py", "models/small.py", "runs.py", "training/methods/reweight.py"):
        path = package_copy / module
        original = path.read_text()
        path.write_text(original + "\nEXTRA = 1\n")
        assert fresh_hash(package_copy, TRAINING) != training, module
        path.write_text(original)
    assert fresh_hash(package_copy, TRAINING) == training


def test_code_fingerprint_names_the_version_and_is_computed_once_per_process(package_copy):
    import robustrepro

    fingerprint = code_fingerprint(package_copy)
    assert fingerprint == {"robustrepro": robustrepro.__version__,
                           "source_sha256": fresh_hash(package_copy, TRAINING)}
    # An edit while a process runs shows in the next process, not in this one's later records.
    steps = package_copy / "training" / "steps.py"
    steps.write_text(steps.read_text() + "\nLIMIT = 1\n")
    assert code_fingerprint(package_copy) == fingerprint != {**fingerprint,
                                                             "source_sha256": fresh_hash(package_copy, TRAINING)}
    assert code_fingerprint()["source_sha256"] == source_hash(PACKAGE_ROOT, TRAINING)


def test_provenance_imports_neither_torch_nor_numpy():
    code = "import sys, robustrepro.provenance; print(sorted({'torch', 'numpy'} & set(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": str(PACKAGE_ROOT.parent)}
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          check=True).stdout.strip() == "[]"


def test_input_digests_and_differences(tmp_path):
    (tmp_path / "a").write_bytes(b"a")
    (tmp_path / "b").write_bytes(b"b")
    digests = input_digests(prepared=tmp_path / "a", view=tmp_path / "b", clustering=None)
    assert digests == {"prepared": file_digest(tmp_path / "a"), "view": file_digest(tmp_path / "b")}
    assert differences(digests, digests, "input file") == []
    with pytest.raises(UserError, match=r"^clustering file .*missing"):
        input_digests(prepared=tmp_path / "a", clustering=tmp_path / "c.npz")
    other = {**digests, "view": digests["prepared"], "clustering": "c"}
    assert differences(digests, other, "input file") == [
        "input file clustering was not recorded, is now c",
        f"input file view was {digests['view'][:12]}, is now {digests['prepared'][:12]}"]


def test_snapshots_and_extracted_vectors_record_what_the_weights_were_trained_from(tmp_path):
    prepared, view = toy_data(n_train=300, n_test=100, n_val=50)
    save_toy(tmp_path / "toy.npz", tmp_path / "view.npz", prepared, view)
    run = {"model": {"name": "mlp1", "width": 0.25}, "epochs": 2, "batch_size": 32, "snapshots": [1]}
    checkpoint = tmp_path / "run" / "last.pt"
    metrics = train_run(run, tmp_path / "toy.npz", tmp_path / "view.npz", tmp_path / "run", checkpoint,
                        device="cpu", progress=False)
    digests = input_digests(prepared=tmp_path / "toy.npz", view=tmp_path / "view.npz")

    first, final = (load_snapshot(snapshot_path(checkpoint, tag))["provenance"] for tag in (1, "final"))
    for provenance in (first, final):
        assert provenance["data"] == digests and provenance["code"] == code_fingerprint()
    assert [(s["pid"], s["first_epoch"], s["last_epoch"]) for s in first["sessions"]] == [(os.getpid(), 1, 1)]
    assert final["sessions"] == metrics["provenance"]["sessions"]

    extract_to_file([snapshot_path(checkpoint, 1), snapshot_path(checkpoint, "final")], tmp_path / "toy.npz",
                    tmp_path / "view.npz", "grad_softmax", tmp_path / "v.npy", device="cpu")
    _, meta = load_vectors(tmp_path / "v.npy")
    assert [(s["run_id"], s["epoch"]) for s in meta["snapshots"]] == [(run_id(run), 1), (run_id(run), 2)]
    assert all(s["data"] == digests and s["code"] == code_fingerprint() for s in meta["snapshots"])


def test_a_snapshot_from_before_provenance_was_recorded_still_loads(tmp_path):
    torch.save({"snapshot_format": 1, "run_json": canonical_json(resolve({})), "epoch": 3, "model": {}},
               tmp_path / "old.pt")
    state = load_snapshot(tmp_path / "old.pt")
    assert state["epoch"] == 3 and state["provenance"] is None
    assert json.loads(state["run_json"]) == resolve({})

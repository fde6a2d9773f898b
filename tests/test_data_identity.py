"""Every run trains on the data and view it asks for: a prepared file's record names its dataset (split
sizes, shape, classes, the synthetic generator's settings), a view's record the view spec and the
prepared file it was made from. A job given another dataset's file, or a view made for another spec
or from other data, stops before training with one line naming both; the workflow stops on a
prepared file holding another dataset, and sets aside (and rebuilds) damaged or outdated files."""

import dataclasses
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import smoke_config, snakemake
from robustrepro.data import load_prepared, prepare
from robustrepro.data.prepared import expected, record_path, save_prepared
from robustrepro.papers import load
from robustrepro.runs import run_id, view_id
from robustrepro.views import load_view, save_view

pytestmark = pytest.mark.slow

MNIST, FASHION = "synthetic-mnist", "synthetic-fashion-mnist"
SPEC = {"dataset": MNIST, "train_subset": 300, "noise": {"kind": "uniform", "rate": 0.5}}
RUN = {**SPEC, "model": {"name": "perceptron"}, "epochs": 1, "batch_size": 64}


def cli(*args):
    return subprocess.run([sys.executable, "-m", "robustrepro", *map(str, args)], capture_output=True, text=True,
                          timeout=600)


def one_line(proc, command):
    """The one line a command that refused its inputs printed."""
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"robustrepro {command}: error: "), proc.stderr[-3000:]
    return lines[0]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Both synthetic MNISTs prepared, a view of SPEC made by the view command, RUN trained on it."""
    folder = tmp_path_factory.mktemp("identity")
    for dataset in (MNIST, FASHION):
        prepare(dataset, None, folder / "prepared" / f"{dataset}.npz")
    view = folder / "views" / f"{view_id(SPEC)}.npz"
    proc = cli("view", "--spec", json.dumps(SPEC), "--data", folder / "prepared" / f"{MNIST}.npz", "--out", view,
               "--summary", view.with_suffix(".json"))
    assert proc.returncode == 0, proc.stderr
    proc = cli("train", "--run", json.dumps(RUN), "--data", folder / "prepared" / f"{MNIST}.npz", "--view", view,
               "--out", folder / "run", "--checkpoint", folder / "run" / "last.pt", "--device", "cpu", "--no-progress")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return folder


def commands(made, out, data, view, run=RUN):
    """Each job kind's command line on these files; its outputs go under `out`."""
    lr2 = {**run, "optimizer": {"name": "sgd", "lr": 0.5}}
    return {
        "train": ["--run", json.dumps(run), "--data", data, "--view", view, "--out", out,
                  "--checkpoint", out / "last.pt", "--device", "cpu", "--no-progress"],
        "train-pack": ["--runs", json.dumps([run, lr2]), "--data", data, "--view", view, "--runs-root", out,
                       "--checkpoints", out, "--record", out / "pack.json", "--device", "cpu"],
        "evaluate": ["--run", json.dumps(run), "--eval", "{}", "--data", data, "--view", view,
                     "--checkpoint", made / "run" / "last.pt", "--out", out / "eval.json", "--device", "cpu",
                     "--no-progress"],
        "extract": ["--checkpoint", made / "run" / "last.pt", "--snapshot", "final", "--data", data, "--view", view,
                    "--kind", "features", "--out", out / "v.npy", "--device", "cpu"],
    }


def test_records_name_the_dataset_and_the_view_spec_and_data(made):
    record = json.loads(record_path(made / "prepared" / f"{MNIST}.npz").read_text())
    assert {k: record[k] for k in expected(MNIST)} == expected(MNIST)
    assert (record["train"], record["test"], record["shape"], record["classes"]) == (3000, 500, [1, 28, 28], 10)
    assert record["synthetic"]["generator"].startswith("robustrepro-synthetic/")
    view = json.loads((made / "views" / f"{view_id(SPEC)}.json").read_text())
    assert view["spec"]["noise"] == SPEC["noise"] and view["spec"]["data_seed"] == 0 and view["spec"]["holdout"]
    assert view["prepared"] == {"dataset": MNIST, "sha256": record["sha256"]}


@pytest.mark.parametrize("command", ["train", "train-pack", "evaluate", "extract"])
def test_another_datasets_prepared_file_copied_over_stops_every_job_before_it_starts(made, tmp_path, command):
    data = tmp_path / f"{MNIST}.npz"
    shutil.copy(made / "prepared" / f"{FASHION}.npz", data)
    shutil.copy(record_path(made / "prepared" / f"{FASHION}.npz"), record_path(data))
    out = tmp_path / "out"
    line = one_line(cli(command, *commands(made, out, data, made / "views" / f"{view_id(SPEC)}.npz")[command]),
                    command)
    assert line.endswith(
        f"error: prepared dataset {data} holds {FASHION} (3000 train and 500 test images of 1x28x28, 10 classes, "
        f"synthetic), but run {run_id(RUN)} asks for {MNIST}: move it and its record {MNIST}.npz.json away, and "
        f"the workflow's prepare rule rebuilds {MNIST}")
    assert not list(out.rglob("*.pt")) and not list(out.rglob("*.json")) and not list(out.rglob("*.npy"))


def test_the_view_command_refuses_another_datasets_prepared_file(made, tmp_path):
    data = tmp_path / f"{MNIST}.npz"
    shutil.copy(made / "prepared" / f"{FASHION}.npz", data)
    shutil.copy(record_path(made / "prepared" / f"{FASHION}.npz"), record_path(data))
    line = one_line(cli("view", "--spec", json.dumps(SPEC), "--data", data, "--out", tmp_path / "v.npz", "--summary",
                        tmp_path / "v.json"), "view")
    assert f"holds {FASHION} (3000 train and 500 test images of 1x28x28, 10 classes, synthetic), but the view spec " \
           f"asks for {MNIST}" in line
    assert not (tmp_path / "v.npz").exists()


@pytest.mark.parametrize("command", ["train", "train-pack", "evaluate", "extract"])
def test_another_runs_view_stops_every_job_naming_both_specs(made, tmp_path, command):
    other = {**RUN, "noise": {"kind": "uniform", "rate": 0.2}}
    view = made / "views" / f"{view_id(SPEC)}.npz"
    args = commands(made, tmp_path / "out", made / "prepared" / f"{MNIST}.npz", view, run=other)[command]
    if command == "extract":  # its run is the snapshot's: give the snapshot another run's view instead
        proc = cli("view", "--spec", json.dumps({**SPEC, "data_seed": 1}), "--data", made / "prepared" / f"{MNIST}.npz",
                   "--out", tmp_path / "other.npz", "--summary", tmp_path / "other.json")
        assert proc.returncode == 0, proc.stderr
        args[args.index(view)] = tmp_path / "other.npz"
        line = one_line(cli(command, *args), command)
        assert (f"training view {tmp_path / 'other.npz'} was made for another view spec than run {run_id(RUN)} asks "
                "for (data_seed: 1 in the view, 0 asked): give it its own view, "
                f"{tmp_path / (view_id(RUN) + '.npz')}") in line
        return
    line = one_line(cli(command, *args), command)
    assert (f"training view {view} was made for another view spec than run {run_id(other)} asks for (noise: "
            '{"kind": "uniform", "rate": 0.5} in the view, {"kind": "uniform", "rate": 0.2} asked): give it its own '
            f"view, {view.with_name(view_id(other) + '.npz')} (the workflow's view rule builds it)") in line
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.pt"))


@pytest.mark.parametrize("command", ["train", "train-pack", "evaluate", "extract"])
def test_a_view_made_from_other_data_of_the_same_dataset_stops_every_job(made, tmp_path, command):
    data = load_prepared(made / "prepared" / f"{MNIST}.npz")
    other = tmp_path / f"{MNIST}.npz"  # the same dataset's name, other images (a changed reader, say)
    save_prepared(other, type(data)(data.name, 255 - data.train_x, data.train_y, data.test_x, data.test_y,
                                    data.classes))
    view = made / "views" / f"{view_id(SPEC)}.npz"
    line = one_line(cli(command, *commands(made, tmp_path / "out", other, view)[command]), command)
    made_from = json.loads(record_path(made / "prepared" / f"{MNIST}.npz").read_text())["sha256"]
    given = json.loads(record_path(other).read_text())["sha256"]
    assert line.endswith(f"error: training view {view} was made from other prepared data than {other} holds ({MNIST} "
                         f"of sha256 {made_from[:12]}, not {MNIST} of sha256 {given[:12]}): rebuild the view from that file "
                         "(delete it; the workflow's view rule makes it again)")


def test_a_damaged_view_is_one_line_naming_it_and_is_moved_aside(made, tmp_path):
    view = tmp_path / "view.npz"
    shutil.copy(made / "views" / f"{view_id(SPEC)}.npz", view)
    shutil.copy(made / "views" / f"{view_id(SPEC)}.json", view.with_suffix(".json"))
    _flip_a_byte(view)
    line = one_line(cli("train", *commands(made, tmp_path / "out", made / "prepared" / f"{MNIST}.npz",
                                           view)["train"]), "train")
    assert line.endswith(f"error: training view {view} is damaged (its size or sha256 differs from those in "
                         "view.json, written with it): moved it aside to view.npz.corrupt; run the workflow again "
                         "to rebuild it")
    assert not view.exists() and view.with_name("view.npz.corrupt").is_file()


def _flip_a_byte(path):
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # inside an array: the size stays, the digest and zip CRC tell
    path.write_bytes(raw)


# --- the workflow ---------------------------------------------------------------------------------

def _first_run():
    """massive-noise's first smoke run (a perceptron, no extra noise): its id and view id."""
    row = load("massive-noise").runs("smoke", [0])[0]
    return row["run_id"], view_id(row["run"])


def _build(workdir, *targets):
    proc = snakemake(workdir, smoke_config(workdir, seeds=[0], pack=False), *targets)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_workflow_stops_on_another_datasets_prepared_file_copied_over_before_any_job(tmp_path):
    rid, _ = _first_run()
    prepared = tmp_path / "prepared"
    _build(tmp_path, *(str(prepared / f"{d}.npz") for d in (MNIST, FASHION)))
    for suffix in ("", ".json"):
        shutil.copy(prepared / f"{FASHION}.npz{suffix}", prepared / f"{MNIST}.npz{suffix}")

    proc = snakemake(tmp_path, smoke_config(tmp_path, seeds=[0], pack=False), f"results/smoke/runs/{rid}/metrics.json")
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.startswith("robustrepro:")]
    assert lines == [f"robustrepro: prepared dataset {prepared / MNIST}.npz holds {FASHION} (3000 train and 500 test "
                     "images of 1x28x28, 10 classes, synthetic), but the workflow asks for synthetic-mnist: move it "
                     f"and its record {MNIST}.npz.json away, and the workflow's prepare rule rebuilds {MNIST}"], \
        proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and not (tmp_path / "results").exists()


def test_workflow_sets_a_damaged_view_aside_rebuilds_it_and_trains(tmp_path):
    rid, vid = _first_run()
    view = tmp_path / "results" / "smoke" / "views" / f"{vid}.npz"
    _build(tmp_path, str(view.relative_to(tmp_path)))
    original = load_view(view)
    _flip_a_byte(view)

    proc = _build(tmp_path, f"results/smoke/runs/{rid}/metrics.json")
    assert (f"robustrepro: training view {view.relative_to(tmp_path)} is damaged (its size or sha256 differs from "
            f"those in {vid}.json, written with it): moved it aside to {vid}.npz.corrupt; the view rule rebuilds "
            "it") in proc.stderr
    assert view.with_name(f"{vid}.npz.corrupt").is_file()
    np.testing.assert_array_equal(load_view(view).train_labels, original.train_labels)
    assert (tmp_path / "results" / "smoke" / "runs" / rid / "metrics.json").is_file()


def test_workflow_records_an_older_view_in_place_and_rebuilds_one_that_differs(tmp_path):
    rid, vid = _first_run()
    view = tmp_path / "results" / "smoke" / "views" / f"{vid}.npz"
    record = view.with_suffix(".json")
    _build(tmp_path, str(view.relative_to(tmp_path)))
    old = json.loads(record.read_text())
    older = {k: v for k, v in old.items() if k not in ("format", "file", "size", "sha256", "prepared")}
    record.write_text(json.dumps(older))  # as an older robustrepro wrote it: the same view, no sources
    before = view.stat().st_mtime_ns

    proc = _build(tmp_path, str(view.relative_to(tmp_path)))
    assert f"robustrepro: training view {view.relative_to(tmp_path)} predates view records" in proc.stderr
    assert view.stat().st_mtime_ns == before and json.loads(record.read_text()) == old  # kept: no run trains again

    changed = load_view(view)
    save_view(view, dataclasses.replace(changed, train_labels=(changed.train_labels + 1) % 10))
    record.write_text(json.dumps(older))
    proc = _build(tmp_path, str(view.relative_to(tmp_path)))
    assert (f"training view {view.relative_to(tmp_path)} has no record of what it was made from and is not the "
            "view this robustrepro makes") in proc.stderr
    assert view.with_name(f"{vid}.npz.old").is_file() and json.loads(record.read_text())["sha256"] == old["sha256"]


def test_workflow_completes_an_older_prepared_record_and_rebuilds_another_generators_file(tmp_path):
    target = tmp_path / "prepared" / f"{MNIST}.npz"
    _build(tmp_path, str(target))
    record = json.loads(record_path(target).read_text())
    record_path(target).write_text(json.dumps({k: v for k, v in record.items() if k != "synthetic"}))
    before = target.stat().st_mtime_ns

    _build(tmp_path, str(target))
    assert target.stat().st_mtime_ns == before and json.loads(record_path(target).read_text()) == record

    other = {**record, "synthetic": {**record["synthetic"], "noise_std": 30.0}}  # made by another generator
    record_path(target).write_text(json.dumps(other))
    proc = _build(tmp_path, str(target))
    assert (f"robustrepro: prepared dataset {target} is outdated (its record's synthetic differ from what this "
            f"robustrepro makes for {MNIST}): moved it aside to {MNIST}.npz.old; the prepare rule rebuilds it") \
        in proc.stderr
    assert json.loads(record_path(target).read_text()) == record

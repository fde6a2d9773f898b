"""Seed 000 (robust-clustering): the clustering spec, the extract/cluster steps, and a smoke build of all 14 targets."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from robustrepro.clusterings import check, cluster_id, vectors_id
from robustrepro.errors import UserError
from robustrepro.papers import load
from robustrepro.report.comparison import claim_histories, claims, comparison, write_comparison
from robustrepro.selection.clustering import cover_at_share
from robustrepro.selection.vectors import save_vectors
from robustrepro.selection.setcover import load_set_cover, plain_greedy_set_cover
from robustrepro.selection.neighbours import radius_neighbours
from test_report import compile_tex

SPEC = {"source": "run-a", "space": "features", "checkpoints": ["final"], "share": 0.5}


@pytest.mark.parametrize("change, message", [
    ({"space": "logits"}, "clustering.space"),
    ({"checkpoints": []}, "clustering.checkpoints"),
    ({"checkpoints": [0]}, "clustering.checkpoints"),
    ({"radius": 1.0}, "exactly one"),
    ({"share": 0}, "clustering.share"),
    ({"share": 1.5}, "clustering.share"),
    ({"source": None}, "clustering.source"),
    ({"seed": 3}, "clustering.seed: unknown key"),
])
def test_bad_clustering_specs_name_the_key(change, message):
    with pytest.raises(UserError, match=message):
        check({**SPEC, **change})


def test_ids_follow_what_defines_the_files():
    assert vectors_id(SPEC, "v1") == vectors_id({**SPEC, "share": 0.9}, "v1")  # same vectors, another cover
    assert cluster_id(SPEC, "v1") != cluster_id({**SPEC, "share": 0.9}, "v1")
    assert vectors_id(SPEC, "v1") != vectors_id(SPEC, "v2")  # the view's labels and subset change the vectors
    assert cluster_id(SPEC, "v1") == cluster_id({**SPEC, "checkpoints": ("final",)}, "v1")


@pytest.mark.parametrize("share", [1.0, 0.8, 0.3, 0.05])
def test_cover_at_share_finds_the_radius_for_the_wanted_cluster_count(share):
    points = np.random.default_rng(1).normal(size=(400, 8)).astype(np.float32)
    cover = cover_at_share(points, share)
    assert abs(cover.n_clusters - round(share * 400)) <= 2
    # It is the ordinary greedy set cover at the radius it reports.
    assert np.array_equal(cover.centres, plain_greedy_set_cover(radius_neighbours(points, cover.radius)))


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "robustrepro", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_cluster_command_writes_the_cover_and_what_it_found(tmp_path):
    vectors = np.random.default_rng(0).normal(size=(300, 4)).astype(np.float32)
    save_vectors(tmp_path / "v.npy", vectors, {"kind": "features", "checkpoints": ["x.final.pt"]})
    proc = run_cli("cluster", "--vectors", str(tmp_path / "v.npy"), "--share", "0.5", "--out", str(tmp_path / "c.npz"),
                   "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    info = json.loads((tmp_path / "c.json").read_text())
    cover = load_set_cover(tmp_path / "c.npz")
    assert info["clusters"] == cover.n_clusters and abs(cover.n_clusters - 150) <= 2
    assert info["radius"] == cover.radius and info["asked"] == {"share": 0.5}
    assert sorted(np.unique(cover.assignment)) == list(range(cover.n_clusters))

    missing = run_cli("cluster", "--vectors", str(tmp_path / "none.npy"), "--radius", "1", "--out", str(tmp_path / "d.npz"))
    assert missing.returncode == 2 and "none.npy" in missing.stderr and "Traceback" not in missing.stderr
    no_snapshot = run_cli("extract", "--checkpoint", str(tmp_path / "gone.pt"), "--snapshot", "final", "--data", "x.npz",
                          "--view", "v.npz", "--kind", "features", "--out", str(tmp_path / "f.npy"))
    assert no_snapshot.returncode == 2 and "gone.final.pt" in no_snapshot.stderr and "snapshots" in no_snapshot.stderr


def synthetic_results(paper, runs_root, scale="paper"):
    """Every group's runs as collect would list them, with made-up metrics, and a history.csv for each run
    under runs_root: acc@1 rises with the epoch, data covered is NaN in the first epoch (a warm-up)."""
    rows = {}
    for i, row in enumerate(paper.runs(scale, [0, 1])):
        acc = 0.80 + 0.001 * (i % 50) + 0.0003 * row["coords"]["seed"]  # distinct, non-round numbers
        metrics = {"test_acc1": acc, "test_acc5": 0.99, "data_covered": 0.7, "clusters": 100, "cluster_radius": 1.0}
        rows.setdefault(row["group"], []).append(
            {"group": row["group"], **row["coords"], "run_id": row["run_id"], **metrics})
        history = pd.DataFrame({"epoch": [1, 2, 3], "test_acc1": [acc - 0.2, acc - 0.1, acc],
                                "data_covered": [float("nan"), 0.5, 0.7]})
        (runs_root / row["run_id"]).mkdir(parents=True, exist_ok=True)
        history.to_csv(runs_root / row["run_id"] / "history.csv", index=False)
    return {group: pd.DataFrame(r) for group, r in rows.items()}


def test_comparison_rows_name_group_method_setting_and_selection(tmp_path):
    paper = load("robust-clustering")
    out = tmp_path / "results" / "paper" / paper.slug
    results = synthetic_results(paper, tmp_path / "results" / "paper" / "runs")
    write_comparison(paper, results, "paper", out)
    table = pd.read_csv(out / "comparison.csv", keep_default_na=False, na_values=[""])
    assert len(table) == len(paper.reported) and (table["n"] == 2).all()
    assert table["setting"].notna().all() and set(table["selection"]) == {"mean over seeds"}
    assert ((table["difference"] * 100).round(6) % 1 == 0).all()  # two decimals at most
    # Tables 2-3 report acc@5 for every row but the 39.7K one.
    acc5 = table[table["metric"] == "test_acc5"].set_index("method")["reported"]
    assert acc5.loc[["No clustering", "Grad@FC", "FC@stable", "FC@all", "SM@stable", "SM@all"]].tolist() == \
        [99.81, 99.74, 99.83, 99.80, 99.80, 99.77]
    # Table 5 and 8 rows differ by group and method, not by a note.
    for target, methods in (("table5", 4), ("table8", 2)):
        rows = table[table["target"] == target]
        assert rows["method"].nunique() == rows["group"].nunique() == methods
        assert not rows.duplicated(["group", "setting", "metric"]).any()
    # The Figure 2 claim read the histories beside the group CSVs' runs.
    claims = pd.read_csv(out / "claims.csv").set_index("claim")
    assert list(claims.index) == [c.name for c in paper.claims]
    assert "epoch 2:" in claims.loc["random-overtakes-fl", "evidence"]


def test_groups_not_built_show_as_not_run_and_their_claims_as_not_checked(tmp_path):
    paper = load("robust-clustering")
    results = synthetic_results(paper, tmp_path / "runs")
    built = {g: r for g, r in results.items() if g not in ("c10-random", "c10-pretrain")}
    table = comparison(paper, built, "paper")
    unbuilt = table[table["group"] == "c10-pretrain"]
    assert len(unbuilt) == 2 and (unbuilt["n"] == 0).all() and unbuilt["note"].str.contains("not run").all()
    assert (table.loc[table["group"] != "c10-pretrain", "n"] == 2).all()
    found = claims(paper, built, claim_histories(paper, built, "paper", tmp_path / "runs")).set_index("claim")
    assert found.loc["random-overtakes-fl", "holds"] is None  # neither holds nor fails
    assert "not checked" in found.loc["random-overtakes-fl", "evidence"]
    assert found.drop(index="random-overtakes-fl")["evidence"].str.contains("not checked").sum() == 0


@pytest.mark.slow
def test_smoke_builds_all_fourteen_targets(smoke_paper, tmp_path):
    smoke_build = smoke_paper("robust-clustering")
    paper = load("robust-clustering")
    assert sorted(t.name for t in paper.targets) == sorted([f"table{i}" for i in range(1, 9)] +
                                                           [f"figure{i}" for i in range(1, 7)])
    out = smoke_build / "results" / "smoke" / "robust-clustering"
    for name in [f"{t.name}{ext}" for t in paper.targets for ext in t.outputs()] + ["comparison.tex"]:
        assert (out / name).stat().st_size > 0, name

    # Set cover at the paper's cluster shares: the realised counts follow them.
    table1 = pd.read_csv(out / "table1.csv")
    assert list(table1["r (paper)"]) == [0.0, 1.6, 2.0]
    wanted = (table1["clusters (paper)"] / 50000 * 600).round()
    assert ((table1["clusters (ours)"] - wanted).abs() <= 6).all()
    assert table1["radius (ours)"].iloc[0] == 0 and table1["radius (ours)"].is_monotonic_increasing
    # Facility location covers at least its ratio; the full ratio covers everything.
    table4 = pd.read_csv(out / "table4.csv")
    assert (table4["data covered"] >= table4["facility ratio"] * 100 - 1e-6).all()
    assert table4.loc[table4["facility ratio"] == 1.0, "data covered"].item() == pytest.approx(100)
    # Every scheme of Table 5 trained; the paper's numbers sit beside the reproduced ones.
    table5 = pd.read_csv(out / "table5.csv")
    assert list(table5["scheme"]) == ["Full", "FL only", "Weighted only", "FL Weighted"]
    assert table5["acc@1"].between(0, 100).all() and table5["acc@1 (paper)"].notna().all()
    # FL runs train fewer steps per epoch after the decay epoch, with the lr schedule on time.
    flw = pd.read_csv(out / "groups" / "c10-flw.csv")
    history = pd.read_csv(smoke_build / "results" / "smoke" / "runs" / flw["run_id"].iloc[0] / "history.csv")
    assert list(history["lr"]) == pytest.approx([0.1, 0.1, 0.01, 0.001])
    claims = pd.read_csv(out / "claims.csv")
    assert len(claims) == len(paper.claims) and set(claims["holds"]) <= {"holds", "fails"}
    comparison = pd.read_csv(out / "comparison.csv")
    assert len(comparison) == len(paper.reported) and comparison["n"].max() == 1

    for tex in out.glob("*.tex"):
        if tex.name != "report.tex":  # a document of its own (tests/test_paper_report.py compiles it)
            (tmp_path / tex.name).write_text(tex.read_text())
    compile_tex(sorted(tmp_path.glob("*.tex")), tmp_path)

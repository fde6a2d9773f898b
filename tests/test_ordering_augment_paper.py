"""Seed 004 (ordering-augment), chapter 2: the spec at every scale (the seed's settings at paper scale,
the brute force run once, every CIFAR run from one seed and one view), the reported numbers as the
seed printed them, the tables and figures from runs' files, and the suite's smoke build of the
paper's targets and the comparison through the real snakemake. Chapter 3 (robustrepro.papers.
ordering_augment's chapter3_* modules) is tests/test_cascading_sum_paper.py."""

import json
import math

import pandas as pd
import pytest

from robustrepro.papers import load
from robustrepro.papers import ordering_augment
from robustrepro.papers.ordering_augment import chapter2_claims, chapter2_targets, reported
from robustrepro.papers.ordering_augment import chapter2_settings as oa
from robustrepro.report.targets import TargetContext
from robustrepro.runs import view_id
from robustrepro.scales import SCALES
from test_report import recording_context

PAPER = load("ordering-augment")
TARGETS = ["table2_1", "figure2_1", "figure2_2", "table2_2", "figure2_3", "table2_3", "figure2_4", "table2_4",
           "figure2_5"]
CIFAR_GROUPS = [g.name for g in oa.GROUPS if g.name != oa.PERFECT]  # chapter 2's


def runs_of(scale: str, group: str, seeds=(0,)) -> list[dict]:
    return [r for r in PAPER.runs(scale, list(seeds)) if r["group"] == group]


# ---- the spec ----

def test_the_targets_are_chapter_2s_nine_in_order_then_chapter_3s():
    assert [t.name for t in PAPER.targets] == TARGETS + [t.name for t in ordering_augment.CHAPTER3_TARGETS]
    PAPER.validate()


def test_the_brute_force_is_the_seeds_setting_run_once():
    rows = runs_of("paper", oa.PERFECT, seeds=(0, 1, 2))
    assert len(rows) == 1  # max_seeds: the seed ran it once
    run = rows[0]["run"]
    assert run["dataset"] == "mnist"
    assert run["shaping"] == {"kind": "imbalance", "classes": [0, 1], "proportion": 0.5, "size": 48}
    assert run["batch_size"] == 8 and run["epochs"] == 13  # 6 batches: 720 orderings an epoch
    assert run["orderings"] == {"keep": 12, "test_size": 2048, "loss_batch": 512}
    assert runs_of("quick", oa.PERFECT)[0]["run_id"] == rows[0]["run_id"]  # quick is the paper's experiment
    smoke = runs_of("smoke", oa.PERFECT)[0]["run"]
    assert smoke["dataset"] == "synthetic-mnist" and smoke["epochs"] == 13
    assert smoke["shaping"]["size"] // smoke["batch_size"] == 4  # 24 orderings an epoch


@pytest.mark.parametrize("group", CIFAR_GROUPS)
def test_paper_scale_cifar_settings_are_the_seeds(group):
    for row in runs_of("paper", group):
        run = row["run"]
        assert run["dataset"] == "cifar10" and run["train_subset"] is None and run["test_subset"] is None
        assert run["model"] == {"name": "preact_resnet56", "width": 1.0, "dropout": 0.0}
        assert run["optimizer"] == {"name": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True,
                                    "weight_decay": 1e-4}
        assert run["schedule"] == {"name": "step", "step_size": 30, "gamma": 0.5}
        assert run["batch_size"] == 128 and run["augment"] == {"crop": 4, "flip": True}
        assert run["epochs"] == 12 >= oa.REPORTED_EPOCHS


@pytest.mark.parametrize("scale", SCALES)
def test_every_cifar_run_shares_one_seed_and_one_view(scale):
    rows = [r for g in CIFAR_GROUPS for r in runs_of(scale, g)]
    assert {r["run"]["seed"] for r in rows} == {0}
    assert len({view_id(r["run"]) for r in rows}) == 1  # same images, same initial shuffle
    assert len({json.dumps(r["run"]["model"], sort_keys=True) for r in rows}) == 1


def test_the_candidate_counts_are_the_tables():
    def ks(scale, group):
        return sorted(r["coords"][oa.CANDIDATES] for r in runs_of(scale, group))

    assert ks("paper", oa.LOSS_ORDER) == [8, 16, 32, 64]
    assert ks("paper", oa.DELTA_SAME) == ks("paper", oa.DELTA_EXTERNAL) == [8, 16, 32]
    assert ks("smoke", oa.LOSS_ORDER) == ks("smoke", oa.DELTA_SAME) == ks("smoke", oa.DELTA_EXTERNAL) == [2]
    samplers = {g: runs_of("paper", g)[0]["run"]["sampler"] for g in CIFAR_GROUPS}
    assert samplers[oa.LOSS_ORDER]["order"] == "ascending" and samplers[oa.DESCENDING]["order"] == "descending"
    assert samplers[oa.DELTA_SAME]["score_on"] == "same"
    assert samplers[oa.DELTA_EXTERNAL]["score_on"] == "external"
    assert samplers[oa.DELTA_EXTERNAL]["external_size"] == 512
    assert sorted(r["coords"]["sampler.weighting"] for r in runs_of("paper", oa.LOSS_SAMPLE)) == ["direct", "inverse"]


def test_the_reported_numbers_are_the_seeds_tables():
    by_target = {}
    for r in PAPER.reported:
        by_target.setdefault(r.target, []).append(r)
    chapter2 = {t: len(v) for t, v in by_target.items() if t.startswith("table2")}
    assert chapter2 == {"table2_1": 13 * 5, "table2_2": 10 * 5, "table2_3": 10 * 4, "table2_4": 10 * 4}
    first = {(r.metric, r.epoch): r for r in by_target["table2_1"]}
    assert first[("test_acc1_max", 1)].value == 90.3 and first[("test_acc1_max", 1)].percent
    assert first[("test_loss_min", 13)].value == 0.126 and not first[("test_loss_min", 13)].percent
    mld = {(r.method, r.epoch): r.value for r in by_target["table2_4"]}
    assert mld[("MLD K=8", 10)] == 80.9 and mld[("baseline", 1)] == 39.26
    assert all(r.where == {oa.CANDIDATES: int(r.method.split("=")[1])} for r in by_target["table2_2"]
               if r.method != "baseline")


# ---- the builders, on runs' files ----

def _fake_runs(tmp_path, group: str, coords: list[dict], history) -> pd.DataFrame:
    """Run directories under tmp_path/runs with the history.csv that history(coords) gives."""
    rows = []
    for i, c in enumerate(coords):
        run_id = f"{group}-{i}"
        folder = tmp_path / "runs" / run_id
        folder.mkdir(parents=True)
        history(c).to_csv(folder / "history.csv", index=False)
        rows.append({"group": group, **c, "seed": 0, "run_id": run_id})
    return pd.DataFrame(rows)


def _context(tmp_path, target: str, results: dict) -> TargetContext:
    return recording_context(PAPER, target, "smoke", tmp_path, results)


def _perfect(tmp_path, epochs=13):
    def history(_):
        return pd.DataFrame([{"epoch": e, **dict(zip(reported.TABLE2_1_COLUMNS, reported.TABLE2_1[e - 1]))}
                             for e in range(1, epochs + 1)])

    results = _fake_runs(tmp_path, oa.PERFECT, [{}], history)
    rows = [{"epoch": e, "parent": -1, "order": f"{i}", "test_loss": 2.4 - 0.1 * e + 0.01 * i,
             "test_acc1": 0.7 + 0.02 * e, "kept": i == 0} for e in range(1, epochs + 1) for i in range(5)]
    pd.DataFrame(rows).to_csv(tmp_path / "runs" / f"{oa.PERFECT}-0" / "orderings.csv", index=False)
    return {oa.PERFECT: results}


def test_table2_1_sets_each_epoch_beside_the_seeds(tmp_path):
    ctx = _context(tmp_path, "table2_1", _perfect(tmp_path))
    chapter2_targets.table2_1(ctx)
    table = ctx.written["table"]
    assert list(table["epoch"]) == list(range(1, 14))
    assert table["min loss"].tolist() == table["min loss (paper)"].tolist() == [r[3] for r in reported.TABLE2_1]
    assert (tmp_path / "out" / "table2_1.tex").is_file()


@pytest.mark.parametrize("figure,epochs", [("figure2_1", (1, 2, 5, 6)), ("figure2_2", (12, 13))])
def test_the_distribution_figures_draw_every_ordering_of_their_epochs(tmp_path, figure, epochs):
    ctx = _context(tmp_path, figure, _perfect(tmp_path))
    getattr(chapter2_targets, figure)(ctx)
    data = ctx.written["figure"]
    assert sorted(data["epoch"].unique()) == list(epochs) and len(data) == 5 * len(epochs)
    assert (tmp_path / "out" / f"{figure}.png").is_file()


def test_a_missing_orderings_file_names_the_run_and_the_fix(tmp_path):
    results = _perfect(tmp_path)
    (tmp_path / "runs" / f"{oa.PERFECT}-0" / "orderings.csv").unlink()
    with pytest.raises(Exception, match="orderings.csv is missing.*delete its metrics.json"):
        chapter2_targets.figure2_1(_context(tmp_path, "figure2_1", results))


def _orderers(tmp_path, epochs=3):
    def acc(c, e):
        return 0.3 + 0.05 * e + 0.001 * c.get(oa.CANDIDATES, 0)

    results = {}
    for group in (oa.BASELINE, *oa.ORDERERS, oa.DESCENDING, oa.LOSS_SAMPLE):
        coords = [{}]
        if group in oa.ORDERERS:
            coords = [{oa.CANDIDATES: k} for k in (2, 4)]
        if group == oa.LOSS_SAMPLE:
            coords = [{"sampler.weighting": w} for w in ("direct", "inverse")]
        results[group] = _fake_runs(tmp_path, group, coords, lambda c: pd.DataFrame(
            [{"epoch": e, "train_acc": acc(c, e) + 0.1, "test_acc1": acc(c, e)} for e in range(1, epochs + 1)]))
    return results


def test_table2_2_has_the_baseline_each_k_and_the_seeds_numbers_beside(tmp_path):
    ctx = _context(tmp_path, "table2_2", _orderers(tmp_path))
    chapter2_targets.orderer_table("table2_2")(ctx)
    table = ctx.written["table"]
    assert list(table["epoch"]) == [1, 2, 3]
    assert table["Baseline"].tolist() == pytest.approx([35.0, 40.0, 45.0])
    assert table["Baseline (paper)"].tolist() == pytest.approx([39.26, 60.05, 56.16])
    assert table["MA K=2"].tolist() == pytest.approx([35.2, 40.2, 45.2])
    assert "MA K=2 (paper)" not in table  # K=2 is smoke's, not the seed's
    assert {"loss-order-descending", "loss-sample weighting=direct", "loss-sample weighting=inverse"} <= set(table)


@pytest.mark.parametrize("figure", ["figure2_3", "figure2_4", "figure2_5"])
def test_the_orderer_figures_draw_train_and_test_accuracy_per_epoch(tmp_path, figure):
    ctx = _context(tmp_path, figure, _orderers(tmp_path))
    PAPER.target(figure).build(ctx)
    data = ctx.written["figure"]
    assert "baseline" in set(data["curve"]) and {"train_acc", "test_acc1"} <= set(data)
    assert len(data["curve"].unique()) == (6 if figure == "figure2_3" else 3)


def test_total_drop_sums_the_falls_over_the_first_ten_epochs():
    paper = pd.Series([r[0] * 100 for r in reported.TABLE2_2], index=range(1, 11))
    assert chapter2_claims.total_drop(paper) == pytest.approx((60.05 - 56.16) + (73.95 - 69.26) + (77.09 - 69.26))
    assert chapter2_claims.total_drop(pd.Series([1.0, 2.0, 3.0], index=[1, 2, 3])) == 0
    assert chapter2_claims.total_drop(pd.Series([5.0] * 10 + [0.0], index=range(1, 12))) == 0  # epoch 11 is not counted


# ---- the smoke build ----

@pytest.fixture(scope="module")
def oa_smoke(smoke_paper):
    """The session's smoke build of this paper (tests/conftest.py)."""
    return smoke_paper("ordering-augment")


def _out(workdir):
    return workdir / "results" / "smoke" / "ordering-augment"


@pytest.mark.slow
def test_smoke_builds_every_target_and_the_comparison(oa_smoke):
    out = _out(oa_smoke)
    for name in [f"{t.name}{ext}" for t in PAPER.targets for ext in t.outputs()] + ["comparison.tex", "claims.csv"]:
        assert (out / name).stat().st_size > 0, name
    claims = pd.read_csv(out / "claims.csv")
    assert sorted(claims["claim"]) == sorted(c.name for c in PAPER.claims)
    assert claims["holds"].notna().all()  # every group was built, so every claim was checked


@pytest.mark.slow
def test_smoke_brute_force_trained_every_ordering_and_kept_the_kmeans_picks(oa_smoke):
    row = runs_of("smoke", oa.PERFECT)[0]
    folder = oa_smoke / "results" / "smoke" / "runs" / row["run_id"]
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["provenance"]["run"] == row["run"]
    runs = pd.read_csv(folder / "orderings.csv")
    keep, epochs = row["run"]["orderings"]["keep"], row["run"]["epochs"]
    counts = runs.groupby("epoch").size()
    assert counts.tolist() == [24] + [keep * 24] * (epochs - 1)
    assert runs[runs["epoch"] == 1]["order"].nunique() == 24  # every ordering of the 4 batches once
    assert runs.groupby("epoch")["kept"].sum().tolist()[:-1] == [keep] * (epochs - 1)
    history = pd.read_csv(folder / "history.csv")
    by_epoch = runs.groupby("epoch")
    assert history["test_acc1_max"].tolist() == pytest.approx(by_epoch["test_acc1"].max().tolist())
    assert history["test_loss_min"].tolist() == pytest.approx(by_epoch["test_loss"].min().tolist())
    comparison = pd.read_csv(_out(oa_smoke) / "comparison.csv")
    table = comparison[comparison["target"] == "table2_1"]
    mean1 = table[(table["metric"] == "test_acc1_mean") & table["setting"].notna()]
    assert mean1["reproduced"].iloc[0] == pytest.approx(round(history["test_acc1_mean"].iloc[0] * 100, 2))


@pytest.mark.slow
def test_smoke_orderer_runs_train_every_epoch_at_the_configured_candidates(oa_smoke):
    comparison = pd.read_csv(_out(oa_smoke) / "comparison.csv")
    for group in (oa.BASELINE, *oa.ORDERERS, oa.DESCENDING, oa.LOSS_SAMPLE):
        for row in runs_of("smoke", group):
            folder = oa_smoke / "results" / "smoke" / "runs" / row["run_id"]
            metrics = json.loads((folder / "metrics.json").read_text())
            assert metrics["provenance"]["run"] == row["run"]
            history = pd.read_csv(folder / "history.csv")
            assert history["epoch"].tolist() == [1, 2, 3]
            assert history["test_acc1"].between(0, 1).all()
    # Reported epochs beyond smoke's three are "not run"; the first three are compared.
    k_rows = comparison[(comparison["target"] == "table2_3") & (comparison["method"] == "baseline")]
    assert k_rows["n"].tolist() == [1, 1, 1] + [0] * 7
    assert all(math.isnan(v) for v in k_rows["reproduced"].iloc[3:])

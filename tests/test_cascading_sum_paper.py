"""Seed 004 chapter 3 (robustrepro.papers.ordering_augment's chapter3_* modules): the groups at every
scale, the reported error rates as the seed printed them, the builders on runs' files, and chapter 3's
part of the suite's one smoke build (real snakemake: cascades, evaluations with test-time sum
augmentation and attacks)."""

import json

import pandas as pd
import pytest

from robustrepro.analysis.settings import NOT_STATED, text
from robustrepro.papers.ordering_augment import chapter3_claims, chapter3_figures, chapter3_tables
from robustrepro.papers.ordering_augment import chapter3_settings as cs
from robustrepro.papers import load
from robustrepro.papers.spec import get_dotted
from robustrepro.report.comparison import comparison
from robustrepro.report.targets import TargetContext
from robustrepro.scales import SCALES
from test_report import recording_context

PAPER = load("ordering-augment")
CH3_GROUPS = [g.name for g in cs.GROUPS]


def runs_of(scale: str, group: str, seeds=(0,)) -> list[dict]:
    return [r for r in PAPER.runs(scale, list(seeds)) if r["group"] == group]


# ---- the spec ----

def test_the_cascade_tables_cover_every_subset_model_and_starting_k():
    for dataset, sizes in ((("cifar10"), (1000, 5000, 50000)), ("cifar100", (10000, 50000))):
        rows = runs_of("paper", cs.CSA[dataset])
        cells = {(r["coords"][cs.SUBSET], r["coords"][cs.MODEL], r["coords"][cs.K]) for r in rows}
        assert cells == {(s, m, k) for s in sizes for m in cs.WRNS for k in (8, 4, 2, 1)}
        assert len(rows) == len(cells)
        for row in rows:
            run = row["run"]
            assert run["dataset"] == dataset and run["step"] == {"name": "sum_augment", "k": row["coords"][cs.K]}
            assert run["cascade"]["until"] == 1 and run["early_stopping"] is None


def test_paper_scale_runs_use_the_standard_wrn_settings_stated_in_table3_0():
    for group in CH3_GROUPS:
        for row in runs_of("paper", group):
            run = row["run"]
            assert run["batch_size"] == 128 and run["augment"] == {"crop": 4, "flip": True}
            assert run["optimizer"] == {"name": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True,
                                        "weight_decay": 5e-4}
            assert run["schedule"]["name"] == "plateau" and run["schedule"]["patience_steps"] == 300
            assert run["model"]["name"] in cs.WRNS and run["model"]["width"] == 1.0
            assert "model_norm" in run["metrics"] and run["test_subset"] is None


def test_budgets_give_a_plateau_of_300_steps_and_at_least_5_epochs():
    assert cs.budget(1000) == (40 * 38, 38)  # 8 steps an epoch
    assert cs.budget(5000) == (320, 8)
    assert cs.budget(50000) == (200, 5)
    assert cs.budget(50000, share=0.5) == (100, 5)


def test_the_tta_groups_stop_at_k_2_and_are_evaluated_on_their_best_checkpoint():
    for dataset, group in cs.TTA_GROUPS.items():
        rows = runs_of("paper", group)
        assert sorted(r["coords"][cs.K] for r in rows) == sorted([8, 4, 2] * 2)
        assert all(r["run"]["cascade"]["until"] == 2 and r["run"]["train_subset"] == 50000 for r in rows)
    evaluations = [e for e in PAPER.evaluations("paper", [0]) if e["group"] == cs.TTA_GROUPS["cifar10"]]
    assert len(evaluations) == 6 and all(e["spec"]["snapshot"] == "best" for e in evaluations)
    assert evaluations[0]["spec"]["defence"] == {"name": "sum_augment", "k": 2, "weight": 1.0,
                                                 "samples": cs.TTA_SAMPLES, "average": "probabilities"}


@pytest.mark.parametrize("scale", SCALES)
def test_test_time_sum_augmentation_draws_the_authors_64_copies_in_batches_of_2048(scale):
    specs = [e["spec"] for e in PAPER.evaluations(scale, [0]) if (e["spec"]["defence"] or {}).get("name")]
    assert specs and all(s["defence"]["average"] == "probabilities" for s in specs)  # the text's average vote
    for spec in specs:
        if scale != "smoke":
            assert spec["defence"]["samples"] == 64 and spec["batch_size"] * 64 == 2048
    attacks = [e["spec"]["attack"] for e in PAPER.evaluations(scale, [0]) if e["name"] in ("pgd", "tta_pgd")]
    assert len(attacks) == 2 and not any(a["random_start"] for a in attacks)  # as the authors' code


@pytest.mark.parametrize("scale", SCALES)
def test_sum_augmentation_alone_is_the_cascades_first_phase_on_the_whole_training_set(scale):
    rows = runs_of(scale, cs.SUM_ONLY)
    assert len(rows) == 1
    run = rows[0]["run"]
    assert run["cascade"]["until"] == run["step"]["k"] and run["early_stopping"] is None
    if scale == "smoke":  # k = 2 alone: the run tta-cifar10 trains, no new one
        assert rows[0]["run_id"] in {r["run_id"] for r in runs_of(scale, cs.TTA_GROUPS["cifar10"])}
        return
    whole = cs.FULL["cifar10"] if scale == "paper" else cs.QUICK_FULL
    assert run["step"] == {"name": "sum_augment", "k": 8} and run["model"]["name"] == "wrn28_10"
    assert run["dataset"] == "cifar10" and run["train_subset"] == 10 * whole
    cascade = next(r["run"] for r in runs_of(scale, cs.CSA["cifar10"]) if r["coords"][cs.K] == 8
                   and r["coords"][cs.MODEL] == "wrn28_10" and r["coords"][cs.SUBSET] == 10 * whole)
    assert {**cascade, "cascade": {**cascade["cascade"], "until": 8}} == run  # the 8-4-2-1 cascade, cut after k = 8
    reported = [r for r in PAPER.reported if r.group == cs.SUM_ONLY]
    assert [(r.metric, r.value, r.error) for r in reported] == [("test_acc1", 49.05, False)]


@pytest.mark.parametrize("scale", SCALES)
def test_the_attacked_model_is_the_cascade_tables_baseline_wrn28_10(scale):
    attacked = runs_of(scale, cs.ATTACKED)
    assert len(attacked) == 1
    baseline = [r for r in runs_of(scale, cs.CSA["cifar10"]) if r["run_id"] == attacked[0]["run_id"]]
    assert baseline and baseline[0]["coords"][cs.K] == cs.BASELINE_K  # one run, trained once
    assert baseline[0]["coords"][cs.SUBSET] == max(r["coords"][cs.SUBSET] for r in runs_of(scale, cs.CSA["cifar10"]))
    names = {e["name"]: e["spec"] for e in PAPER.evaluations(scale, [0]) if e["group"] == cs.ATTACKED}
    assert sorted(names) == sorted([*cs.ATTACKS, *(f"tta_{a}" for a in cs.ATTACKS)])
    for attack in cs.ATTACKS:
        assert names[attack]["defence"] is None and names[f"tta_{attack}"]["defence"]["name"] == "sum_augment"
        assert names[f"tta_{attack}"]["attack"]["eot_samples"] > 1 and names[attack]["attack"]["eps"] == 8 / 255
        assert names[attack]["subset"] == names[f"tta_{attack}"]["subset"]  # clean and attacked on one subset


def test_fixed_budget_methods_report_their_best_epoch_and_never_stop_early():
    for group in (cs.GRADUAL, cs.MIXUP, cs.PAIRING):
        for row in runs_of("paper", group):
            run = row["run"]
            assert run["early_stopping"] == {"patience": run["epochs"], "metric": "test_acc1"}
    gradual = runs_of("paper", cs.GRADUAL)[0]["run"]
    assert gradual["step"]["epochs"] == round(cs.GRADUAL_SHARE * gradual["epochs"]) < gradual["epochs"]
    pairing = runs_of("paper", cs.PAIRING)[0]["run"]
    assert pairing["step"]["until_epoch"] < pairing["epochs"]  # fine-tuning on the original data at the end


def test_quick_keeps_every_table_on_small_subsets_and_narrow_wrns():
    for group in CH3_GROUPS:
        rows = runs_of("quick", group)
        assert rows, group
        for row in rows:
            assert row["run"]["model"]["width"] == 0.25 and row["run"]["test_subset"] == 2000
            assert row["coords"][cs.SUBSET] // cs.CLASSES[row["run"]["dataset"]] in (100, 500)


def test_smoke_keeps_chapter_3_to_a_few_runs():
    ids = {r["run_id"] for g in CH3_GROUPS for r in runs_of("smoke", g)}
    assert len(ids) <= 9
    evaluations = [e for e in PAPER.evaluations("smoke", [0]) if e["group"] in CH3_GROUPS]
    assert len(evaluations) == 2 + 2 * len(cs.ATTACKS)


@pytest.mark.parametrize("scale", SCALES)
def test_every_runs_coordinates_are_what_it_trains(scale):
    budget_keys = ("epochs", "cascade.patience", "early_stopping.patience", "step.epochs", "step.until_epoch")
    for group in CH3_GROUPS:
        for row in runs_of(scale, group):
            for key, value in row["coords"].items():
                if key in (cs.SUBSET, cs.MODEL, cs.K, *budget_keys):
                    assert get_dotted(row["run"], key) == value, (group, key)


def test_the_reported_numbers_are_the_seeds_error_rates():
    reported = [r for r in PAPER.reported if r.target.startswith("table3")]
    counts = pd.Series([r.target for r in reported]).value_counts().to_dict()
    assert counts == {"table3_1": 24, "table3_2": 16, "table3_4": 6, "table3_5": 12, "table3_6": 12,
                      "table3_3": 10}
    assert all(r.error for r in reported if r.target != "table3_3")
    assert not any(r.error for r in reported if r.target == "table3_3")  # printed as accuracies
    cell = next(r for r in reported if r.target == "table3_1" and r.where == {cs.SUBSET: 1000, cs.MODEL: "wrn28_10",
                                                                                 cs.K: 8})
    assert cell.value == 29.34
    PAPER.validate()


def test_an_error_rate_is_compared_with_100_minus_the_runs_accuracy():
    row = {cs.SUBSET: 1000, cs.MODEL: "wrn28_10", cs.K: 8, "epochs": 1520, "cascade.patience": 38}
    results = {cs.CSA["cifar10"]: pd.DataFrame([{"group": cs.CSA["cifar10"], **row, "seed": 0, "run_id": "a",
                                                "test_acc1": 0.70}])}
    table = comparison(PAPER, results, "paper")
    cell = table[(table["target"] == "table3_1") & (table["method"] == "8 100/class")
                 & table["setting"].str.contains("wrn28_10")].iloc[0]
    assert cell["reproduced"] == 30.0 and cell["reported"] == 29.34


# ---- the builders, on runs' files ----

def _context(tmp_path, target: str, results: dict, images=None) -> TargetContext:
    return recording_context(PAPER, target, "paper", tmp_path, results, images)


def _csa_results(errors: dict) -> pd.DataFrame:
    """csa-cifar10 rows (seed 0) with test errors errors[(per_class, model, k)] in %."""
    return pd.DataFrame([{"group": cs.CSA["cifar10"], cs.SUBSET: n * 10, cs.MODEL: m, cs.K: k, "seed": 0,
                          "run_id": f"{n}-{m}-{k}", "test_acc1": (100 - e) / 100} for (n, m, k), e in errors.items()])


def test_table3_1_sets_each_error_beside_the_seeds(tmp_path):
    errors = {(n, m, k): 10.0 + k for n in (100, 500) for m in cs.WRNS for k in (8, 4, 2, 1)}
    ctx = _context(tmp_path, "table3_1", {cs.CSA["cifar10"]: _csa_results(errors)})
    PAPER.target("table3_1").build(ctx)
    table = ctx.written["table"].set_index("starting sum groups")
    assert list(table.index) == ["8", "4", "2", "Baseline"]
    assert table.loc["Baseline", "WideResNet(40,4) 100/class"] == pytest.approx(11.0)
    assert table.loc["Baseline", "WideResNet(40,4) 100/class (paper)"] == 47.36
    assert table.loc["8", "WideResNet(28,10) 500/class (paper)"] == 13.21
    assert "WideResNet(28,10) 5000/class" not in table  # not run
    assert (tmp_path / "out" / "table3_1.tex").is_file()


def test_figure3_6_reduction_is_relative_to_the_baseline_error(tmp_path):
    csa = _csa_results({(100, "wrn28_10", 1): 40.0, (100, "wrn28_10", 4): 30.0})
    other = {g: pd.DataFrame([{"group": g, cs.SUBSET: 1000, cs.MODEL: "wrn28_10", "seed": 0, "run_id": g,
                               "test_acc1": acc}]) for g, acc in ((cs.MIXUP, 0.64), (cs.PAIRING, 0.62))}
    data = chapter3_figures.reductions({cs.CSA["cifar10"]: csa, **other}).set_index("method")
    assert data.loc["CSA k=4", "reduction"] == pytest.approx(25.0)
    assert data.loc["Mixup", "reduction"] == pytest.approx(10.0)
    assert data.loc["SamplePairing", "reduction"] == pytest.approx(5.0)
    assert data.loc["CSA k=4", "reduction (paper)"] == 30.15


def test_table3_0_states_the_settings_the_runs_train_with(tmp_path):
    ctx = _context(tmp_path, "table3_0", {})
    chapter3_tables.table3_0(ctx)
    table = ctx.written["table"].set_index("setting")["value"]
    run = runs_of("paper", cs.CSA["cifar10"])[0]["run"]
    assert table["batch size"] == text(run["batch_size"]) and table["learning rate"] == text(run["optimizer"]["lr"])
    assert table["weight decay"] == text(run["optimizer"]["weight_decay"])
    assert table["lr factor on a plateau"] == text(run["schedule"]["factor"])
    assert table["lr plateau (steps without a lower training loss)"] == text(run["schedule"]["patience_steps"])
    assert table["test-time sum augmentation copies"] == text(cs.TTA["defence"]["samples"])
    seed = ctx.written["table"].set_index("setting")["seed"]
    assert seed["batch size"] == "lost" and seed["augmentation"] == NOT_STATED
    smoke = recording_context(PAPER, "table3_0", "smoke", tmp_path / "smoke", {})  # the runs of that scale
    chapter3_tables.table3_0(smoke)
    smoke_run = runs_of("smoke", cs.CSA["cifar10"])[0]["run"]
    assert smoke.written["table"].set_index("setting").loc["batch size", "value"] == text(smoke_run["batch_size"])


def test_figure3_4_draws_the_coefficients_that_train(tmp_path):
    ctx = _context(tmp_path, "figure3_4", {})
    chapter3_figures.figure3_4(ctx)
    data = ctx.written["figure"]
    start = data[(data["g"] == 0) & (data["k"] == 4)]["coefficient"]
    assert start.tolist() == pytest.approx([0.25] * 4)
    end = data[(data["g"] == 1) & (data["k"] == 8)]["coefficient"]
    assert end.tolist() == pytest.approx([1.0] + [0.0] * 7)
    assert (tmp_path / "out" / "figure3_4.png").is_file()


def test_table3_3_reads_clean_and_attacked_accuracy_both_ways(tmp_path):
    row = {"group": cs.ATTACKED, "seed": 0, "run_id": "r", "fgsm_n": 32, "tta_fgsm_n": 32,
           "fgsm_clean_acc1": 0.9, "tta_fgsm_clean_acc1": 0.85}
    row.update({f"{a}_acc1": 0.1 for a in cs.ATTACKS})
    row.update({f"tta_{a}_acc1": 0.3 for a in cs.ATTACKS})
    ctx = _context(tmp_path, "table3_3", {cs.ATTACKED: pd.DataFrame([row])})
    chapter3_tables.table3_3(ctx)
    table = ctx.written["table"].set_index("model")
    assert table.loc["Baseline", "clean"] == pytest.approx(90.0) and table.loc["Sum-Aug", "clean"] == pytest.approx(85)
    assert table.loc["Sum-Aug", "PGD"] == pytest.approx(30.0) and table.loc["Sum-Aug", "PGD (paper)"] == 3.22
    settings = table["attacks"].iloc[0]  # as the paper-scale evaluations run them
    assert "PGD: eps 8/255, step_size 2/255, iterations 10" in settings and "EOT over 4 draws" in settings


# ---- chapter 3 in the suite's smoke build ----

@pytest.fixture
def oa_smoke(smoke_paper):
    """Chapter 3 of seed 004 is built as part of paper ordering-augment."""
    return smoke_paper("ordering-augment")


def _out(workdir):
    return workdir / "results" / "smoke" / "ordering-augment"


def _folder(workdir, row):
    return workdir / "results" / "smoke" / "runs" / row["run_id"]


@pytest.mark.slow
def test_smoke_cascades_record_their_phases_and_report_the_last_phases_best(oa_smoke):
    for row in runs_of("smoke", cs.CSA["cifar10"]) + runs_of("smoke", cs.TTA_GROUPS["cifar10"]):
        folder = _folder(oa_smoke, row)
        history = pd.read_csv(folder / "history.csv")
        metrics = json.loads((folder / "metrics.json").read_text())
        assert {"phase", "sum_groups", "restored_from_epoch", "model_norm"} <= set(history)
        k, until = row["run"]["step"]["k"], row["run"]["cascade"]["until"]
        assert history["sum_groups"].iloc[0] == k and history["sum_groups"].min() >= until
        last = history[history["phase"] == history["phase"].max()]
        assert metrics["best_epoch"] == int(last.loc[last["test_acc1"].idxmax(), "epoch"])
        assert (history["model_norm"] > 0).all()


@pytest.mark.slow
def test_smoke_tables_hold_the_evaluations_that_ran(oa_smoke):
    out = _out(oa_smoke)
    table3_3 = pd.read_csv(out / "table3_3.csv").set_index("model")
    for label, _ in cs.ATTACKS.values():
        assert table3_3[label].between(0, 100).all()
    assert table3_3["examples"].tolist() == [32, 32]
    table3_5 = pd.read_csv(out / "table3_5.csv")
    assert table3_5[["WRN (smoke) normal test", "WRN (smoke) test-time sum aug"]].notna().any().all()
    figure = pd.read_csv(out / "figure3_3.csv")
    assert sorted(figure["k"].unique()) == [2, 4, 8]
    assert all(len(members.split()) == k for k, members in zip(figure["k"], figure["train_indices"]))
    claims = pd.read_csv(out / "claims.csv")
    assert {c.name for c in chapter3_claims.CLAIMS} <= set(claims["claim"])

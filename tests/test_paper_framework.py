"""What paper packages build on: Targets, Paper.configs, scales.shrink, seed means, curves, settings tables."""

import math

import pandas as pd
import pytest

from robustrepro.analysis.curves import curve_stats, plot_band
from robustrepro.analysis.figures import new_figure
from robustrepro.analysis.settings import NOT_STATED, distinct, settings_table, text
from robustrepro.analysis.stats import seed_mean
from robustrepro.papers.spec import Paper, RunGroup, Targets
from robustrepro.runs import run_id
from robustrepro.scales import shrink


def test_a_target_is_declared_on_its_builder_with_its_kind_from_its_name():
    targets = Targets()

    @targets("table2_1", caption="A table", groups=("g",))
    def table2_1(ctx):
        return "built"

    targets.add("figure3", lambda ctx: None, "A figure", ["g", "h"], images="g")
    table, figure = targets
    assert (table.name, table.kind, table.groups, table.caption, table.build) == ("table2_1", "table", ("g",),
                                                                                  "A table", table2_1)
    assert table2_1(None) == "built"  # the decorator hands the builder back unchanged
    assert (figure.kind, figure.groups, figure.images) == ("figure", ("g", "h"), "g")
    with pytest.raises(ValueError, match="'plot1'.*'table' or 'figure'"):
        targets.add("plot1", lambda ctx: None, "no kind")


def test_paper_configs_are_the_resolved_runs_whose_ids_the_workflow_uses():
    group = RunGroup("g", {"dataset": "mnist", "model": {"name": "mlp1"}, "epochs": 3},
                     grid={"optimizer.lr": [0.1, 0.5]}, overrides={"quick": {"epochs": 1}})
    other = RunGroup("h", {"dataset": "mnist", "model": {"name": "conv4"}})
    paper = Paper("p", "p.txt", "P", groups=(group, other), targets=())
    configs = paper.configs("quick", ["g"], seeds=(0, 1))
    assert [(c["optimizer"]["lr"], c["seed"], c["epochs"]) for c in configs] == [(0.1, 0, 1), (0.1, 1, 1),
                                                                                (0.5, 0, 1), (0.5, 1, 1)]
    assert {run_id(c) for c in configs} == {r["run_id"] for r in paper.runs("quick", [0, 1]) if r["group"] == "g"}
    assert paper.configs("quick", ["h"])[0]["model"]["name"] == "conv4"


def test_shrink_scales_amounts_and_milestones_in_proportion():
    assert shrink(80000, 8000 / 80000) == 8000
    assert shrink([40000, 60000], 20 / 80000) == [10, 15]
    assert shrink(3, 0.01) == 1 and shrink(5000, 0.0001, minimum=2) == 2
    assert shrink((60, 90, 120, 160), 4 / 200) == [1, 2, 3]  # milestones that land together merge
    assert shrink(7, 1.0) == 7


def test_seed_mean_averages_over_seeds_per_key():
    runs = pd.DataFrame({"k": [1, 1, 2], "seed": [0, 1, 0], "acc": [0.5, 0.7, 0.9]})
    assert seed_mean(runs, ["k"], "acc", scale=100).round(6).to_dict() == {1: 60.0, 2: 90.0}


def test_curve_stats_give_mean_std_and_count_per_curve_and_point():
    log = pd.DataFrame({"m": ["a"] * 4 + ["b"] * 2, "seed": [0, 1, 0, 1, 0, 0], "epoch": [1, 1, 2, 2, 1, 2],
                        "acc": [0.4, 0.6, 0.7, float("nan"), 0.2, 0.3]})
    stats = curve_stats(log, ["m"], "epoch", "acc", scale=100).set_index(["m", "epoch"])
    assert stats.loc[("a", 1), "mean"] == pytest.approx(50) and stats.loc[("a", 1), "std"] == pytest.approx(14.142136)
    assert stats.loc[("a", 2), "n"] == 1 and math.isnan(stats.loc[("a", 2), "std"])  # the NaN row is not a seed
    assert list(stats.loc["b", "mean"].round(6)) == [20.0, 30.0]


def test_plot_band_draws_a_band_only_where_seeds_spread():
    fig, axes = new_figure()
    ax = axes[0, 0]
    plot_band(ax, [1, 2, 3], pd.Series([1.0, 2.0, 3.0]), pd.Series([0.1, 0.2, 0.1]), label="spread")
    plot_band(ax, [1, 2, 3], pd.Series([1.0, 2.0, 3.0]), pd.Series([float("nan")] * 3), label="one seed")
    assert [line.get_label() for line in ax.get_lines()] == ["spread", "one seed"]
    assert len(ax.collections) == 1
    band = ax.collections[0].get_paths()[0].vertices
    assert band[:, 1].min() == pytest.approx(0.9) and band[:, 1].max() == pytest.approx(3.1)


def test_a_settings_table_lines_up_the_papers_and_the_harnesss_settings():
    table = settings_table({"the seed": {"lr": "0.1", "epochs": "64"},
                            "this harness": {"lr": distinct([0.1, 0.1, 0.05]), "batch": distinct([128, 32])}})
    assert table.columns.tolist() == ["hyperparameter", "the seed", "this harness"]
    assert table.values.tolist() == [["lr", "0.1", "0.05, 0.1"], ["epochs", "64", NOT_STATED],
                                     ["batch", NOT_STATED, "32, 128"]]
    assert (text(0.0005), text(64), text(True), text("sgd")) == ("0.0005", "64", "True", "sgd")

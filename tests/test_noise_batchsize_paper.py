"""Seed 002 (noise-batchsize): the spec at every scale (Table 1's settings at paper scale, every target's
groups at every scale, the schedules' end at the paper's share of each run), table1 and figure3 from the
configs and the schedule code, and one smoke build of all 16 targets and the comparison through the
real snakemake, whose plotted numbers are the runs' own steps.csv."""

import json
import math
from types import SimpleNamespace

import pandas as pd
import pytest

from robustrepro.papers import load
from robustrepro.papers import noise_batchsize as nb
from robustrepro.scales import SCALES

PAPER = load("noise-batchsize")
SCHEDULED = {nb.MAIN["onecycle"], nb.MAIN["cosine"], nb.RATIO["onecycle"], nb.APPENDIX}
TARGETS = ["table1", *(f"figure{i}" for i in range(3, 18))]


def runs_of(scale: str, group: str, seeds=(0,)) -> list[dict]:
    return [r for r in PAPER.runs(scale, list(seeds)) if r["group"] == group]


class Ctx(SimpleNamespace):
    """What a target builder gets, for builders that read no runs (table1, figure3): the paper (whose
    resolved configs they read) and the scale."""

    def __init__(self, paper=PAPER, **kwargs):
        super().__init__(paper=paper, **kwargs)

    def table(self, frame, digits=2):
        self.written = frame

    def figure(self, fig, frame):
        import matplotlib.pyplot as plt

        plt.close(fig)
        self.written = frame


# ---- the spec ----

def test_the_targets_are_table1_and_figures_3_to_17():
    assert [t.name for t in PAPER.targets] == TARGETS
    assert PAPER.target("table1").groups == PAPER.target("figure3").groups == ()  # built from the spec alone
    assert PAPER.reported == ()  # the seed prints no numbers
    assert PAPER.claims and all(c.step_logs for c in PAPER.claims)


@pytest.mark.parametrize("group", [g.name for g in PAPER.groups])
def test_paper_scale_settings_are_the_seeds_table1(group):
    rows = runs_of("paper", group)
    cifar = group != nb.APPENDIX
    for row in rows:
        run = row["run"]
        assert run["dataset"] == ("cifar10" if cifar else "fashion-mnist")
        assert run["model"] == {"name": "resnet18" if cifar else "vgg16_bn", "width": 1.0, "dropout": 0.0}
        assert run["train_subset"] is None and run["test_subset"] is None
        assert run["epochs"] == 64 and run["iterations"] is None
        assert run["holdout"] == {"size": 0.2, "per_class": False} and run["validation"] == "holdout"
        assert run["noise"]["kind"] == "uniform_incl"
        opt = run["optimizer"]
        assert opt["name"] == "sgd" and opt["momentum"] == 0.9 and opt["weight_decay"] == 5e-4
        assert opt["nesterov"] is False and run["augment"] == {"crop": 0, "flip": False}
        schedule = run["schedule"]
        assert (schedule["name"] != "constant") == (group in SCHEDULED | {nb.MAIN["cosine"]})
        if schedule["name"] == "onecycle":  # torch 1.9.1's OneCycleLR defaults, max_lr the optimizer's lr
            assert schedule == {"name": "onecycle", "total_steps": 5000, "pct_start": 0.3, "div_factor": 25.0,
                                "final_div_factor": 1e4, "anneal_strategy": "cos", "base_momentum": 0.85,
                                "max_momentum": 0.95}
        elif schedule["name"] == "cosine":
            assert schedule == {"name": "cosine", "total_steps": 5000, "eta_min": 0.0}
        else:
            assert schedule == {"name": "constant"} and group in (nb.MAIN["constant"], nb.RATIO["constant"])
        assert run["step_log"]["metrics"] == ["batch_noise", "grad_cosine"]
    assert {r["run"]["noise"]["rate"] for r in rows} == {0.0, 0.2, 0.5}
    if group in nb.RATIO.values():
        assert {(r["run"]["batch_size"], r["run"]["optimizer"]["lr"]) for r in rows} == set(nb.RATIO_CONFIGS)
    else:
        assert sorted({r["run"]["batch_size"] for r in rows}) == [32, 64, 128, 256, 512, 1024]
        assert {r["run"]["optimizer"]["lr"] for r in rows} == {0.1}  # Table 1's lr at every batch size


def test_figure13_14_configurations_have_equal_and_different_ratios():
    ratios = {}
    for batch, lr in nb.RATIO_CONFIGS:
        ratios.setdefault(round(batch / lr, 6), []).append(batch)
    assert sorted(ratios) == [640, 1280, 2560] and sorted(ratios[1280]) == [64, 128, 256]
    assert all(len(batches) >= 2 for batches in ratios.values())
    per_batch = pd.Series([b for b, _ in nb.RATIO_CONFIGS]).value_counts()
    assert (per_batch >= 2).all()  # each batch size at two or more ratios: batch and ratio can be told apart


def test_the_ratio_claims_state_the_seeds_direction_and_their_evidence_names_the_one_found():
    from robustrepro.papers.noise_batchsize import cases

    for name, scheduler in (("higher-ratio-better-constant", "constant"),
                            ("higher-ratio-better-onecycle-clean", "onecycle")):
        claim = next(c for c in PAPER.claims if c.name == name)
        assert "with higher ratios leading to better generalization" in claim.statement
        group = nb.RATIO[scheduler]
        held, evidence = claim.evaluate(*cases.nb_logs(group, cases.ratio_cells(cases.by_ratio), ratio=True))
        assert held and "0% noise: higher B/lr better (the seed's direction)" in evidence
        held, evidence = claim.evaluate(*cases.nb_logs(group, cases.ratio_cells(cases.by_lr_over_batch), ratio=True))
        assert not held and "0% noise: lower B/lr, i.e. higher lr/B, better (Jastrzebski et al.'s direction)" in evidence


@pytest.mark.parametrize("scale, per_seed", [("paper", 96), ("quick", 72), ("smoke", 20)])
def test_every_scale_keeps_every_targets_groups_with_unique_run_ids(scale, per_seed):
    rows = PAPER.runs(scale, [0, 1])
    ids = [r["run_id"] for r in rows]
    assert len(set(ids)) == 2 * per_seed
    # A run id shared by two rows is the same config: the ratio groups' lr-0.1 runs are the main grid's.
    by_id = {}
    for row in rows:
        by_id.setdefault(row["run_id"], []).append(row)
    for shared in (rs for rs in by_id.values() if len(rs) > 1):
        assert len({json.dumps(r["run"], sort_keys=True) for r in shared}) == 1
        assert {r["group"] for r in shared} <= {*nb.MAIN.values(), *nb.RATIO.values()}
        assert all(r["run"]["optimizer"]["lr"] == 0.1 for r in shared)
    for target in PAPER.targets:
        for group in target.groups:
            runs = [r["run"] for r in rows if r["group"] == group]
            rates = {r["noise"]["rate"] for r in runs}
            assert 0.0 in rates and len(rates) >= 2, (scale, group)  # every claim compares noise levels
            assert len({r["batch_size"] for r in runs}) >= 2, (scale, group)
            assert len({r["seed"] for r in runs}) == 2
    for group in nb.RATIO.values():
        configs = pd.DataFrame([{"b": r["run"]["batch_size"], "ratio": r["run"]["batch_size"] / r["run"]["optimizer"]["lr"]}
                                for r in rows if r["group"] == group]).drop_duplicates()
        assert configs["ratio"].round(6).nunique() >= 2
        assert (configs.groupby("b").size() >= 2).any() and (configs.groupby(configs["ratio"].round(6)).size() >= 2).any()


@pytest.mark.parametrize("scale", SCALES)
def test_the_step_log_evaluates_at_every_epoch_end_and_logs_each_epoch_alike(scale):
    for group in PAPER.groups:
        experiment = nb.GROUP_EXPERIMENT[group.name]
        for row in runs_of(scale, group.name):
            run, log = row["run"], row["run"]["step_log"]
            steps = math.ceil(nb.n_train(experiment, scale) / run["batch_size"])
            assert log["eval_steps"] == steps  # the epoch's length: its evaluation is the epoch end's
            assert 1 <= log["every"] <= steps and steps / log["every"] <= nb.BUDGETS[experiment][scale].rows
            assert run["metrics"] == [] and run["eval_every"] == 1


def test_quick_ends_the_schedule_in_the_papers_epoch_at_every_batch_size():
    for experiment in nb.EXPERIMENTS:
        quick, paper = nb.BUDGETS[experiment]["quick"], nb.BUDGETS[experiment]["paper"]
        assert quick.epochs == paper.epochs == 64  # quick shrinks the data, not the epochs
        for batch in quick.batches:
            epochs = {s: nb.total_steps(experiment, s) / nb.steps_per_epoch(experiment, s, batch) for s in ("quick", "paper")}
            assert epochs["quick"] == pytest.approx(epochs["paper"], rel=0.02), (experiment, batch)
    assert nb.total_steps(nb.CIFAR, "quick") == 1280 and nb.total_steps(nb.FMNIST, "quick") == 107


def test_smoke_keeps_a_schedule_that_ends_within_the_run():
    for experiment in nb.EXPERIMENTS:
        for batch in nb.BUDGETS[experiment]["smoke"].batches:
            assert 2 <= nb.total_steps(experiment, "smoke") < nb.steps_per_epoch(experiment, "smoke", batch) * 2


def test_quick_data_is_real_and_smoke_synthetic():
    for row in PAPER.runs("quick", [0]):
        assert row["run"]["dataset"] in ("cifar10", "fashion-mnist")
    for row in PAPER.runs("smoke", [0]):
        assert row["run"]["dataset"].startswith("synthetic-") and row["run"]["epochs"] <= 2


def test_quick_fashionmnist_fits_half_an_hour_of_a_2_core_cpu():
    """The budget the module's comment gives, from what quick runs took on the 2-core CPU (VGG-16-BN at
    width 1/16, one thread: at 2,000 training and 1,500 evaluated images an epoch took 2.4-3.4 s when the
    machine was least loaded, which 700 training and 3,000 evaluated images a second reproduce, probes
    and checkpoints included), one job per core, 15 s to start each. Keeps the sizes honest when they
    change."""
    train_rate, eval_rate, start = 700, 3000, 15
    assert 2000 / train_rate + 1500 / eval_rate == pytest.approx(3.4, abs=0.1)
    total = 0.0
    for row in runs_of("quick", nb.APPENDIX, seeds=(0, 1)):
        run = row["run"]
        assert run["model"]["width"] == 0.0625 and run["dataset"] == "fashion-mnist"
        evaluated = round(run["train_subset"] * 0.2) + run["test_subset"]
        total += run["epochs"] * (nb.n_train(nb.FMNIST, "quick") / train_rate + evaluated / eval_rate) + start
    assert len(runs_of("quick", nb.APPENDIX, seeds=(0, 1))) == 18
    assert total / 2 < 25 * 60  # the rest of the 30 minutes for the data, views, targets and the comparison


# ---- table 1 and figure 3, from the configs and the schedule code ----

def test_table1_at_paper_scale_is_the_seeds_table_generated_from_the_runs_configs():
    ctx = Ctx(scale="paper")
    nb.table1(ctx)
    table = ctx.written.set_index("hyperparameter")
    seed, cifar, ratio, fmnist = table.columns
    assert seed.startswith("the seed") and all(c.endswith("paper scale") for c in (cifar, ratio, fmnist))
    expected = {"Maximum learning rate": "0.1", "Maximum epochs": "64", "Maximum scheduling steps": "5,000 (then constant)",
                "Weight decay": "0.0005", "Batch sizes": "32, 64, 128, 256, 512, 1024"}
    for item, value in expected.items():
        assert table.loc[item, cifar] == value, item
    assert table.loc["Maximum learning rate", ratio] == "0.05, 0.1, 0.2"
    assert table.loc["Learning rate per batch size", ratio] == "64: 0.05, 0.1; 128: 0.05, 0.1, 0.2; 256: 0.1, 0.2"
    assert table.loc["Learning rate per batch size", cifar] == "; ".join(f"{b}: 0.1" for b in nb.BATCH_SIZES)
    assert table.loc["Momentum", cifar] == "0.9 (one-cycle: 0.95 to 0.85 and back)"
    assert table.loc["Fraction of training dataset for validation", cifar].startswith("0.2 (40,000 train, 10,000 validate")
    assert table.loc["Fraction of training dataset for validation", fmnist].startswith("0.2 (48,000 train, 12,000 validate")
    assert table.loc["Model", fmnist].startswith("VGG-16-BN") and table.loc["Dataset", fmnist] == "FashionMNIST"
    assert table.loc["Label noise", cifar] == "uniform_incl: 0%, 20%, 50%"
    for item, value in {"Maximum learning rate": "0.1", "Maximum epochs": "64", "Maximum scheduling steps": "5000",
                        "Fraction of training dataset for validation": "0.2", "Weight decay": "0.0005"}.items():
        assert table.loc[item, seed] == value  # the seed's Table 1, as printed


def test_table1_follows_the_configs_not_constants():
    """Change a group's configs and the table changes with them: it is generated, not typed in."""
    rows = PAPER.runs("quick", [0])
    for row in rows:
        if row["group"] == nb.APPENDIX:
            row["run"] = {**row["run"], "optimizer": {**row["run"]["optimizer"], "weight_decay": 1e-3}, "epochs": 7}
    paper = SimpleNamespace(configs=lambda scale, groups, seeds=(0,): [r["run"] for r in rows if r["group"] in groups])
    ctx = Ctx(paper=paper, scale="quick")
    nb.table1(ctx)
    table = ctx.written.set_index("hyperparameter")
    fmnist = table.columns[-1]
    assert table.loc["Weight decay", fmnist] == "0.001" and table.loc["Maximum epochs", fmnist] == "7"
    assert table.loc["Weight decay", table.columns[1]] == "0.0005"
    assert table.loc["Maximum scheduling steps", fmnist] == "107 (then constant)"


def test_table1_and_the_empty_comparison_compile_with_pdflatex(tmp_path):
    from robustrepro.report.comparison import write_comparison
    from robustrepro.report.targets import TargetContext
    from test_report import compile_tex

    ctx = TargetContext(PAPER, PAPER.target("table1"), "paper", tmp_path / "table1", tmp_path / "runs", {})
    nb.table1(ctx)
    write_comparison(PAPER, {}, "quick", tmp_path)  # no numbers reported, and no group built: "not checked"
    claims = pd.read_csv(tmp_path / "claims.csv")
    assert len(claims) == len(PAPER.claims) and set(claims["holds"]) == {"not checked"}
    compile_tex([tmp_path / "table1.tex", tmp_path / "comparison.tex"], tmp_path)


def test_figure3_draws_the_schedule_code_at_three_batch_sizes():
    ctx = Ctx(scale="paper")
    nb.figure3(ctx)
    data = ctx.written
    assert sorted(data["scheduler"].unique()) == ["constant", "cosine", "onecycle"]
    assert sorted(data["batch_size"].unique()) == [32, 256, 1024]

    def at(scheduler, batch, step):
        rows = data[(data["scheduler"] == scheduler) & (data["batch_size"] == batch)]
        return rows.iloc[(rows["step"] - step).abs().argmin()]

    # Batch 32 (80,000 steps): annealed by step 5,000, then constant; batch 1024 (2,560 steps) never gets there.
    assert at("onecycle", 32, 80000)["lr"] == pytest.approx(0.1 / 25 / 1e4)
    assert at("onecycle", 32, 80000)["momentum"] == pytest.approx(0.95)
    assert at("onecycle", 32, 1500)["lr"] == pytest.approx(0.1, rel=1e-3)  # the peak, at 30 % of 5,000 steps
    assert at("onecycle", 32, 1500)["momentum"] == pytest.approx(0.85, rel=1e-3)
    last_1024 = data[(data["scheduler"] == "onecycle") & (data["batch_size"] == 1024)].iloc[-1]
    assert last_1024["step"] == 2560 and 0.07 < last_1024["lr"] < 0.09
    ends = data.groupby(["scheduler", "batch_size"])["schedule_end_epoch"].first()
    assert ends["onecycle", 32] == 4.0 and ends["cosine", 1024] == 125.0 and pd.isna(ends["constant", 256])
    assert at("cosine", 32, 80000)["lr"] == pytest.approx(0.0, abs=1e-12)
    assert at("cosine", 32, 80000)["momentum"] == 0.9 and at("constant", 256, 100)["lr"] == 0.1


# ---- the smoke build ----

@pytest.fixture
def nb_smoke(smoke_paper):
    """The session's smoke build of this paper (tests/conftest.py)."""
    return smoke_paper("noise-batchsize")


def _out(workdir):
    return workdir / "results" / "smoke" / "noise-batchsize"


def _steps(workdir, row) -> pd.DataFrame:
    return pd.read_csv(workdir / "results" / "smoke" / "runs" / row["run_id"] / "steps.csv")


@pytest.mark.slow
def test_smoke_builds_all_16_targets_and_the_comparison_from_the_runs(nb_smoke):
    out = _out(nb_smoke)
    for name in [f"{t.name}{ext}" for t in PAPER.targets for ext in t.outputs()] + ["comparison.tex", "claims.csv"]:
        assert (out / name).stat().st_size > 0, name
    for row in PAPER.runs("smoke", [0]):
        metrics = json.loads((nb_smoke / "results" / "smoke" / "runs" / row["run_id"] / "metrics.json").read_text())
        run = row["run"]
        assert metrics["provenance"]["run"] == run
        log = _steps(nb_smoke, row)
        # One evaluation per epoch, at its last step (so the epoch end reuses it), none elsewhere.
        evals = log.dropna(subset=["val_acc1"])
        spe = run["step_log"]["eval_steps"]
        assert evals["step"].tolist() == [spe * e for e in range(1, run["epochs"] + 1)]
        assert metrics["steps_done"] == spe * run["epochs"]
        cosine = log.dropna(subset=["grad_cosine"])
        assert len(cosine) and (cosine["step"] % run["step_log"]["every"] == 0).all()
        if run["noise"]["rate"] == 0:
            assert cosine["grad_cosine"].to_numpy() == pytest.approx(1.0, abs=1e-5)  # every example clean: equal up to float32 rounding
    found = pd.read_csv(out / "claims.csv")
    assert found["claim"].tolist() == [c.name for c in PAPER.claims]
    assert set(found["holds"]) <= {"holds", "fails"}  # every claim checked at smoke scale
    assert pd.read_csv(out / "comparison.csv").empty  # no reported numbers


@pytest.mark.slow
@pytest.mark.parametrize("target, column", [("figure4", "val_acc1"), ("figure7", "grad_cosine"),
                                            ("figure10", "batch_noisy_acc"), ("figure15", "val_acc1"),
                                            ("figure16", "grad_cosine"), ("figure17", "batch_noisy_acc")])
def test_smoke_figures_plot_the_runs_steps_csv(nb_smoke, target, column):
    data = pd.read_csv(_out(nb_smoke) / f"{target}.csv")
    group = PAPER.target(target).groups[0]
    scale = nb.METRIC_SCALE[column]
    assert {"noise_rate", "batch_size", "step", "epoch", "time_s", column, f"{column}_std", "n"} <= set(data.columns)
    rates = {0.0, 0.5} if column != "batch_noisy_acc" else {0.5}  # no noisy example at 0 %
    assert set(data["noise_rate"]) == rates and set(data["batch_size"]) == {32, 128}
    for row in runs_of("smoke", group):
        run = row["run"]
        if run["noise"]["rate"] not in rates:
            continue
        log = _steps(nb_smoke, row).dropna(subset=[column])
        if column != "val_acc1":
            log = log[log["step"] % run["step_log"]["every"] == 0]
        plotted = data[(data["noise_rate"] == run["noise"]["rate"]) & (data["batch_size"] == run["batch_size"])]
        assert plotted["step"].tolist() == log["step"].tolist()
        assert plotted[column].tolist() == pytest.approx((log[column] * scale).tolist())
        assert plotted["time_s"].tolist() == pytest.approx(log["time_s"].tolist())


@pytest.mark.slow
def test_smoke_ratio_figures_label_each_configuration_with_its_ratio(nb_smoke):
    for target, group in (("figure13", nb.RATIO["onecycle"]), ("figure14", nb.RATIO["constant"])):
        data = pd.read_csv(_out(nb_smoke) / f"{target}.csv")
        configs = set(zip(data["batch_size"], data["lr"], data["batch_lr_ratio"]))
        assert configs == {(b, lr, round(b / lr, 6)) for b, lr in nb.SMOKE_RATIO_CONFIGS}
        row = [r for r in runs_of("smoke", group) if r["run"]["optimizer"]["lr"] == 0.4][0]
        log = _steps(nb_smoke, row).dropna(subset=["val_acc1"])
        plotted = data[(data["lr"] == 0.4) & (data["noise_rate"] == row["run"]["noise"]["rate"])]
        assert plotted["val_acc1"].tolist() == pytest.approx((log["val_acc1"] * 100).tolist())


@pytest.mark.slow
def test_smoke_table1_and_figure3_are_what_the_runs_trained_with(nb_smoke):
    out = _out(nb_smoke)
    table = pd.read_csv(out / "table1.csv").set_index("hyperparameter")
    trained = {}
    for row in PAPER.runs("smoke", [0]):
        path = nb_smoke / "results" / "smoke" / "runs" / row["run_id"] / "metrics.json"
        trained.setdefault(row["group"], []).append(json.loads(path.read_text())["provenance"]["run"])
    for column, groups in zip(table.columns[1:], nb.TABLE1_COLUMNS.values()):
        configs = [c for g in groups for c in trained[g]]
        assert table.loc["Batch sizes", column] == ", ".join(map(str, sorted({c["batch_size"] for c in configs})))
        assert table.loc["Maximum epochs", column] == str(configs[0]["epochs"])
        steps = sorted({c["schedule"]["total_steps"] for c in configs if "total_steps" in c["schedule"]})
        assert table.loc["Maximum scheduling steps", column] == ", ".join(map(str, steps)) + " (then constant)"
        assert f"width {configs[0]['model']['width']:g}" in table.loc["Model", column]
    # figure3's one-cycle curve at batch 32 is the lr and momentum the run used at each logged step.
    curve = pd.read_csv(out / "figure3.csv")
    row = [r for r in runs_of("smoke", nb.MAIN["onecycle"]) if r["run"]["batch_size"] == 32][0]
    log = _steps(nb_smoke, row).set_index("step")
    drawn = curve[(curve["scheduler"] == "onecycle") & (curve["batch_size"] == 32)].set_index("step")
    common = drawn.index.intersection(log.index)
    assert len(common) >= 3
    assert drawn.loc[common, "lr"].to_numpy() == pytest.approx(log.loc[common, "lr"].to_numpy())
    assert drawn.loc[common, "momentum"].to_numpy() == pytest.approx(log.loc[common, "momentum"].to_numpy())

"""Tables, figures, comparison and claims on small fixture results (no training)."""

import os
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from robustrepro.papers import load
from robustrepro.report.comparison import claims, comparison, write_comparison
from robustrepro.analysis.stats import best_over, mean_std
from robustrepro.report.tables import write_table
from robustrepro.report.targets import TargetContext

PAPER = load("massive-noise")
MODELS = ["perceptron", "mlp1", "mlp2", "mlp4", "conv4"]


def fake_grid(acc, best_lr, alphas=(0, 50, 100), seeds=(0, 1)) -> pd.DataFrame:
    """A results table shaped like the alpha grid: val/test accuracy from acc(model, alpha) at best_lr(...)."""
    rows = []
    for m in MODELS:
        for a in alphas:
            for lr in (0.01, 0.05, 0.1, 0.5):
                for s in seeds:
                    good = lr == best_lr(m, a)
                    base = acc(m, a) - (0 if good else 0.05)
                    rows.append({"group": "alpha-grid", "model.name": m, "noise.alpha": a, "optimizer.lr": lr,
                                 "seed": s, "run_id": f"{m}-{a}-{lr}-{s}", "val_acc1": base + 0.001 * s,
                                 "test_acc1": base - 0.001 * s})
    return pd.DataFrame(rows)


SIZE = {"perceptron": 0, "mlp1": 1, "mlp2": 2, "mlp4": 3, "conv4": 4}


def paper_like(m, a):  # falls with alpha, less for bigger models
    return 0.99 - a * (0.004 - 0.0008 * SIZE[m])  # conv4: 91 % at alpha 100, as reported


def lr_falls(m, a):
    return 0.5 if a == 0 else 0.05


def test_best_over_selects_on_validation_not_test():
    df = pd.DataFrame({"m": ["a"] * 4, "lr": [0.1, 0.1, 0.5, 0.5], "seed": [0, 1, 0, 1],
                       "val_acc1": [0.9, 0.9, 0.8, 0.8], "test_acc1": [0.7, 0.7, 0.95, 0.95]})
    best = best_over(df, "lr", keys=["m"])
    assert set(best["lr"]) == {0.1} and len(best) == 2


def test_mean_std_over_seeds():
    df = pd.DataFrame({"k": [1, 1, 2], "x": [0.5, 0.7, 0.9]})
    out = mean_std(df, ["k"], "x", scale=100)
    assert out.loc[0, "mean"] == pytest.approx(60) and out.loc[0, "std"] == pytest.approx(np.std([50, 70], ddof=1))
    assert out.loc[0, "n"] == 2 and np.isnan(out.loc[1, "std"])


def test_comparison_carries_reported_and_reproduced():
    table = comparison(PAPER, {"alpha-grid": fake_grid(paper_like, lr_falls)}, "paper")
    row = table.iloc[0]
    assert row["reported"] == 91.0 and row["n"] == 2 and row["scale"] == "paper"
    expected = paper_like("conv4", 100) * 100 - 0.05  # mean of the two seeds (test = base - 0.001 * seed)
    assert row["reproduced"] == pytest.approx(expected, abs=0.01)
    assert row["difference"] == pytest.approx(row["reproduced"] - 91.0)
    assert row["std"] > 0
    # Which runs the number comes from, and how it was chosen among them.
    assert row["group"] == "alpha-grid" and row["setting"] == "name=conv4, alpha=100"
    assert row["selection"] == "best lr on validation, then mean over seeds"
    # Two decimals, as the paper prints them; the difference is of the numbers shown.
    for column in ("reproduced", "std", "difference"):
        assert row[column] == round(row[column], 2)
    assert list(table.columns)[:6] == ["target", "group", "method", "setting", "selection", "metric"]


def test_comparison_says_when_a_setting_was_not_run():
    table = comparison(PAPER, {"alpha-grid": fake_grid(paper_like, lr_falls, alphas=(0, 10))}, "quick")
    assert table.iloc[0]["n"] == 0 and "not run at quick scale" in table.iloc[0]["note"]


def test_claims_hold_on_paper_like_numbers():
    found = claims(PAPER, {"alpha-grid": fake_grid(paper_like, lr_falls)}).set_index("claim")["holds"]
    assert found.all(), found


def test_claims_fail_when_the_numbers_contradict_them():
    def rising(m, a):  # accuracy grows with alpha; the perceptron is the most robust
        return 0.5 + a * 0.001 * (5 - SIZE[m])

    def lr_rises(m, a):
        return 0.01 if a == 0 else 0.5

    found = claims(PAPER, {"alpha-grid": fake_grid(rising, lr_rises)}).set_index("claim")["holds"]
    assert not found["accuracy-falls"]
    assert not found["larger-more-robust"]
    assert not found["best-lr-falls"]
    collapsed = claims(PAPER, {"alpha-grid": fake_grid(lambda m, a: 0.99 - a * 0.008, lr_falls)})
    assert not collapsed.set_index("claim")["holds"]["conv4-high"]


def test_figures_write_pdf_png_and_plotted_numbers(tmp_path):
    results = {"alpha-grid": fake_grid(paper_like, lr_falls)}
    for name in ("figure1", "figure2"):
        target = PAPER.target(name)
        ctx = TargetContext(PAPER, target, "paper", tmp_path / name, tmp_path, results)
        target.build(ctx)
        for ext in (".pdf", ".png", ".csv"):
            assert (tmp_path / f"{name}{ext}").stat().st_size > 0
    fig1 = pd.read_csv(tmp_path / "figure1.csv")
    assert len(fig1) == len(MODELS) * 3
    assert set(fig1.loc[fig1["alpha"] == 0, "best_lr"]) == {0.5}
    fig2 = pd.read_csv(tmp_path / "figure2.csv")
    assert set(fig2.loc[fig2["alpha"] == 100, "best_lr"]) == {0.05}


def test_a_target_with_images_gets_the_prepared_dataset(tmp_path):
    from robustrepro.data.prepared import save_prepared
    from robustrepro.errors import UserError
    from robustrepro.papers.spec import Paper, RunGroup, Target
    from robustrepro.analysis.figures import new_figure
    from robustrepro.report.targets import build_target

    from toydata import toy_data

    seen = {}

    def figure1(ctx):
        seen["images"] = ctx.images()
        fig, _ = new_figure()
        ctx.figure(fig, pd.DataFrame({"images": [len(seen["images"].train_x)]}))

    paper = Paper("tiny", "x.txt", "Tiny", (RunGroup("g", {"dataset": "mnist"}),),
                  (Target("figure1", "figure", (), figure1, "f", images="g"),
                   Target("figure2", "figure", (), figure1, "f")))
    prepared = toy_data(n_train=20, n_test=10, n_val=0)[0]
    save_prepared(tmp_path / "toy.npz", prepared)
    build_target(paper, "figure1", "paper", tmp_path, tmp_path / "runs", tmp_path / "toy.npz")
    assert np.array_equal(seen["images"].train_x, prepared.train_x) and seen["images"].classes == prepared.classes
    with pytest.raises(UserError, match="target figure1: its images were not given; pass --images"):
        build_target(paper, "figure1", "paper", tmp_path, tmp_path / "runs")
    with pytest.raises(UserError, match=r"target figure2: reads no images; declare Target\(images=<run group>\)"):
        build_target(paper, "figure2", "paper", tmp_path, tmp_path / "runs", tmp_path / "toy.npz")


def _pdflatex():
    exe = shutil.which("pdflatex")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("pdflatex is missing: .ci/run installs texlive; CI must compile the tables")
        pytest.skip("pdflatex not installed (apt-get install texlive-latex-recommended)")
    return exe


def compile_tex(tex_files, tmp_path):
    body = "\n".join(f"\\input{{{f.name}}}" for f in tex_files)
    doc = tmp_path / "doc.tex"
    doc.write_text("\\documentclass{article}\n\\usepackage[utf8]{inputenc}\n\\usepackage{booktabs}\n"
                   "\\usepackage{textcomp}\n\\begin{document}\n" + body + "\n\\end{document}\n")
    proc = subprocess.run([_pdflatex(), "-interaction=nonstopmode", "-halt-on-error", doc.name], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert (tmp_path / "doc.pdf").stat().st_size > 0


def test_generated_tables_compile_with_pdflatex(tmp_path):
    results = {"alpha-grid": fake_grid(paper_like, lr_falls)}
    write_comparison(PAPER, results, "paper", tmp_path)
    write_table(pd.DataFrame({"model_name": ["a&b", "c_d"], "acc %": [91.234, 12.5], "note": ["x ± 1", "#2"]}),
                tmp_path / "table1", "Escaping: 100% of _ & # are fine")
    assert "\\toprule" in (tmp_path / "table1.tex").read_text()
    compile_tex([tmp_path / "comparison.tex", tmp_path / "table1.tex"], tmp_path)


def test_step_logs_stack_every_runs_steps_csv_and_name_a_missing_one(tmp_path):
    from robustrepro.errors import UserError
    from robustrepro.report.results import histories

    results = pd.DataFrame({"run_id": ["a", "b"], "optimizer.lr": [0.1, 0.5], "seed": [0, 0]})
    for run, loss in (("a", 1.0), ("b", 2.0)):
        (tmp_path / run).mkdir()
        pd.DataFrame({"step": [10, 20], "batch_loss": [loss, loss / 2]}).to_csv(tmp_path / run / "steps.csv",
                                                                                index=False)
    stacked = histories(results, tmp_path, ["optimizer.lr"], "steps.csv")
    assert stacked["step"].tolist() == [10, 20, 10, 20]
    assert stacked["batch_loss"].tolist() == [1.0, 0.5, 2.0, 1.0]
    assert stacked["optimizer.lr"].tolist() == [0.1, 0.1, 0.5, 0.5]
    (tmp_path / "b" / "steps.csv").unlink()
    with pytest.raises(UserError, match=r"b/steps.csv is missing: run b wrote no steps.csv \(give the run a step_log"):
        histories(results, tmp_path, ["optimizer.lr"], "steps.csv")


def _per_epoch_paper(**reported):
    from robustrepro.papers.spec import Paper, Reported, RunGroup, Target

    return Paper("tiny", "x.txt", "Tiny", (RunGroup("g", {"dataset": "mnist"}, grid={"optimizer.lr": [0.1, 0.5]}),),
                 (Target("table1", "table", ("g",), lambda ctx: None, "t"),),
                 reported=(Reported("table1", "g", {"optimizer.lr": 0.1}, "test_loss", 2.393, **reported),))


def test_a_number_printed_for_one_epoch_is_read_from_that_epochs_history_row():
    paper = _per_epoch_paper(epoch=2, percent=False)
    runs = pd.DataFrame([{"group": "g", "optimizer.lr": lr, "seed": s, "run_id": f"{lr}-{s}", "test_loss": 9.0}
                         for lr in (0.1, 0.5) for s in (0, 1)])
    history = pd.DataFrame([{"epoch": e, "optimizer.lr": lr, "seed": s, "test_loss": e + lr + 0.0002 * s}
                            for e in (1, 2, 3) for lr in (0.1, 0.5) for s in (0, 1)])
    row = comparison(paper, {"g": runs}, "paper", histories={"g": history}).iloc[0]
    # Epoch 2 of the lr 0.1 runs, mean over seeds; a loss is not scaled to %, and keeps three decimals.
    assert row["reproduced"] == 2.1 and row["n"] == 2 and row["difference"] == round(2.1 - 2.393, 3)
    assert row["selection"] == "after epoch 2 (history.csv), mean over seeds"
    late = comparison(_per_epoch_paper(epoch=5, percent=False), {"g": runs}, "paper", histories={"g": history})
    assert late.iloc[0]["n"] == 0 and "not run at paper scale" in late.iloc[0]["note"]  # no epoch 5
    with pytest.raises(ValueError, match="histories of group g"):
        comparison(paper, {"g": runs}, "paper")


@pytest.mark.parametrize("epoch", [0, 1.5, True, "2"])
def test_a_reported_epoch_must_be_a_positive_integer(epoch):
    from robustrepro.errors import UserError

    with pytest.raises(UserError, match="epoch="):
        _per_epoch_paper(epoch=epoch).validate()


def test_an_error_rate_is_compared_as_100_minus_the_accuracy():
    from robustrepro.errors import UserError
    from robustrepro.papers.spec import Paper, Reported, RunGroup, Target

    def paper(**flags):
        return Paper("tiny", "x.txt", "Tiny", (RunGroup("g", {"dataset": "mnist"}),),
                     (Target("table1", "table", ("g",), lambda ctx: None, "t"),),
                     reported=(Reported("table1", "g", {}, "test_acc1", 31.19, **flags),))

    runs = pd.DataFrame([{"group": "g", "seed": s, "run_id": str(s), "test_acc1": acc}
                         for s, acc in ((0, 0.70), (1, 0.68))])
    row = comparison(paper(error=True), {"g": runs}, "paper").iloc[0]
    assert row["reproduced"] == 31.0 and row["difference"] == round(31.0 - 31.19, 2)
    assert comparison(paper(), {"g": runs}, "paper").iloc[0]["reproduced"] == 69.0  # an accuracy as before
    with pytest.raises(UserError, match="error=True and percent=False"):
        paper(error=True, percent=False).validate()


def recording_context(paper, target: str, scale: str, tmp_path, results: dict, images=None):
    """A TargetContext for `target` that writes under tmp_path/out and keeps what its builder wrote
    in ctx.written["table"] / ["figure"] (the figure's data)."""
    from robustrepro.report.targets import TargetContext

    written = {}

    class Recording(TargetContext):
        def table(self, table, digits=2):
            written["table"] = table
            super().table(table, digits)

        def figure(self, fig, data):
            written["figure"] = data
            super().figure(fig, data)

    ctx = Recording(paper, paper.target(target), scale, tmp_path / "out" / target, tmp_path / "runs", results,
                    images)
    ctx.written = written
    return ctx


def _seed_paper(**claim_options):
    from robustrepro.papers.spec import Claim, Paper, RunGroup

    def above_half(results):
        mean = results["g"]["x"].mean()
        return bool(mean > 0.5), f"mean x {mean:.2f}"

    def once(results):
        return bool(results["h"]["x"].mean() > 0.5), "h"

    groups = (RunGroup("g", {"dataset": "mnist"}), RunGroup("h", {"dataset": "mnist"}, max_seeds=1))
    return Paper("p", "p.txt", "P", groups=groups, targets=(),
                 claims=(Claim("above-half", "x above one half", above_half, **claim_options),
                         Claim("once", "h above one half", once)))


SEED_RESULTS = {"g": pd.DataFrame({"seed": [0, 1, 2], "x": [0.9, 0.9, 0.1]}),
                "h": pd.DataFrame({"seed": [0], "x": [0.9]})}


def test_a_verdict_says_on_how_many_seeds_alone_it_holds():
    found = claims(_seed_paper(), SEED_RESULTS).set_index("claim")
    assert found.loc["above-half", "holds"] and found.loc["above-half", "seeds"] == "2 of 3"
    assert found.loc["once", "seeds"] == "1 of 1"  # seeds 1 and 2 never ran group h: not counted
    assert set(found["finding"]) == {"the paper's"}


def test_a_claim_with_min_seeds_fails_when_too_few_seeds_hold_it():
    found = claims(_seed_paper(min_seeds=3), SEED_RESULTS).set_index("claim")
    assert not found.loc["above-half", "holds"]
    assert "holds on 2 seeds' runs alone; the claim needs 3" in found.loc["above-half", "evidence"]
    assert claims(_seed_paper(min_seeds=2), SEED_RESULTS).set_index("claim").loc["above-half", "holds"]


def test_an_extension_is_marked_in_claims_csv_and_the_index(tmp_path):
    from robustrepro.report.index import write_index

    paper = _seed_paper(extension=True)
    found = claims(paper, SEED_RESULTS).set_index("claim")
    assert found.loc["above-half", "finding"] == "extension (not in the paper)"
    assert found.loc["once", "finding"] == "the paper's"
    out = tmp_path / "smoke" / "index.md"
    (tmp_path / "smoke" / "p").mkdir(parents=True)
    shown = found.reset_index().assign(holds=lambda f: f["holds"].map({True: "holds", False: "fails"}))
    shown.to_csv(tmp_path / "smoke" / "p" / "claims.csv", index=False)
    write_index([paper], "smoke", out)
    text = out.read_text()
    assert "- **holds**, on 2 of 3 seeds alone: x above one half *Extension, not in the paper.* (mean x 0.63)" in text
    assert "- **holds**, on 1 of 1 seeds alone: h above one half (h)" in text


def test_a_reported_ratio_is_reproduced_seed_by_seed_and_a_printed_spread_is_shown():
    from robustrepro.papers.spec import Paper, Reported, RunGroup, Target

    group = RunGroup("g", {"dataset": "mnist"}, grid={"step.name": ["weighted", "reweight"]})
    targets = (Target("figure5", "figure", ("g",), lambda ctx: None, "curves"),)
    paper = Paper("p", "p.txt", "P", groups=(group,), targets=targets, reported=(
        Reported("figure5", "g", {"step.name": "reweight"}, "test_acc1", 3.0, over={"step.name": "weighted"},
                 percent=False),
        Reported("figure5", "g", {"step.name": "weighted"}, "test_acc1", 67.97, spread=0.62)))
    paper.validate(scales=["smoke"])
    runs = pd.DataFrame({"step.name": ["weighted", "reweight"] * 2, "seed": [0, 0, 1, 1],
                         "test_acc1": [0.2, 0.5, 0.1, 0.4]})
    ratio, plain = comparison(paper, {"g": runs}, "smoke").to_dict("records")
    assert ratio["reproduced"] == 3.25 and ratio["n"] == 2 and ratio["std"] == pytest.approx(1.061, abs=1e-3)
    assert ratio["metric"] == "test_acc1 ratio" and "over the mean at name=weighted" in ratio["selection"]
    assert np.isnan(ratio["reported_std"]) and plain["reported_std"] == 0.62 and plain["reproduced"] == 15.0
    bad = Paper("p", "p.txt", "P", groups=(group,), targets=targets, reported=(
        Reported("figure5", "g", {"step.name": "reweight"}, "test_acc1", 3.0, over={"step.name": "weighted"}),))
    with pytest.raises(Exception, match="over=.*percent=False"):
        bad.validate(scales=["smoke"])


def test_a_reported_error_reduction_reads_another_groups_baseline_seed_by_seed():
    from robustrepro.papers.spec import Paper, Reported, RunGroup, Target

    groups = (RunGroup("csa", {"dataset": "mnist"}, grid={"sampler.k": [1, 4]}), RunGroup("mixup", {"dataset": "mnist"}))
    targets = (Target("figure3_6", "figure", ("csa", "mixup"), lambda ctx: None, "reductions"),)
    paper = Paper("p", "p.txt", "P", groups=groups, targets=targets, reported=(
        Reported("figure3_6", "mixup", {}, "test_acc1", 13.5, over={"sampler.k": 1}, over_group="csa", reduction=True),
        Reported("figure3_6", "csa", {"sampler.k": 4}, "test_acc1", 30.15, over={"sampler.k": 1}, reduction=True)))
    paper.validate(scales=["smoke"])
    csa = pd.DataFrame({"sampler.k": [1, 4, 1, 4], "seed": [0, 0, 1, 1], "test_acc1": [0.6, 0.7, 0.5, 0.8]})
    mixup = pd.DataFrame({"seed": [0, 1], "test_acc1": [0.64, 0.55]})
    mix, cas = comparison(paper, {"csa": csa, "mixup": mixup}, "smoke").to_dict("records")
    # seed 0: errors 0.36 / 0.40 -> 10 %; seed 1: 0.45 / 0.50 -> 10 %
    assert mix["reproduced"] == 10.0 and mix["n"] == 2 and mix["metric"] == "test_acc1 error reduction"
    assert "csa: k=1" in mix["selection"]
    assert cas["reproduced"] == 42.5  # seed 0: 1 - 0.3 / 0.4 = 25 %; seed 1: 1 - 0.2 / 0.5 = 60 %
    for bad in ({"percent": False}, {"over": None}, {"over_group": "nope"}):
        wrong = Reported("figure3_6", "mixup", {}, "test_acc1", 13.5, **{"over": {"sampler.k": 1}, "over_group": "csa",
                                                                        "reduction": True, **bad})
        with pytest.raises(Exception, match="reduction|over"):
            Paper("p", "p.txt", "P", groups=groups, targets=targets, reported=(wrong,)).validate(scales=["smoke"])


def test_results_kept_from_other_code_are_marked_in_the_claims_and_the_index(tmp_path):
    """Runs kept across a code change (`--rerun-triggers mtime input`) say so beside every verdict."""
    from robustrepro.provenance import code_fingerprint
    from robustrepro.report.index import write_index

    paper = load("massive-noise")
    current = code_fingerprint()["source_sha256"][:16]
    grid = fake_grid(paper_like, lr_falls)
    out = tmp_path / "smoke" / "massive-noise"
    write_comparison(paper, {"alpha-grid": grid.assign(code=current)}, "smoke", out)
    assert "code" not in pd.read_csv(out / "claims.csv").columns  # this checkout's code: nothing to say
    kept = grid.assign(code=[current] * (len(grid) - 3) + ["0123456789abcdef"] * 3)
    write_comparison(paper, {"alpha-grid": kept}, "smoke", out)
    claims_csv = pd.read_csv(out / "claims.csv")
    assert set(claims_csv["code"]) == {f"3 of {len(grid)} runs made by other code than this checkout's"}
    write_index([paper], "smoke", tmp_path / "smoke" / "index.md")
    assert f"**Made by other code**: 3 of {len(grid)} runs" in (tmp_path / "smoke" / "index.md").read_text()

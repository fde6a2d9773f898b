"""A paper page's latest-run part, written from a build's files (robustrepro.report.latest_run)."""

import json

import pandas as pd
import pytest

from robustrepro.errors import UserError
from robustrepro.papers import load
from robustrepro.report.latest_run import BEGIN, END, write_sections

PAPER = load("massive-noise")


def fake_build(workdir):
    """What a quick build of massive-noise leaves that the part reads: claims, comparison, one group's
    CSV and its runs' metrics.json, and every file of figure1 (figure2 not built)."""
    folder = workdir / "results" / "quick" / PAPER.slug
    (folder / "groups").mkdir(parents=True)
    pd.DataFrame({"claim": ["accuracy-falls", "larger-more-robust", "cifar-claim"],
                  "statement": ["s1", "s2", "s3"], "finding": ["f1", "f2", "f3"],
                  "holds": ["holds", "fails", "not checked"], "seeds": ["2 of 2", "0 of 2", ""],
                  "evidence": ["acc 96.5 -> 88.8", "a | b", ""]}).to_csv(folder / "claims.csv", index=False)
    pd.DataFrame({"target": ["figure1", "figure2"], "method": ["conv4", "conv4"], "setting": ["alpha=10", "cifar"],
                  "metric": ["test_acc1", "test_acc1"], "reported": [91.0, 80.0], "reproduced": [88.8123, None],
                  "std": [0.4, None], "n": [2, 0], "difference": [-2.19, None],
                  "note": ["best lr", "not run"]}).to_csv(folder / "comparison.csv", index=False)
    group = PAPER.groups[0].name
    pd.DataFrame({"run_id": ["r0", "r1"], "seed": [0, 1]}).to_csv(folder / "groups" / f"{group}.csv", index=False)
    for rid in ("r0", "r1"):
        (workdir / "results" / "quick" / "runs" / rid).mkdir(parents=True)
        (workdir / "results" / "quick" / "runs" / rid / "metrics.json").write_text(json.dumps({"provenance": {
            "code": {"robustrepro": "0.1", "source_sha256": "ab" * 32},
            "sessions": [{"device": "cpu (x86_64, 1 threads)", "host": "box", "torch": "2.13", "python": "3.11"}]}}))
    for ext in PAPER.target("figure1").outputs():
        (folder / f"figure1{ext}").write_text("x")


def page(root, middle="old numbers\n"):
    path = root / "docs" / "papers" / f"{PAPER.slug}.md"
    path.parent.mkdir(parents=True)
    path.write_text(f"# massive-noise\n\nwritten by hand\n\n{BEGIN}\n{middle}{END}\n\nthe spec's part\n")
    return path


def test_the_part_is_the_builds_claims_numbers_and_records_and_nothing_else_changes(tmp_path):
    fake_build(tmp_path / "build")
    path = page(tmp_path)
    assert write_sections(tmp_path, [PAPER], tmp_path / "build", "quick", note="a test build") == [path]
    text = path.read_text()
    head, part = text.split(BEGIN)
    part, tail = part.split(END)
    assert head == "# massive-noise\n\nwritten by hand\n\n" and tail == "\n\nthe spec's part\n"
    assert "old numbers" not in part and part.startswith("\n## Latest run: quick scale, ")
    assert "a test build. " in part and "seeds 0, 1" in part and "cpu (x86_64, 1 threads) on box" in part
    assert "robustrepro 0.1, code abababababab" in part and "torch 2.13, Python 3.11" in part
    assert "Targets built: figure1; not built there: figure2." in part
    assert "| figure1  | conv4    | alpha=10  | test_acc1 |         91 |        88.81 |   0.4 |   2 |        -2.19 | best lr |" in part
    assert "figure2 " not in part and "1 more of the paper's numbers is not reproduced by this build" in part
    assert "(2 checked, 1 not checked for want of data)" in part
    assert "| accuracy-falls     | holds     | 2 of 2" in part and "a \\| b" in part and "cifar-claim" not in part
    assert write_sections(tmp_path, [PAPER], tmp_path / "build", "quick", note="a test build") == []


def test_a_paper_the_build_did_not_compare_keeps_its_page(tmp_path):
    fake_build(tmp_path / "build")  # massive-noise's files only
    built_page = page(tmp_path)
    other = tmp_path / "docs" / "papers" / "reweight.md"
    other.write_text(f"# reweight\n{BEGIN}\nold\n{END}\n")
    assert write_sections(tmp_path, [PAPER, load("reweight")], tmp_path / "build", "quick") == [built_page]
    assert other.read_text() == f"# reweight\n{BEGIN}\nold\n{END}\n"


def test_a_folder_that_holds_no_build_is_one_error_naming_it(tmp_path):
    page(tmp_path)
    with pytest.raises(UserError, match=f"{tmp_path / 'nothing'}: no results/quick/<paper>/claims.csv there"):
        write_sections(tmp_path, [PAPER], tmp_path / "nothing", "quick")
    fake_build(tmp_path / "build")
    with pytest.raises(UserError, match="no results/smoke/<paper>/claims.csv there"):
        write_sections(tmp_path, [PAPER], tmp_path / "build", "smoke")


def test_a_page_without_the_markers_is_one_error_naming_it(tmp_path):
    fake_build(tmp_path / "build")
    path = tmp_path / "docs" / "papers" / f"{PAPER.slug}.md"
    path.parent.mkdir(parents=True)
    path.write_text("# massive-noise\n")
    with pytest.raises(UserError, match=f"{path}: no generated part.*latest-run"):
        write_sections(tmp_path, [PAPER], tmp_path / "build", "quick")


def test_every_paper_page_has_its_latest_run_part():
    from robustrepro.papers import all_papers
    from robustrepro.report.paper_pages import page_path

    from conftest import ROOT

    for paper in all_papers():
        text = page_path(ROOT, paper.slug).read_text()
        assert text.count(BEGIN) == 1 and text.count(END) == 1 and text.index(BEGIN) < text.index(END), paper.slug

"""The documentation: docs/ builds as a site in strict mode (a broken link or anchor, or a page left
out of the navigation, fails), every paper page's generated part is what the paper's spec gives, and
the run counts are the `robustrepro counts` command's output."""

import os
import subprocess
import sys

import pytest

from conftest import ROOT

from robustrepro.papers import all_papers
from robustrepro.report.counts import counts, markdown
from robustrepro.report.paper_pages import BEGIN, END, generated, page_path, rewrite


def _build(tmp_path, config):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d",
                           str(tmp_path / "site")], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)


def test_the_site_builds_strictly_with_every_page_in_the_navigation(tmp_path):
    proc = _build(tmp_path, ROOT / "mkdocs.yml")
    assert proc.returncode == 0, proc.stderr[-3000:]
    for page in ROOT.joinpath("docs").rglob("*.md"):
        built = tmp_path / "site" / page.relative_to(ROOT / "docs").with_suffix("")
        html = built.parent / "index.html" if page.stem == "index" else built / "index.html"
        assert html.is_file(), f"{page} was not built"


@pytest.mark.slow
def test_a_broken_link_or_a_page_missing_from_the_navigation_fails_the_build(tmp_path):
    """The strictness the first test relies on: a copy of docs/ with a dead link, and one with a page
    the navigation leaves out, both fail."""
    import shutil

    for breakage in ("link", "page"):
        copy = tmp_path / breakage
        shutil.copytree(ROOT / "docs", copy / "docs")
        config = (ROOT / "mkdocs.yml").read_text()
        if breakage == "link":
            page = copy / "docs" / "index.md"
            page.write_text(page.read_text() + "\nSee [nowhere](no-such-page.md).\n")
        else:
            (copy / "docs" / "orphan.md").write_text("# A page the navigation does not list\n")
        (copy / "mkdocs.yml").write_text(config)
        proc = _build(copy, copy / "mkdocs.yml")
        assert proc.returncode != 0, breakage
        assert ("no-such-page.md" if breakage == "link" else "orphan.md") in proc.stderr


@pytest.mark.parametrize("paper", all_papers(), ids=lambda p: p.slug)
def test_each_paper_page_has_the_generated_part_of_its_spec(paper):
    path = page_path(ROOT, paper.slug)
    text = path.read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1, f"{path}: keep one generated part"
    assert rewrite(text, generated(paper), path) == text, "regenerate it: python -m robustrepro paper-pages"


def test_the_generated_part_names_every_target_and_claim_of_the_paper():
    for paper in all_papers():
        block = generated(paper)
        assert all(f"| {t.name} |" in block for t in paper.targets)
        assert all(f"| {c.name} |" in block for c in paper.claims)
        assert f"| {paper.slug} |" not in block  # the counts drop the paper column on its own page


def test_the_run_counts_are_the_count_commands_output():
    """Run counts and time estimates come from the specs, never typed by hand."""
    page = ROOT.joinpath("docs", "running.md").read_text()
    block = page.split("<!-- counts: the output of `python -m robustrepro counts` -->\n", 1)[1]
    block = block.split("<!-- end counts -->", 1)[0]
    assert block == markdown(counts(all_papers())), "paste the output of `python -m robustrepro counts` there"

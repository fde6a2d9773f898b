"""The examples of the README and of the documentation pages run as written: every `--config`
example dry-runs. (The recipes of docs/extending.md run in tests/test_docs_extending.py; the
counts of docs/running.md and the paper pages' generated parts are checked in tests/test_docs_site.py.)"""

import re

import pytest

from conftest import ROOT

README_LINES = 300
PAGES = [ROOT / "README.md", *sorted(ROOT.joinpath("docs").rglob("*.md"))]


def _config_examples() -> list[list[str]]:
    """Every `--config key=value ...` of the README and the docs, as its entries (the paper_modules one
    needs its module on PYTHONPATH: the recipe's own test runs it)."""
    found = [[t.strip("'") for t in m.group(1).split()]
             for page in PAGES
             for m in re.finditer(r"--config((?:\s+'?[A-Za-z_][\w.]*=[^\s`'\\]+'?)+)", page.read_text())]
    return sorted({tuple(entries) for entries in found if not any(e.startswith("paper_modules=") for e in entries)})


@pytest.mark.slow
@pytest.mark.parametrize("entries", _config_examples(), ids=" ".join)
def test_every_config_example_of_the_readme_and_docs_dry_runs(entries, tmp_path):
    from conftest import smoke_config, snakemake

    proc = snakemake(tmp_path, smoke_config(tmp_path, seeds=None), "-n", "--config", *entries)
    assert proc.returncode == 0, (entries, proc.stderr[-3000:])
    assert "robustrepro plan" in proc.stdout + proc.stderr


def test_there_are_config_examples_to_check():
    assert len(_config_examples()) >= 5


def test_the_readme_stays_short_and_links_every_docs_page():
    readme = ROOT.joinpath("README.md").read_text()
    assert len(readme.splitlines()) <= README_LINES, "move detail into a page under docs/"
    for page in ROOT.joinpath("docs").glob("*.md"):
        if page.name != "index.md":
            assert f"(docs/{page.name}" in readme, f"the README links no docs/{page.name}"
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert ROOT.joinpath(link).is_file(), f"README links {link}, which is not there"

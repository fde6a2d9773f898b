"""The README's recipes work as written: "Adding a method" (the file registers its step, a run trains
with it, and the grid line puts it beside the baseline) and "Adding a paper" (a paper module of one's
own builds its table, comparison and claims through paper_modules)."""

import re

import pytest

from conftest import ROOT


def test_the_readme_counts_are_the_count_commands_output():
    """Run counts and time estimates come from the specs, never typed by hand."""
    from robustrepro.papers import all_papers
    from robustrepro.report.counts import counts, markdown

    readme = ROOT.joinpath("README.md").read_text()
    block = readme.split("<!-- counts: the output of `python -m robustrepro counts` -->\n", 1)[1]
    block = block.split("<!-- end counts -->", 1)[0]
    assert block == markdown(counts(all_papers())), "paste the output of `python -m robustrepro counts` into the README"


def _config_examples() -> list[list[str]]:
    """Every `--config key=value ...` of the README, as its entries (the paper_modules one needs its
    module on PYTHONPATH: the recipe's own test runs it)."""
    text = ROOT.joinpath("README.md").read_text()
    found = [[t.strip("'") for t in m.group(1).split()]
             for m in re.finditer(r"--config((?:\s+'?[A-Za-z_][\w.]*=[^\s`'\\]+'?)+)", text)]
    return sorted({tuple(entries) for entries in found if not any(e.startswith("paper_modules=") for e in entries)})


@pytest.mark.slow
@pytest.mark.parametrize("entries", _config_examples(), ids=" ".join)
def test_every_config_example_of_the_readme_dry_runs(entries, tmp_path):
    from conftest import smoke_config, snakemake

    proc = snakemake(tmp_path, smoke_config(tmp_path, seeds=None), "-n", "--config", *entries)
    assert proc.returncode == 0, (entries, proc.stderr[-3000:])
    assert "robustrepro plan" in proc.stdout + proc.stderr


def test_the_readme_has_config_examples_to_check():
    assert len(_config_examples()) >= 5

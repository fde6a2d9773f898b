"""Each paper's report, as a reader sees it: the smoke build's report.pdf, rendered page by page."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from robustrepro.papers import MODULES, load

pytestmark = pytest.mark.slow


def _tools():
    missing = [tool for tool in ("pdflatex", "pdftoppm") if shutil.which(tool) is None]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{', '.join(missing)} missing: .ci/run installs texlive and poppler-utils")
        pytest.skip(f"{', '.join(missing)} not installed here")


@pytest.mark.parametrize("slug", list(MODULES))
def test_every_papers_report_has_a_page_for_each_target_and_no_blank_page(slug, smoke_paper, tmp_path):
    _tools()
    folder = smoke_paper(slug) / "results" / "smoke" / slug
    tex = (folder / "report.tex").read_text()
    paper = load(slug)
    for target in paper.targets:  # every target is built at smoke scale, each with its caption
        assert (f"\\input{{{target.name}.tex}}" if target.kind == "table" else f"{{{target.name}.pdf}}") in tex
    assert "The paper's claims checked" in tex and "What made these results" in tex
    subprocess.run(["pdftoppm", "-r", "30", "-png", str(folder / "report.pdf"), str(tmp_path / "page")], check=True,
                   timeout=300)
    pages = sorted(tmp_path.glob("page-*.png"))
    # The header, one page per target, the comparison and claims, then what was run and the readings.
    assert len(pages) >= len(paper.targets) + 2
    for page in pages:  # ink above the page number's footer: a page holding only its number is blank
        pixels = np.asarray(Image.open(page).convert("L"))
        assert (pixels[: int(0.9 * len(pixels))] < 128).sum() > 20, f"{page.name} of {slug}'s report is blank"

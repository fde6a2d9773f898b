"""The reproduced papers, by slug. Importing a spec imports no torch (Snakemake parses them often).

Besides the papers of this package, a lab may keep paper specs in modules of its own: any
importable module that defines `PAPER` (a `Paper`), named in config.yaml's `paper_modules` (the
workflow passes them on to every command that reads a paper, as `--paper-module`).
"""

from __future__ import annotations

import importlib
from typing import Iterable

from robustrepro.errors import UserError, unknown_choice
from robustrepro.papers.spec import Paper

# slug -> module under robustrepro.papers
MODULES = {
    "robust-clustering": "robust_clustering",
    "massive-noise": "massive_noise",
    "reweight": "reweight",
    "noise-batchsize": "noise_batchsize",
    "ordering-augment": "ordering_augment",
}


def load_module(name: str) -> Paper:
    """The `PAPER` of an importable module outside the package (config key paper_modules)."""
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        raise UserError(f"paper_modules: cannot import {name!r} ({exc}); put its folder on PYTHONPATH, "
                        "or fix the module name") from None
    paper = getattr(module, "PAPER", None)
    if not isinstance(paper, Paper):
        raise UserError(f"paper_modules: module {name!r} defines no PAPER (a robustrepro.papers.spec.Paper); "
                        f"got {type(paper).__name__}")
    if paper.slug in MODULES:
        raise UserError(f"paper_modules: module {name!r} declares paper {paper.slug!r}, which robustrepro "
                        "already has; give it another slug")
    return paper


def _extra(modules: Iterable[str]) -> dict[str, Paper]:
    papers: dict[str, Paper] = {}
    for name in modules:
        paper = load_module(name)
        if paper.slug in papers:
            raise UserError(f"paper_modules: {name!r} and another module both declare paper {paper.slug!r}")
        papers[paper.slug] = paper
    return papers


def load(slug: str, modules: Iterable[str] = ()) -> Paper:
    """The paper `slug`: one of the package's, or of the extra paper `modules`."""
    if slug in MODULES:
        return importlib.import_module(f"robustrepro.papers.{MODULES[slug]}").PAPER
    extra = _extra(modules)
    if slug not in extra:
        raise unknown_choice("paper", slug, [*MODULES, *extra])
    return extra[slug]


def all_papers(modules: Iterable[str] = ()) -> list[Paper]:
    """Every paper of the package, then those of the extra paper `modules`."""
    return [load(slug) for slug in MODULES] + list(_extra(modules).values())

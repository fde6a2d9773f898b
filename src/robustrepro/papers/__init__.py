"""The reproduced papers, by slug. Importing a spec imports no torch (Snakemake parses them often)."""

from __future__ import annotations

import importlib

from robustrepro.errors import unknown_choice
from robustrepro.papers.spec import Paper

# slug -> module under robustrepro.papers
MODULES = {
    "robust-clustering": "robust_clustering",
    "massive-noise": "massive_noise",
}


def load(slug: str) -> Paper:
    if slug not in MODULES:
        raise unknown_choice("paper", slug, MODULES)
    return importlib.import_module(f"robustrepro.papers.{MODULES[slug]}").PAPER


def all_papers() -> list[Paper]:
    return [load(slug) for slug in MODULES]

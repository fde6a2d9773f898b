"""robustrepro: a Snakemake harness that reproduces deep-learning training papers."""

__version__ = "0.1.0"

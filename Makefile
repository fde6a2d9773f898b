# Quick start: `make reproduce` and `make test`. Both create .venv first when it is missing.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= all

.PHONY: reproduce test test-fast env lint docs clean

env: $(STAMP)

# The install ignores pip's site-wide find-links and config so that torch and torchvision
# both come from PyPI as a matching pair (a stray CPU-only torch wheel breaks torchvision).
# torchattacks goes in without its dependencies (pyproject.toml's test extra says why).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || python3 -m venv $(VENV)
	env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null $(BIN)/python -m pip install --upgrade pip
	env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null $(BIN)/python -m pip install -e '.[test]'
	env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null $(BIN)/python -m pip install --no-deps torchattacks==3.5.1
	$(BIN)/python -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__)"
	touch $(STAMP)

reproduce: $(STAMP)
	$(BIN)/python -m robustrepro snakemake --cores $(CORES) all

# The full suite: what CI and the quick start run.
test: $(STAMP)
	$(BIN)/python -m pytest -ra

# Every test that starts no Snakemake build and trains for seconds at most, each within 10 s
# (tests/conftest.py): for every change while you work. One pytest worker per core, each with one
# torch thread, so that workers do not fight over the cores.
test-fast: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -ra -m "not slow" -n auto

# The documentation site from docs/ into site/, strict as the tests build it (mkdocs.yml).
docs: $(STAMP)
	$(BIN)/mkdocs build --strict

lint: $(STAMP)
	$(BIN)/snakemake --lint

# make clean SCALE=smoke removes that scale's results and checkpoints; plain `make clean` lists
# every scale's and asks first (SCALE reaches the shell as an environment variable, never as text). Tracked files (results/README.md) and the data are never touched.
clean:
	@case "$${SCALE:-}" in \
	  smoke|quick|paper) rm -rf -- "results/$$SCALE"; echo "removed results/$$SCALE" ;; \
	  "") found=$$(ls -d results/smoke results/quick results/paper 2>/dev/null); \
	      if [ -z "$$found" ]; then echo "no results to remove"; exit 0; fi; \
	      echo "this removes every result and checkpoint of:" $$found; \
	      read -r -p "remove them? [y/N] " answer || answer=; \
	      if [ "$$answer" = y ] || [ "$$answer" = yes ]; then rm -rf -- $$found .snakemake; echo "removed"; \
	      else echo "nothing removed (make clean SCALE=smoke|quick|paper removes one scale without asking)"; fi ;; \
	  *) echo "make clean: SCALE=$$SCALE is no scale; use SCALE=smoke, quick or paper" >&2; exit 2 ;; \
	esac

# Set-up and everyday commands. Both entry points create .venv from scratch if it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint fixtures bench clean

$(STAMP): pyproject.toml
	@echo "[set-up 1/3] creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	@echo "[set-up 2/3] upgrading pip"
	$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "[set-up 3/3] installing stemdm and its dependencies (first time: 2-3 minutes)"
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	@echo "stemdm demo: evidence base, systematic review and in-silico trial (2-3 minutes; report in out/)"
	$(BIN)/stemdm demo --out out

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

# Regenerate the metafor reference fixtures (needs R: see tools/make_metafor_fixtures.R).
fixtures:
	Rscript tools/make_metafor_fixtures.R

# Speed against R's metafor on this machine (installs R from Debian packages when missing).
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_vs_metafor.py
	$(BIN)/python benchmarks/bench_sim_vs_simglucose.py --write docs/PERFORMANCE.md

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis

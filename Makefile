# abnb: two commands on a fresh machine — `make demo`, then `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SPARK  := $(VENV)/.spark
DB     := data/telemetry.duckdb
USERS  ?= 200000

.PHONY: demo test lint typecheck lab data report teaching clean-venv bench smoke

$(STAMP): pyproject.toml requirements/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.3"
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e ".[lab,dev]"
	touch $(STAMP)

# pyspark (a ~300 MB sdist, about a minute), the peers of the parity test (tea-tasting, the bench extra) and nbgrader
# (the teach extra, for the course-build test) only for `make test`, so `make demo` stays lean.
$(SPARK): $(STAMP)
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e ".[lab,dev,spark,bench,teach]"
	touch $(SPARK)

$(DB): $(STAMP)
	$(BIN)/abnb data generate --users $(USERS) --seed 20261001 --database $(DB)

data: $(DB)

demo: $(DB)
	$(BIN)/abnb demo

report: $(DB)
	$(BIN)/abnb report checkout_redesign

test: $(STAMP) $(SPARK) $(DB)
	$(BIN)/ruff check abnb tests benchmarks notebooks
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2 --dist loadgroup

# The wheel, installed without extras in a clean venv, run in an empty folder (what .ci/run does after make test).
smoke:
	bash .ci/wheel-smoke

teaching: $(STAMP)
	$(BIN)/abnb teach export

bench: $(DB)
	$(BIN)/python benchmarks/bench_foundation.py
	$(BIN)/python benchmarks/bench_widgets.py
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e ".[bench]"
	$(BIN)/python benchmarks/bench_scale.py

lint: $(STAMP)
	$(BIN)/ruff check abnb tests benchmarks notebooks
	$(BIN)/ruff format --check abnb tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

lab: $(DB)
	$(BIN)/jupyter lab notebooks/

clean-venv:
	rm -rf $(VENV)

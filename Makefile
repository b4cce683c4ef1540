# embedloop: `make demo` sets up and runs the pipeline, `make test` runs the tests.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
DATA_DIR ?= data
FIND_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)

# The embedded instance (SQLite) for demo and dev; tests use their own temporary ones.
DAGSTER_HOME ?= $(abspath $(DATA_DIR))/dagster_home
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup demo dev test lint format lock bench clean dagster-home

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install $(FIND_LINKS) -c constraints.txt -e '.[dev]'
	$(BIN)/pip check
	touch $@

dagster-home:
	@mkdir -p $(DAGSTER_HOME)
	@test -f $(DAGSTER_HOME)/dagster.yaml || cp orchestration/dagster_local.yaml $(DAGSTER_HOME)/dagster.yaml

demo: setup dagster-home
	DAGSTER_HOME=$(DAGSTER_HOME) $(BIN)/dagster asset materialize --select '*' -m orchestration.definitions
	@echo
	@echo "Materialized. Open the Dagster UI with 'make dev', then http://127.0.0.1:3000"

dev: setup dagster-home
	DAGSTER_HOME=$(DAGSTER_HOME) $(BIN)/dagster dev -m orchestration.definitions -h 127.0.0.1 -p 3000

test: setup
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Re-resolve the pinned set after changing dependencies in pyproject.toml.
lock: setup
	$(BIN)/pip freeze --exclude-editable | sed 's/+cpu$$//' > constraints.txt

bench: setup
	$(BIN)/python bench/ingest_bench.py

clean:
	rm -rf $(DATA_DIR)

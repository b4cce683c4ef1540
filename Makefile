# embedloop: `make demo` sets up and runs the pipeline, `make test` runs the tests.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
DATA_DIR ?= data
FIND_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)
# The local Argilla server lives in its own virtualenv (its pins clash with ours).
ARGILLA_VENV ?= services/argilla/.venv
export EMBEDLOOP_ARGILLA_VENV := $(abspath $(ARGILLA_VENV))
ARGILLA := $(BIN)/python -m services.argilla --data-dir $${EMBEDLOOP_ARGILLA_DATA:-$(DATA_DIR)/argilla}

# The embedded instance (SQLite) for demo and dev; tests use their own temporary ones.
DAGSTER_HOME ?= $(abspath $(DATA_DIR))/dagster_home
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup demo dev test lint format lock bench clean dagster-home \
	argilla-setup argilla-up argilla-down argilla-status argilla-lock

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	@echo "setup: installing the project into $(VENV) (a few minutes on a fresh machine)"
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install -qq --upgrade pip
	@$(BIN)/pip install -qq $(FIND_LINKS) -c constraints.txt -e '.[dev]'
	@$(BIN)/pip check > /dev/null
	@touch $@

argilla-setup: $(ARGILLA_VENV)/.installed

$(ARGILLA_VENV)/.installed: services/argilla/requirements.txt services/argilla/constraints.txt
	@echo "setup: installing the Argilla server into $(ARGILLA_VENV)"
	@$(PYTHON) -m venv $(ARGILLA_VENV)
	@$(ARGILLA_VENV)/bin/pip install -qq --upgrade pip
	@$(ARGILLA_VENV)/bin/pip install -qq -c services/argilla/constraints.txt -r services/argilla/requirements.txt
	@$(ARGILLA_VENV)/bin/pip check > /dev/null
	@touch $@

# Argilla's API and UI on http://127.0.0.1:6900 (user argilla; the first start prints the
# password and keeps it in $(DATA_DIR)/argilla/credentials.json).
argilla-up: setup argilla-setup
	@$(ARGILLA) start

argilla-down:
	$(ARGILLA) stop

argilla-status:
	$(ARGILLA) status

argilla-lock: argilla-setup
	(echo "# pip freeze of the Argilla virtualenv (make argilla-lock re-resolves it)."; \
	 $(ARGILLA_VENV)/bin/pip freeze) > services/argilla/constraints.txt

dagster-home:
	@mkdir -p $(DAGSTER_HOME)
	@test -f $(DAGSTER_HOME)/dagster.yaml || cp orchestration/dagster_local.yaml $(DAGSTER_HOME)/dagster.yaml

# The whole graph through `embedloop run`, recorded in $(DAGSTER_HOME) so the UI shows it.
demo: setup argilla-up dagster-home
	@DAGSTER_HOME=$(DAGSTER_HOME) $(BIN)/embedloop run
	@echo "Open the Dagster UI with 'make dev' (http://127.0.0.1:3000) and Argilla on http://127.0.0.1:6900"

dev: setup argilla-up dagster-home
	DAGSTER_HOME=$(DAGSTER_HOME) $(BIN)/dagster dev -m orchestration.definitions -h 127.0.0.1 -p 3000

test: setup argilla-setup
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Re-resolve the pinned set after changing dependencies in pyproject.toml.
lock: setup
	$(BIN)/pip freeze --exclude-editable | sed 's/+cpu$$//' > constraints.txt

bench: setup argilla-setup
	$(BIN)/python bench/ingest_bench.py
	$(BIN)/python bench/argilla_bench.py

clean:
	-test -x $(BIN)/python && $(ARGILLA) stop
	rm -rf $(DATA_DIR)

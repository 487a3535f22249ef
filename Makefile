# glassnet — the two commands of the README, and a few helpers.
#   make run    set up .venv with glassnet alone (no dev tools, no extras) and start the glassnet server
#               (dashboard at the printed address)
#   make test   set up everything the tests need (Chromium and Node through apt when root, .venv with the
#               dev tools and the extras, Ray included) and run every check: ruff, pytest (incl. node --test,
#               the browser tests, tsc over the dashboard's modules, axe-core, the installed-wheel smoke
#               test, the Ray cluster tests, hadolint and the compose schema)
#   make test-fast  the same checks without a browser or a real server (most of the tests: see the README)

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
RUN_STAMP := $(VENV)/.run-stamp
NODE_STAMP := node_modules/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8000

LINTED := backend tests bench setup.py

.PHONY: run test test-fast prereqs lint bench bounds models clean

# What the tests need: glassnet with the dev extra (the tools, the optional extras, Ray).
$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# What running needs: glassnet and its dependencies only (extras on demand: pip install -e '.[onnx]').
$(RUN_STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUN_STAMP)

# typescript (tsc type-checks the // @ts-check modules) and axe-core (injected by the e2e tests).
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

run: $(RUN_STAMP)
	$(BIN)/glassnet serve --host $(HOST) --port $(PORT)

test: prereqs $(STAMP) $(NODE_STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/python -m pytest -q

test-fast: prereqs $(STAMP) $(NODE_STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/python -m pytest -q -m "not e2e and not slow"

prereqs:
	@scripts/test-prereqs.sh

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

bench: $(STAMP)
	$(BIN)/python bench/train_speed.py

# The suite with the lowest declared dependency versions and with the newest, on Python 3.11-3.13.
bounds:
	scripts/check_bounds.sh

# Re-make the bundled models with the documented commands (fixed seeds).
models: $(STAMP)
	$(BIN)/glassnet train --preset cnn --epochs 25 --augment --out models/cnn.npz
	$(BIN)/glassnet train --preset mlp --out models/mlp.npz
	$(BIN)/glassnet train --preset notes --out models/notes.npz

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache build dist

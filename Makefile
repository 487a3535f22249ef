# glassnet — the two commands of the README, and a few helpers.
#   make run    set up .venv and start the glassnet server (dashboard at the printed address)
#   make test   set up .venv and node_modules, run every check (ruff, pytest incl. node --test, tsc and
#               the browser tests)
#   make test-fast  the same without a browser or a real server (about a minute)

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
NODE_STAMP := node_modules/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test test-fast lint bench models clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# typescript (tsc type-checks the // @ts-check modules) and axe-core (injected by the e2e tests).
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

run: $(STAMP)
	$(BIN)/glassnet serve --host $(HOST) --port $(PORT)

test: $(STAMP) $(NODE_STAMP)
	$(BIN)/ruff check backend tests bench
	$(BIN)/ruff format --check backend tests bench
	$(BIN)/python -m pytest -q

test-fast: $(STAMP) $(NODE_STAMP)
	$(BIN)/ruff check backend tests bench
	$(BIN)/ruff format --check backend tests bench
	$(BIN)/python -m pytest -q -m "not e2e and not slow"

lint: $(STAMP)
	$(BIN)/ruff check backend tests bench
	$(BIN)/ruff format --check backend tests bench

bench: $(STAMP)
	$(BIN)/python bench/train_speed.py

# Re-make the bundled models with the documented commands (fixed seeds).
models: $(STAMP)
	$(BIN)/glassnet train --preset cnn --out models/cnn.npz
	$(BIN)/glassnet train --preset mlp --out models/mlp.npz
	$(BIN)/glassnet train --preset notes --out models/notes.npz

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache

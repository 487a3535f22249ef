# glassnet — the two commands of the README, and a few helpers.
#   make run    set up .venv and start the glassnet server (dashboard at the printed address)
#   make test   set up everything the tests need (Chromium and Node through apt when root, .venv with the
#               dev tools and the extras, Ray included) and run every check: ruff, pytest (incl. node --test, the
#               browser tests, the installed-wheel smoke test, hadolint and the compose schema)

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8000

LINTED := backend tests bench setup.py

.PHONY: run test prereqs lint bench bounds models clean

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/glassnet serve --host $(HOST) --port $(PORT)

test: prereqs $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/python -m pytest -q

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
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist

# glassnet — the two commands of the README, and a few helpers.
#   make run    set up .venv and start the glassnet server (dashboard at the printed address)
#   make test   set up .venv and run every check (ruff, pytest, node --test)

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test lint bench models clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/glassnet serve --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(BIN)/ruff check backend tests bench
	$(BIN)/ruff format --check backend tests bench
	$(BIN)/python -m pytest -q

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
	rm -rf $(VENV) .pytest_cache .ruff_cache

# The whole set-up: `make demo` (install + main job) and `make test`.
# `make test`: the suite without the minutes-long end-to-end tests (marked slow), on every
# core (pytest-xdist); `make test-all`: all of it, as CI runs it (.ci/run).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-all lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch first and pinned: the CPU build lies on disk here; an unpinned torch would pull CUDA.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/quadmimic demo

PYTEST := $(BIN)/python -m pytest -q -n auto --dist loadgroup --durations=15

test: $(STAMP)
	$(BIN)/ruff check .
	$(PYTEST) -m "not slow"

test-all: $(STAMP)
	$(BIN)/ruff check .
	$(PYTEST)

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/quadmimic bench retarget --json runs/bench/retarget.json

clean:
	rm -rf $(VENV) runs

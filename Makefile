# The whole set-up: `make demo` (install + main job) and `make test`.
# `make test`: the suite without the minutes-long end-to-end tests (marked slow), on every
# core (pytest-xdist), real-time tests alone after it; `make test-all`: all of it, as CI runs
# it (.ci/run).
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

# Two passes: everything on every core, then the real-time tests (emulators on the wall clock)
# alone, so that no training test takes the core their 2 ms deadlines need.
PYTEST := $(BIN)/python -m pytest -q --durations=10
PARALLEL := -n auto --dist loadgroup

test: $(STAMP)
	$(BIN)/ruff check .
	$(PYTEST) $(PARALLEL) -m "not slow and not realtime"
	$(PYTEST) -p no:xdist -m "realtime and not slow"

test-all: $(STAMP)
	$(BIN)/ruff check .
	$(PYTEST) $(PARALLEL) -m "not realtime"
	$(PYTEST) -p no:xdist -m realtime

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/quadmimic bench retarget --json runs/bench/retarget.json

clean:
	rm -rf $(VENV) runs

# stackml — set-up, demo, tests, lint and benchmarks.
# Every target creates and reuses .venv; dependencies are reinstalled when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_VERSION := 2.13.0
PYTEST_ARGS ?=
# Test processes: most tests wait on servers, subprocesses and the database, so two workers
# finish the suite in well under half the time of one, even on two cores.
TEST_WORKERS ?= 2

.PHONY: quickstart test lint format bench clean help

help:  ## Show the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# torch goes in first, pinned, so nothing later pulls a different (multi-GB) build.
$(VENV)/.torch: | $(BIN)/python
	$(BIN)/pip install --quiet torch==$(TORCH_VERSION)
	@touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.torch
	$(BIN)/pip install --quiet -e '.[torch,postgres,s3]'
	@touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[torch,postgres,s3,ray,dev]'
	@touch $@

$(VENV)/.installed-bench: pyproject.toml $(VENV)/.installed-dev
	$(BIN)/pip install --quiet -e '.[torch,postgres,s3,ray,dev,bench]'
	@touch $@

quickstart: $(VENV)/.installed  ## Set up and run the end-to-end demo, then keep the UI up
	$(BIN)/stackml quickstart

test: $(VENV)/.installed-dev  ## Set up and run the whole test suite
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev  ## ruff (lint + format check), layering check
	$(BIN)/ruff check stackml tests benchmarks
	$(BIN)/ruff format --check stackml tests benchmarks
	@if [ -f ../shared/tools/check_layers.py ]; then $(BIN)/python ../shared/tools/check_layers.py stackml; fi

format: $(VENV)/.installed-dev  ## Apply ruff's formatting and safe fixes
	$(BIN)/ruff format stackml tests benchmarks
	$(BIN)/ruff check --fix stackml tests benchmarks

bench: $(VENV)/.installed-bench  ## Run the benchmarks against their peers
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:  ## Remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache

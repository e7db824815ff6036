# The two commands of the README:
#   make up     sets up and runs the whole system on embedded defaults with the Viken Park demo
#   make test   sets up and runs the tests
# Everything lands in .venv; nothing is installed outside the repository.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup up test lint typecheck check docs clean bench

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@echo "==> creating $(VENV) and installing the project (first run only, ~1 min)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --python $(BIN)/python -e '.[dev]'
	@touch $@

up: setup
	$(BIN)/symbiosis up --demo

test: setup
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

check: lint typecheck test

docs: setup
	$(BIN)/symbiosis docs

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

bench: setup
	$(BIN)/python -m benchmarks.listings_search
	$(BIN)/python -m benchmarks.matching_index
	$(BIN)/python -m benchmarks.optimiser

# The two commands of the README:
#   make up     sets up and runs the whole system on embedded defaults with the Viken Park demo
#   make test   sets up and runs the tests
# Everything lands in .venv; nothing is installed outside the repository.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STRIPE_MOCK_VERSION := v0.203.0

.PHONY: setup up test lint typecheck check docs clean bench stripe-mock

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@echo "==> creating $(VENV) and installing the project (first run only, ~1 min)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --python $(BIN)/python -e '.[dev]'
	@touch $@

# Stripe's mock server, for the invoicing tests (they build it themselves if it is missing).
# Needs Go; the binary lands in $(BIN).
stripe-mock: setup
	@command -v go >/dev/null || { echo "error: stripe-mock is built with Go; install Go first" >&2; exit 1; }
	GOBIN="$(abspath $(BIN))" go install github.com/stripe/stripe-mock@$(STRIPE_MOCK_VERSION)

# With Go on the machine, `make up` also installs stripe-mock, so invoices go all the way
# (without Go, confirmed deliveries wait in the invoice queue; `symbiosis up` says so).
up: setup
	@if [ ! -x $(BIN)/stripe-mock ] && command -v go >/dev/null; then \
		echo "==> installing stripe-mock (Stripe's mock API, first run only)"; \
		GOBIN="$(abspath $(BIN))" go install github.com/stripe/stripe-mock@$(STRIPE_MOCK_VERSION) \
			|| echo "could not install stripe-mock; invoices will wait in the queue"; \
	fi
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

# The two commands of the README:
#   make up     sets up and runs the whole system on embedded defaults with the Viken Park demo
#   make test   sets up and runs the tests
# Everything lands in .venv; nothing is installed outside the repository.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STRIPE_MOCK_VERSION := v0.203.0

PORTAL := services/portal
CHROMIUM := /usr/bin/chromium

.PHONY: test-fast setup up test lint typecheck check docs clean bench eval stripe-mock chromium vendor messages kafka-jars peppol

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

# The portal's browser tests drive Debian's chromium (Playwright cannot download a browser
# here); installed with apt-get when it is missing, or the tests fail saying why.
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
		echo "==> installing Debian's chromium for the browser tests (first run only)"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		{ $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; } \
			|| { echo "error: could not install chromium (apt-get install chromium); the portal's browser tests need $(CHROMIUM)" >&2; exit 1; }; \
	fi

# The official Peppol BIS Billing 3.0 and EN 16931 validation artefacts, for the EHF tests:
# fetched from Maven Central with mvn, checked against a pinned SHA-256 (tests/peppol.py).
peppol: setup
	$(BIN)/python -c "from tests.peppol import artefacts; print(*artefacts().values(), sep=chr(10))"

# Every test, with the coverage of the code the test process runs (the services started as
# processes by the end-to-end tests are not measured); the 25 slowest are printed.
test: setup chromium peppol
	$(BIN)/pytest --durations=25 --junitxml=test-artifacts/junit.xml --cov --cov-report=term:skip-covered --cov-report=xml:test-artifacts/coverage.xml

# The unit tests alone: no database, no broker, no browser; well under a minute.
test-fast: setup
	$(BIN)/pytest tests/unit -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

check: lint typecheck test

docs: setup
	$(BIN)/symbiosis docs

# After changing a version in symbiosis/broker/maven/pom.xml: fetch the jars and pin their
# SHA-256 in symbiosis/broker/jars.sha256 (review the change before committing it).
kafka-jars: setup
	$(BIN)/symbiosis kafka-jars --pin

# The portal's browser libraries (htmx, its SSE extension, Chart.js and its Sankey chart,
# Leaflet) come from the npm registry at the versions pinned in $(PORTAL)/package-lock.json;
# the files used are committed under $(PORTAL)/static/vendor/ with their licences, so running
# the portal needs no npm. axe-core, which the browser tests run on every page, goes to
# tests/e2e/vendor/.
vendor:
	cd $(PORTAL) && npm ci --ignore-scripts --no-audit --no-fund
	cp $(PORTAL)/node_modules/htmx.org/dist/htmx.min.js $(PORTAL)/static/vendor/htmx.min.js
	cp $(PORTAL)/node_modules/htmx.org/LICENSE $(PORTAL)/static/vendor/htmx.LICENSE
	cp $(PORTAL)/node_modules/htmx-ext-sse/dist/sse.min.js $(PORTAL)/static/vendor/sse.min.js
	cp $(PORTAL)/node_modules/htmx-ext-sse/LICENSE $(PORTAL)/static/vendor/sse.LICENSE
	cp $(PORTAL)/node_modules/chart.js/dist/chart.umd.min.js $(PORTAL)/static/vendor/chart.umd.min.js
	cp $(PORTAL)/node_modules/chart.js/LICENSE.md $(PORTAL)/static/vendor/chart.js.LICENSE.md
	cp $(PORTAL)/node_modules/chartjs-chart-sankey/dist/chartjs-chart-sankey.min.js $(PORTAL)/static/vendor/chartjs-chart-sankey.min.js
	cp $(PORTAL)/node_modules/chartjs-chart-sankey/LICENSE $(PORTAL)/static/vendor/chartjs-chart-sankey.LICENSE
	mkdir -p $(PORTAL)/static/vendor/leaflet/images tests/e2e/vendor
	cp $(PORTAL)/node_modules/leaflet/dist/leaflet.js $(PORTAL)/node_modules/leaflet/dist/leaflet.css $(PORTAL)/static/vendor/leaflet/
	cp $(PORTAL)/node_modules/leaflet/dist/images/*.png $(PORTAL)/static/vendor/leaflet/images/
	cp $(PORTAL)/node_modules/leaflet/LICENSE $(PORTAL)/static/vendor/leaflet/LICENSE
	cp $(PORTAL)/node_modules/axe-core/axe.min.js tests/e2e/vendor/axe.min.js
	cp $(PORTAL)/node_modules/axe-core/LICENSE tests/e2e/vendor/axe-core.LICENSE

# Extract the portal's messages (code and templates) and merge them into the bokmål and
# English catalogues; then translate the new entries (tests/unit/test_portal_i18n.py
# fails while any is empty).
messages: setup
	$(BIN)/pybabel extract --no-location --omit-header -F $(PORTAL)/babel.cfg -k N_ -o $(PORTAL)/locale/messages.pot $(PORTAL)
	$(BIN)/pybabel update --ignore-obsolete --no-fuzzy-matching -i $(PORTAL)/locale/messages.pot -d $(PORTAL)/locale -l nb
	$(BIN)/pybabel update --ignore-obsolete --no-fuzzy-matching -i $(PORTAL)/locale/messages.pot -d $(PORTAL)/locale -l en

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# Matching and uncovering on documented industrial symbioses (benchmarks/eval/): recall,
# precision and uncovering on the dev parks and the held-out parks.
eval: setup
	$(BIN)/python -m benchmarks.evaluate

bench: setup
	$(BIN)/python -m benchmarks.startup
	$(BIN)/python -m benchmarks.pipeline
	$(BIN)/python -m benchmarks.listings_search
	$(BIN)/python -m benchmarks.matching_index
	$(BIN)/python -m benchmarks.optimiser
	$(BIN)/python -m benchmarks.portal_pages

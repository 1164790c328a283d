# sei-processor: `make demo` runs the main job on the local stack, `make test` the suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install browser demo dashboard test test-unit test-integration bench bench-commits bench-ingest bench-activity bench-anomalies migrate worker stack lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "sei-processor needs Python >= 3.11")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Debian's chromium for the page's browser test (tests/integration/test_page.py).
browser:
	bash devtools/install_browser.sh

demo: install
	$(PY) -m devtools.demo $(DEMO_ARGS)

# The demo, then its worker stays up with the page's URL printed until ^C.
dashboard: install
	$(PY) -m devtools.demo --serve $(DEMO_ARGS)

test: install browser
	$(PY) -m pytest

test-unit: install
	$(PY) -m pytest tests/unit tests/tables tests/agents

test-integration: install browser
	$(PY) -m pytest tests/integration

bench: bench-commits bench-ingest

bench-commits: install
	$(PY) -m bench.commits

bench-ingest: install
	$(PY) -m bench.ingest

# Installs the bench extra (Quix Streams, the peer it runs side by side).
bench-anomalies: install
	$(PY) -m bench.anomalies $(BENCH_ARGS)

bench-activity: install
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	$(PY) -m bench.activity $(BENCH_ARGS)

migrate: install
	$(VENV)/bin/alembic upgrade head

worker: install
	$(VENV)/bin/faust -A app worker -l info

stack: install
	$(PY) -m devtools.localstack up

lint: install
	$(PY) -m pip install --quiet ruff
	$(VENV)/bin/ruff check app runtime agents stores tables models devtools bench tests alembic
	$(PY) -m mypy

clean:
	rm -rf $(VENV) data .pytest_cache .hypothesis

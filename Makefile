# Two commands on a fresh machine: `make run` and `make test`. Everything else is installed here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast check fmt bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## Start the API on the embedded SQLite database with demo data (THANX_HOST / THANX_PORT).
run: $(STAMP)
	$(BIN)/thanx-server serve --demo

## Run the test suite: SQLite always, PostgreSQL too when reachable (required when CI=true).
test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

## The in-process tier only (no server, worker or CLI processes, no fault proxy), both engines.
test-fast: $(STAMP)
	$(BIN)/pytest -m "not live" $(PYTEST_ARGS)

## Format check, lint and strict typing.
check: $(STAMP)
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# Two commands on a fresh machine: `make run` and `make test`. Everything else is installed here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements.lock
# The tool that writes $(LOCK); only `make lock` installs it.
UV_VERSION := 0.13.8

.PHONY: run test test-fast check fmt bench clean lock

# The environment is exactly $(LOCK): a new venv (so nothing a previous lock brought stays), every
# package at its pinned version and hash (pip refuses a file whose hash is not listed), pip and
# the build backend included, so the editable install of the project builds without isolation
# from what is installed (--no-index). `pip check` catches a lock older than pyproject.toml.
$(STAMP): pyproject.toml $(LOCK)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required"; exit 1; }
	$(PYTHON) -m venv --clear $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation --no-index -e .
	@$(BIN)/python -m pip check || { echo "$(LOCK) does not satisfy pyproject.toml: run 'make lock'"; exit 1; }
	@touch $(STAMP)

## Re-resolve $(LOCK) after a change to pyproject.toml, keeping every pin that still fits.
## LOCK_ARGS=--upgrade moves every package to its newest allowed release,
## LOCK_ARGS='--upgrade-package fastapi' only that one. Then `make test`, which reinstalls.
lock:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip compile pyproject.toml --extra dev --group bootstrap --universal \
		--generate-hashes --custom-compile-command 'make lock' --output-file $(LOCK) $(LOCK_ARGS)

## Start the API on the embedded SQLite database with demo data (THANX_HOST / THANX_PORT).
run: $(STAMP)
	$(BIN)/thanx-server serve --demo

## Test processes (pytest-xdist): `auto` is one per core; TEST_WORKERS=0 runs the suite serially
## in one process (for pdb, or to rule out a parallel cause), any number that many.
TEST_WORKERS ?= auto
## worksteal: each worker starts on its share in collection order (so it switches between the
## engines rarely) and an idle one takes tests from a busy one's queue (the live tier's tests
## take seconds, the others milliseconds: no fixed split ends even).
PARALLEL := -n $(TEST_WORKERS) --dist worksteal

## Run the test suite: SQLite always, PostgreSQL too when reachable (required when CI=true).
test: $(STAMP)
	$(BIN)/pytest $(PARALLEL) $(PYTEST_ARGS)

## The in-process tier only (no server, worker or CLI processes, no fault proxy), both engines.
test-fast: $(STAMP)
	$(BIN)/pytest $(PARALLEL) -m "not live" $(PYTEST_ARGS)

## Format check, lint, strict typing and the import layers (pyproject.toml, [tool.importlinter]).
check: $(STAMP)
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

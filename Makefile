# Everything a newcomer needs: `make run` and `make test`. Only Python 3.11+ is assumed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install run test test-portable test-pgbouncer lint typecheck contracts unit reliability wheel-check clean bench bench-quick

$(INSTALLED): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(INSTALLED)

install: $(INSTALLED)

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy

contracts: install
	$(BIN)/lint-imports

test: lint typecheck contracts
	$(BIN)/pytest
	$(MAKE) --no-print-directory test-portable test-pgbouncer

# The API suite once more on the embedded server with the lock strategy an engine
# without LOCK TABLE gets (BANKING_ACCOUNT_LOCKS=portable, docs/adr/008); the
# integration suites already run under both strategies.
test-portable: install
	BANKING_ACCOUNT_LOCKS=portable $(BIN)/pytest tests/api -k postgres-primary

# The API and integration suites once more, through a PgBouncer in transaction mode in
# front of the embedded test server (tests/pgbouncer.py); skipped, with the reason, where
# the pgbouncer binary is missing (.ci/run installs it).
test-pgbouncer: install
	BANKING_TEST_TARGETS=pgbouncer $(BIN)/pytest tests/api tests/integration -k pgbouncer

unit: install
	$(BIN)/pytest tests/unit

# Faults (PostgreSQL and workers SIGKILLed, connections cut, pool exhaustion, timeouts)
# and hostile input, each against real processes: a few minutes on 2 cores, at most 15.
# `make test` leaves them out (pyproject's testpaths).
reliability: install
	$(BIN)/pytest tests/reliability -m reliability --durations=10

# The wheel as a user installs it: built, installed in a fresh venv in a temp directory,
# `banking db upgrade` on a new database of the PostgreSQL at 127.0.0.1:5432 (or
# WHEEL_CHECK_POSTGRES), `banking serve` and a client's first calls. About 25 s, cleans up.
wheel-check:
	$(PYTHON) .ci/wheel-check

run: install
	$(BIN)/banking serve

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis

# The benchmark (bench/README.md): its own PostgreSQL, pgbench, the service and the
# application layer in one run. Its extra dependencies (load generator, chart) are the
# `bench` extra, installed here so that `make install` stays what the service needs.
BENCH_INSTALLED := $(VENV)/.installed-bench

$(BENCH_INSTALLED): $(INSTALLED)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@touch $(BENCH_INSTALLED)

bench: $(BENCH_INSTALLED)
	$(BIN)/python -m bench

# Short cells and no soak: under 3 minutes on 2 cores.
bench-quick: $(BENCH_INSTALLED)
	$(BIN)/python -m bench --quick

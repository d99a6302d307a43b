# modelmon-dagster — every entry point. `make demo` and `make test` each work alone on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME := $(CURDIR)/dagster_home
DAYS ?= 7
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: demo test test-fast mutation ui bench lint lock postgres clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

## Simulate $(DAYS) days for the demo models and materialise every partition through Dagster.
demo: $(STAMP)
	$(BIN)/python -m modelmon_dagster.demo --days $(DAYS)

## The whole suite, PostgreSQL tests included (the server is started if it is down).
test: $(STAMP) postgres
	MODELMON_TEST_POSTGRES_URL=$(PG_URL) $(BIN)/python -m pytest -n 2 --dist loadgroup -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -x -m "not e2e"

## Mutation testing (not part of `make test`; ~25 min on 2 cores): the known line-changes of
## issue #10 (SQL included) must each fail a test, then mutmut over the decision modules
## with the fast tests that pin them (pyproject's [tool.mutmut]), and the score.
mutation: $(STAMP)
	nice -n 19 $(BIN)/python mutation/known_mutants.py
	rm -rf mutants
	nice -n 19 $(BIN)/mutmut run --max-children 2 > /dev/null
	$(BIN)/python mutation/score.py --survivors

## Dagster UI on http://127.0.0.1:3000 over the demo's instance and warehouse.
ui: $(STAMP)
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml

bench: $(STAMP) postgres
	MODELMON_BENCH_POSTGRES_URL=$(PG_URL) $(BIN)/python bench/bench_ingest_aggregate.py
	MODELMON_BENCH_POSTGRES_URL=$(PG_URL) $(BIN)/python bench/bench_drift.py --engines duckdb,postgres

lint: $(STAMP)
	$(BIN)/ruff check modelmon_dagster tests bench mutation
	$(BIN)/ruff format --check modelmon_dagster tests bench mutation

## Re-resolve the pinned set (needs the package registry).
lock:
	rm -rf /tmp/modelmon-lock && $(PYTHON) -m venv /tmp/modelmon-lock
	/tmp/modelmon-lock/bin/pip install --quiet -e '.[dev,mlflow]'
	(echo "# Pinned dependency set for modelmon-dagster (Python 3.11). Regenerate with \`make lock\`."; \
	  /tmp/modelmon-lock/bin/pip freeze --exclude-editable) > requirements.lock

postgres:
	@bash .ci/ensure_postgres

clean:
	rm -rf data dagster_home/storage dagster_home/history dagster_home/schedules dagster_home/logs

# modelmon-dagster — every entry point. `make demo` and `make test` each work alone on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME := $(CURDIR)/dagster_home
DAYS ?= 10
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: demo dashboard test test-fast mutation ui bench lint lock postgres clean postgres-home ui-postgres demo-postgres

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

## Serve the health dashboard pages (built by `make demo` and the daily schedule) on 127.0.0.1.
## The port must match SERVE_URL in modelmon_dagster/dashboard/urls.py (page links).
dashboard: $(STAMP)
	@dir="$${MODELMON_DATA_DIR:-data}/dashboard"; \
	test -f "$$dir/index.html" || { echo "no dashboard in $$dir yet: run make demo first"; exit 1; }; \
	echo "Health dashboard: http://127.0.0.1:8050/index.html (Ctrl-C stops the server)"; \
	exec $(BIN)/python -m http.server 8050 --bind 127.0.0.1 --directory "$$dir"

## The whole suite, PostgreSQL tests included (the server is started if it is down). Each test
## module runs on one worker, so its module-scoped worlds are built once (loadgroup groups nothing
## with pytest 9.2 + xdist 3.8: tests/test_test_distribution.py).
test: $(STAMP) postgres
	MODELMON_TEST_POSTGRES_URL=$(PG_URL) $(BIN)/python -m pytest -n 2 --dist loadfile -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -x -m "not e2e"

## Mutation testing (not part of `make test`; 1-2 hours on 2 cores): the known line-changes of
## issue #10 (SQL included) must each fail a test, then mutmut over the decision modules
## with the fast tests that pin them (pyproject's [tool.mutmut]), and the score.
mutation: $(STAMP)
	nice -n 19 $(BIN)/python mutation/known_mutants.py
	rm -rf mutants
	nice -n 19 $(BIN)/mutmut run --max-children 2 > /dev/null
	$(BIN)/python mutation/score.py --survivors

## Dagster UI on http://127.0.0.1:3000 over the demo's instance and warehouse; Ctrl-C stops it
## within seconds. `make ui LIVE=1` also writes live simulated traffic for the demo models.
ui: $(STAMP)
	$(BIN)/python -m modelmon_dagster.ui $(if $(LIVE),--live)

## Production mode on this machine: Dagster instance (deploy/dagster.postgres.yaml) and warehouse
## on PostgreSQL. Credentials only through the environment (DAGSTER_PG_*, MODELMON_WAREHOUSE_URL).
PG_HOME := $(CURDIR)/build/dagster_home_postgres
DAGSTER_PG_HOST ?= 127.0.0.1
DAGSTER_PG_PORT ?= 5432
DAGSTER_PG_USERNAME ?= postgres
DAGSTER_PG_PASSWORD ?=
DAGSTER_PG_DB ?= modelmon_instance
PG_WAREHOUSE_DB ?= modelmon_warehouse
PG_WAREHOUSE_URL ?= postgresql+psycopg://$(DAGSTER_PG_USERNAME)@$(DAGSTER_PG_HOST):$(DAGSTER_PG_PORT)/$(PG_WAREHOUSE_DB)
PG_ENV = DAGSTER_HOME=$(PG_HOME) DAGSTER_PG_HOST=$(DAGSTER_PG_HOST) DAGSTER_PG_PORT=$(DAGSTER_PG_PORT) \
	DAGSTER_PG_USERNAME=$(DAGSTER_PG_USERNAME) DAGSTER_PG_PASSWORD=$(DAGSTER_PG_PASSWORD) \
	DAGSTER_PG_DB=$(DAGSTER_PG_DB) MODELMON_WAREHOUSE_URL=$${MODELMON_WAREHOUSE_URL:-$(PG_WAREHOUSE_URL)}
PSQL = PGPASSWORD=$(DAGSTER_PG_PASSWORD) psql -h $(DAGSTER_PG_HOST) -p $(DAGSTER_PG_PORT) -U $(DAGSTER_PG_USERNAME)

## DAGSTER_HOME for the PostgreSQL instance, and its two databases (created if missing).
postgres-home: $(STAMP) postgres
	mkdir -p $(PG_HOME) && cp deploy/dagster.postgres.yaml $(PG_HOME)/dagster.yaml
	@for db in $(DAGSTER_PG_DB) $(PG_WAREHOUSE_DB); do \
	  $(PSQL) -d postgres -tAc "select 1 from pg_database where datname = '$$db'" | grep -q 1 \
	    || $(PSQL) -d postgres -qc "create database \"$$db\""; done

## Dagster UI (webserver, daemon, code server) on http://127.0.0.1:3000, all state on PostgreSQL;
## runs are queued and run in parallel within the limits of deploy/dagster.postgres.yaml.
ui-postgres: postgres-home
	$(PG_ENV) $(BIN)/dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml

## `make demo` on PostgreSQL (the warehouse database is recreated; then `make ui-postgres`).
demo-postgres: postgres-home
	$(PSQL) -d postgres -qc 'drop database if exists "$(PG_WAREHOUSE_DB)" with (force)'
	$(PSQL) -d postgres -qc 'create database "$(PG_WAREHOUSE_DB)"'
	$(PG_ENV) $(BIN)/python -m modelmon_dagster.demo --days $(DAYS)

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
	rm -rf build data dagster_home/storage dagster_home/history dagster_home/schedules dagster_home/logs

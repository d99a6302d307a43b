# modelmon-dagster — every entry point. `make demo` and `make test` each work alone on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME := $(CURDIR)/dagster_home
DAYS ?= 10
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: demo dashboard test test-fast ui bench lint lock postgres clean

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

## The whole suite, PostgreSQL tests included (the server is started if it is down).
test: $(STAMP) postgres
	MODELMON_TEST_POSTGRES_URL=$(PG_URL) $(BIN)/python -m pytest -n 2 --dist loadgroup -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -x -m "not e2e"

## Dagster UI on http://127.0.0.1:3000 over the demo's instance and warehouse; Ctrl-C stops it
## within seconds. `make ui LIVE=1` also writes live simulated traffic for the demo models.
ui: $(STAMP)
	$(BIN)/python -m modelmon_dagster.ui $(if $(LIVE),--live)

bench: $(STAMP) postgres
	MODELMON_BENCH_POSTGRES_URL=$(PG_URL) $(BIN)/python bench/bench_ingest_aggregate.py
	MODELMON_BENCH_POSTGRES_URL=$(PG_URL) $(BIN)/python bench/bench_drift.py --engines duckdb,postgres

lint: $(STAMP)
	$(BIN)/ruff check modelmon_dagster tests bench
	$(BIN)/ruff format --check modelmon_dagster tests bench

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

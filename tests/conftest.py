"""Shared fixtures: real DuckDB files and a real PostgreSQL schema per test."""

import contextlib
import datetime as dt
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from modelmon_dagster.config import load_config
from modelmon_dagster.defs.resources import PROJECT_ROOT, Settings
from modelmon_dagster.warehouse import Warehouse

sys.path.insert(0, str(Path(__file__).parent))

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_url() -> str:
    return os.environ.get("MODELMON_TEST_POSTGRES_URL", DEFAULT_PG_URL)


def _postgres_answers(url: str) -> bool:
    try:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def postgres_base_url() -> str:
    url = postgres_url()
    if not _postgres_answers(url):
        # In CI (and whenever make test sets the URL) a missing server is a failure, not a skip.
        if os.environ.get("CI") or "MODELMON_TEST_POSTGRES_URL" in os.environ:
            pytest.fail(f"PostgreSQL does not answer at {url}")
        pytest.skip("PostgreSQL is not running (outside CI)")
    return url


@contextlib.contextmanager
def fresh_schema(base_url: str) -> Iterator[str]:
    """A URL whose search_path is a fresh schema, dropped on exit."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(base_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{base_url}?options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture
def postgres_schema_url(postgres_base_url):
    """A URL whose search_path is a fresh schema, dropped afterwards."""
    with fresh_schema(postgres_base_url) as url:
        yield url


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse_url(request, tmp_path):
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    return request.getfixturevalue("postgres_schema_url")


@pytest.fixture
def warehouse(warehouse_url):
    wh = Warehouse(warehouse_url)
    yield wh
    wh.dispose()


# The demo config starts its partitions 9 days before today ("-9d"): tests fix "today" so their
# dates (from 2026-11-16) are partitions whatever day they run.
TESTS_TODAY = dt.date(2026, 11, 25)


@pytest.fixture(scope="session")
def demo_config():
    return load_config(PROJECT_ROOT / "config" / "models.yaml", today=TESTS_TODAY)


@pytest.fixture
def fraud(demo_config):
    return demo_config.model("fraud_detector")


@pytest.fixture
def demand(demo_config):
    return demo_config.model("demand_forecaster")


@pytest.fixture
def settings(tmp_path, warehouse_url):
    return Settings(
        config_path=PROJECT_ROOT / "config" / "models.yaml",
        data_dir=tmp_path / "data",
        warehouse_url=warehouse_url,
    )


@pytest.fixture
def fresh_database(postgres_base_url):
    """A new, empty PostgreSQL database (its URL), dropped afterwards."""
    name = f"modelmon_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.make_url(postgres_base_url).set(database=name)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def instance_env(url: sa.URL) -> dict[str, str]:
    """The DAGSTER_PG_* variables deploy/dagster.postgres.yaml reads, for the database ``url``."""
    return {
        "DAGSTER_PG_HOST": url.host,
        "DAGSTER_PG_PORT": str(url.port or 5432),
        "DAGSTER_PG_DB": url.database,
        "DAGSTER_PG_USERNAME": url.username,
        "DAGSTER_PG_PASSWORD": url.password or "",
    }

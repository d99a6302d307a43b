"""One world per warehouse engine for a test module, to run its decisions on both and compare.

The scenario tests build an expensive world (days of simulated traffic through ingestion, the
SQL models and drift). ``PerEngine`` builds it once per engine on first use and keeps it for the
module, so the same tests run on DuckDB and on PostgreSQL, and one more test can compare the two
worlds table by table.
"""

import contextlib
from collections.abc import Callable
from typing import Any

import pytest
from conftest import fresh_schema
from tables import same_rows

from modelmon_dagster.warehouse import Warehouse

ENGINES = ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
# Numbers computed on the two engines agree to this relative bound (sums add in another order).
ENGINE_RELATIVE = 1e-9


class PerEngine:
    """Worlds built by ``build(warehouse)``, one per engine, built on first use."""

    def __init__(self, request: pytest.FixtureRequest, build: Callable[[Warehouse], Any]):
        self._request = request
        self._build = build
        self._worlds: dict[str, Any] = {}
        self._warehouses: list[Warehouse] = []
        self._schemas = contextlib.ExitStack()

    def __getitem__(self, engine: str) -> Any:
        if engine not in self._worlds:
            wh = Warehouse(self._url(engine))
            self._warehouses.append(wh)
            self._worlds[engine] = self._build(wh)
        return self._worlds[engine]

    def _url(self, engine: str) -> str:
        if engine == "duckdb":
            folder = self._request.getfixturevalue("tmp_path_factory").mktemp("duckdb")
            return f"duckdb:///{folder / 'warehouse.duckdb'}"
        base = self._request.getfixturevalue("postgres_base_url")
        return self._schemas.enter_context(fresh_schema(base))

    def close(self) -> None:
        for wh in self._warehouses:
            wh.dispose()
        self._schemas.close()


def assert_same_tables(duck: Warehouse, pg: Warehouse, tables: list[str]) -> None:
    """Each table holds the same rows on both engines: floats to ``ENGINE_RELATIVE``."""
    for table in tables:
        query = f'SELECT * FROM "{table}"'
        same_rows(
            table, duck.query_df(query), pg.query_df(query), ENGINE_RELATIVE, check_dtype=False
        )

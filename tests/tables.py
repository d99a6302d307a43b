"""Compare warehouse tables: keys, counts and texts exactly, floats within a relative bound."""

import numpy as np
import pandas as pd

from modelmon_dagster.warehouse import Warehouse

# Columns that record when something ran, not what it computed.
RUN_TIME_COLUMNS = {"computed_at", "created_at", "materialized_at", "evaluated_at", "updated_at"}


def snapshot(wh: Warehouse) -> dict[str, pd.DataFrame]:
    """Every raw, hourly and daily table of the warehouse's schema, whole."""
    tables = wh.query_df(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
        "AND (table_name LIKE 'hourly%' OR table_name LIKE 'daily%' OR table_name LIKE '%raw%')"
    )["table_name"]
    return {t: wh.query_df(f'SELECT * FROM "{t}"') for t in sorted(tables)}


def same_rows(
    table: str,
    before: pd.DataFrame,
    after: pd.DataFrame,
    relative: float,
    check_dtype: bool = True,
) -> None:
    """Assert the same rows in any order: every float within ``relative`` of its column's scale.

    ``check_dtype=False`` compares values only (the engines type a count as int32 or int64).
    """
    assert len(before) == len(after), (table, len(before), len(after))
    columns = [c for c in before.columns if c not in RUN_TIME_COLUMNS]
    assert set(columns) <= set(after.columns), table
    floats = [c for c in columns if pd.api.types.is_float_dtype(before[c])]
    keys = [c for c in columns if c not in floats]
    before = before.sort_values(keys, ignore_index=True) if keys else before
    after = after.sort_values(keys, ignore_index=True) if keys else after
    pd.testing.assert_frame_equal(before[keys], after[keys], obj=table, check_dtype=check_dtype)
    for c in floats:
        a, b = before[c].to_numpy(float), after[c].to_numpy(float)
        scale = np.nanmax(np.abs(a), initial=0.0)
        np.testing.assert_allclose(
            b, a, rtol=relative, atol=relative * scale, equal_nan=True, err_msg=f"{table}.{c}"
        )

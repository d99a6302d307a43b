"""Snapshot every table of a warehouse, and compare two snapshots value by value.

Usage: ``python bench/warehouse_snapshot.py dump URL OUT.pkl`` and
``python bench/warehouse_snapshot.py compare A.pkl B.pkl``.

What a speed-up of the backfill must leave unchanged: every table, every row, every value
(floats to a relative 1e-12; JSON documents value by value, with the same tolerance). Columns
that record when or by which run a row was written differ on every run by design and are left
out. Rows are compared in a canonical order (sorted by every column).
"""

import datetime as dt
import json
import math
import pickle
import sys

import numpy as np
import pandas as pd
import sqlalchemy as sa

# Columns that say when or by which run a row was written: different on every run by design.
VOLATILE = (
    "run_id",
    "computed_at",
    "created_at",
    "evaluated_at",
    "ingested_at",
    "materialized_at",
    "updated_at",
)
# Also different between two backfills of the same logs: the wall-clock times of alert
# bookkeeping, the run that last saw an alert, and the (temporary) folder a log file was read
# from. Left out of ``compare`` only (bench_scale's engines share these).
RUN_DEPENDENT = (
    "observed_at",
    "recorded_at",
    "next_attempt_at",
    "first_seen",
    "last_seen",
    "opened_at",
    "resolved_at",
    "last_notified_at",
    "last_run_id",
    "source_file",
)
REL_TOL = 1e-12


def snapshot(url: str) -> dict[str, pd.DataFrame]:
    """Every table of the warehouse at ``url``, without volatile columns, rows sorted."""
    engine = sa.create_engine(url)
    frames = {}
    try:
        with engine.connect() as conn:
            for name in sorted(sa.inspect(conn).get_table_names()):
                frame = pd.read_sql(sa.text(f'SELECT * FROM "{name}"'), conn)
                kept = sorted(c for c in frame.columns if c not in VOLATILE)
                frames[name] = canonical(frame[kept])
    finally:
        engine.dispose()
    return frames


def canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by the non-float columns first, then the floats (stable under 1e-12 noise)."""
    floats = [c for c in frame.columns if pd.api.types.is_float_dtype(frame[c])]
    others = [c for c in frame.columns if c not in floats]
    keys = {c: frame[c].map(lambda v: "" if _null(v) else str(v)) for c in others}
    keys |= {c: frame[c].round(9) for c in floats}
    order = pd.DataFrame(keys).sort_values(by=others + floats, kind="stable").index
    return frame.loc[order].reset_index(drop=True)


def _null(value) -> bool:
    return value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def same(a, b, rel_tol: float = REL_TOL, abs_tol: float = 0.0) -> bool:
    """Equal values: both null, numbers to ``rel_tol``, JSON documents value by value."""
    if _null(a) or _null(b):
        return _null(a) and _null(b)
    if isinstance(a, str) and isinstance(b, str):
        if a == b or a[:1] not in "{[" or b[:1] not in "{[":
            return a == b
        try:
            a, b = json.loads(a), json.loads(b)
        except ValueError:
            return False
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k], rel_tol, abs_tol) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(
            same(x, y, rel_tol, abs_tol) for x, y in zip(a, b, strict=True)
        )
    numbers = (int, float, np.integer, np.floating)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=rel_tol, abs_tol=abs_tol)
    if isinstance(a, dt.datetime | dt.date) and isinstance(b, dt.datetime | dt.date):
        return pd.Timestamp(a).tz_localize(None) == pd.Timestamp(b).tz_localize(None)
    return str(a) == str(b)


def _column_differences(a: pd.Series, b: pd.Series, rel_tol: float, abs_tol: float) -> int:
    a, b = a.reset_index(drop=True), b.reset_index(drop=True)
    if pd.api.types.is_float_dtype(a) and pd.api.types.is_float_dtype(b):
        x, y = a.to_numpy(), b.to_numpy()
        close = np.isclose(x, y, rtol=rel_tol, atol=abs_tol, equal_nan=True) | (x == y)
        return int((~close).sum())
    pairs = zip(a.tolist(), b.tolist(), strict=True)
    return sum(not same(x, y, rel_tol, abs_tol) for x, y in pairs)


def compare(
    left: dict,
    right: dict,
    rel_tol: float = REL_TOL,
    abs_tol: float = 0.0,
    names: tuple[str, str] = ("the first", "the second"),
    ignore: tuple[str, ...] = (),
) -> list[str]:
    """Differences between two sets of tables (empty when they agree value for value).

    Columns named in ``ignore`` are not compared.
    """
    problems = []
    for name in sorted(set(left) | set(right)):
        if name not in left or name not in right:
            problems.append(f"{name}: only in {names[0] if name in left else names[1]}")
            continue
        a, b = left[name], right[name]
        if list(a.columns) != list(b.columns):
            problems.append(f"{name}: columns differ {set(a.columns) ^ set(b.columns)}")
            continue
        if len(a) != len(b):
            problems.append(f"{name}: {len(a)} rows vs {len(b)}")
            continue
        for col in a.columns:
            if col in ignore:
                continue
            bad = _column_differences(a[col], b[col], rel_tol, abs_tol)
            if bad:
                problems.append(f"{name}.{col}: {bad} of {len(a)} values differ")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "dump":
        with open(argv[2], "wb") as out:
            pickle.dump(snapshot(argv[1]), out)
        return 0
    if len(argv) == 3 and argv[0] == "compare":
        with open(argv[1], "rb") as a, open(argv[2], "rb") as b:
            left, right = pickle.load(a), pickle.load(b)
        problems = compare(left, right, ignore=RUN_DEPENDENT)
        rows = sum(len(f) for f in left.values())
        verdict = "identical" if not problems else "DIFFER"
        print(f"{len(left)} tables, {rows:,} rows: {verdict} (not compared: {RUN_DEPENDENT})")
        for p in problems:
            print("  " + p)
        return 1 if problems else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

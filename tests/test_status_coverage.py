"""``modelmon status`` lists every measured prediction day's label coverage, 0 % included.

A batch-scored multiclass model with labels one to three days late: the last day has no label
yet. Its coverage is 0 of its predictions, not a missing line (status read the realised
metrics, which a day without labels has none of). The counts are stored as the daily join
writes them (``daily_performance_counts``), on DuckDB and PostgreSQL.
"""

import datetime as dt

import sqlalchemy as sa
from ticket_router import TICKET_ROUTER

from modelmon_dagster.commands.status import label_coverage
from modelmon_dagster.config import parse_config

ROWS = [  # day, segment value, predictions, labelled
    ("2026-11-25", "__all__", 6984, 5251),
    ("2026-11-25", "chat", 2100, 1580),
    ("2026-11-26", "__all__", 7195, 1791),
    ("2026-11-27", "__all__", 7108, 0),
]


def test_a_day_without_labels_shows_zero_coverage(warehouse):
    config = parse_config({"partitions": {"start_date": "2026-11-18"}, "models": [TICKET_ROUTER]})
    with warehouse.transaction() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE daily_performance_counts (model_name VARCHAR, day_start TIMESTAMP, "
                "segment_column VARCHAR, segment_value VARCHAR, n_predictions BIGINT, "
                "n_labelled BIGINT)"
            )
        )
        for day, value, n, labelled in ROWS:
            conn.execute(
                sa.text(
                    "INSERT INTO daily_performance_counts VALUES ('ticket_router', :d, :c, :v, "
                    ":n, :l)"
                ),
                {
                    "d": dt.datetime.fromisoformat(day),
                    "c": "__all__" if value == "__all__" else "channel",
                    "v": value,
                    "n": n,
                    "l": labelled,
                },
            )
    got = label_coverage(warehouse, config.model("ticket_router"), dt.datetime(2026, 11, 25))
    assert [f"{d:%Y-%m-%d}" for d in got.day_start] == ["2026-11-25", "2026-11-26", "2026-11-27"]
    assert list(got.n_labelled) == [5251, 1791, 0]
    assert list(got.n_predictions) == [6984, 7195, 7108]
    assert [round(c, 6) for c in got.coverage] == [round(5251 / 6984, 6), round(1791 / 7195, 6), 0]

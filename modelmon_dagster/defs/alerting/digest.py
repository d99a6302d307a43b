"""The daily warning digest: one message per digest route, after the day is over."""

import dagster as dg

from modelmon_dagster.alerting import AlertManager
from modelmon_dagster.defs.aggregates.assets import PythonAsset, Window


def _send_digest(w: Window) -> dict:
    manager = AlertManager(w.warehouse, [w.model])
    meta = {}
    for period in w.periods:
        meta |= manager.daily_digest(period.start.date(), w.now).as_metadata()
    meta |= manager.flush(w.now).as_metadata()
    return {
        k: dg.MetadataValue.json(v) if isinstance(v, dict | list) else v for k, v in meta.items()
    }


DIGEST_ASSET = PythonAsset(
    name="alert_digest",
    description=(
        "The day's warnings (WARN alerts and what resolved) as one digest message per digest "
        "route (alerting.routes with delivery: digest), queued in the outbox and sent."
    ),
    deps=("daily_metrics",),
    compute=_send_digest,
)

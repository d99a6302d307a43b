"""What ``make demo`` prints at the end: read back from the warehouse, never from memory."""

import datetime as dt
import json

import pandas as pd

from modelmon_dagster.check_results import latest_results
from modelmon_dagster.checks import FAILED, NOT_JUDGED
from modelmon_dagster.config import MonitoringConfig
from modelmon_dagster.defs.resources import Settings
from modelmon_dagster.ingest.tables import raw_labels_table, raw_predictions_table
from modelmon_dagster.readable import is_missing
from modelmon_dagster.sim.alert_receiver import AlertReceiver
from modelmon_dagster.warehouse import Warehouse

KEY_METRICS = ("accuracy", "recall", "roc_auc", "mae")


def _volumes(warehouse: Warehouse, config: MonitoringConfig) -> None:
    print("\nIngested per model:")
    for model in config.models:
        preds = warehouse.scalar(f'SELECT count(*) FROM "{raw_predictions_table(model).name}"')
        labels = warehouse.scalar(f'SELECT count(*) FROM "{raw_labels_table(model).name}"')
        quarantined = warehouse.scalar(
            "SELECT count(*) FROM quarantined_lines WHERE model_name = :m", {"m": model.name}
        )
        print(
            f"  {model.name:<20} {preds:>9,} predictions  {labels:>9,} labels  "
            f"{quarantined:>5} quarantined lines"
        )


def _performance(warehouse: Warehouse) -> None:
    if not warehouse.table_exists("daily_performance"):
        print("\nNo complete day yet: no daily performance.")
        return
    frame = warehouse.query_df(
        "SELECT model_name, day_start, kind, metric, value, coverage FROM daily_performance "
        "WHERE segment_column = '__all__' ORDER BY model_name, day_start"
    )
    versions = warehouse.query_df(
        "SELECT model_name, period_start, model_version FROM metric_series "
        "WHERE grain = 'daily' AND metric = 'volume'"
    )
    served = {
        (r.model_name, pd.Timestamp(r.period_start)): r.model_version for r in versions.itertuples()
    }
    print("\nPerformance by prediction day (labels so far; the version that served the day):")
    for (model, day), rows in frame.groupby(["model_name", "day_start"]):
        realised = rows[(rows["kind"] == "realised") & rows["metric"].isin(KEY_METRICS)]
        estimated = rows[(rows["kind"] == "estimated") & (rows["metric"] == "accuracy")]
        parts = [f"{r.metric} {r.value:.3f}" for r in realised.sort_values("metric").itertuples()]
        if len(estimated):
            parts.append(f"estimated accuracy {estimated['value'].iloc[0]:.3f}")
        version = served.get((model, pd.Timestamp(day)), "?")
        print(
            f"  {model:<18} {day:%m-%d} {version:<9} coverage {rows['coverage'].iloc[0]:>4.0%}  "
            + ", ".join(parts)
        )


def _checks(warehouse: Warehouse) -> pd.DataFrame:
    frame = latest_results(warehouse, statuses=(FAILED, NOT_JUDGED))
    failed = frame[frame["status"] == FAILED]
    print("\nFailed checks (partitions, days), by model:")
    for (model, asset, check, severity), rows in failed.groupby(
        ["model_name", "asset_name", "check_name", "severity"]
    ):
        days = " ".join(sorted({f"{d:%m-%d}" for d in rows["period_start"]}))
        print(f"  {model:<18} {asset + '.' + check:<38} {severity:<5} {len(rows):>3}x  {days}")
    skipped = frame[frame["status"] == NOT_JUDGED].groupby("check_name").size()
    if len(skipped):
        listed = ", ".join(f"{n} {k}" for k, n in skipped.sort_values(ascending=False).items())
        print(f"  not judged (no data, no labels or no history yet; never alerts): {listed}")
    return failed


# Where each check's metadata names what it flagged.
FLAGGED = {
    "cusum": lambda meta: [s.get("chart") for s in meta.get("signals", [])],
    "control_charts": lambda meta: [b.get("chart") for b in meta.get("beyond", [])],
    "feature_drift": lambda meta: [f"mean[{c}]" for c in meta.get("drifted_columns", [])],
}
PERIOD = {"hourly": dt.timedelta(hours=1), "daily": dt.timedelta(days=1)}


def _first_known(frame: pd.DataFrame, check: str, asset: str, chart: str):
    """When a failure of ``check`` naming ``chart`` was first known: the end of its period."""
    rows = frame[(frame["check_name"] == check) & (frame["asset_name"] == asset)]
    for row in rows.sort_values("period_start").itertuples():
        if chart in FLAGGED[check](json.loads(row.metadata or "{}")):
            return row.period_start + PERIOD[row.grain]
    return None


def _slow_ramp(failed: pd.DataFrame, start: dt.datetime) -> None:
    demand = failed[failed["model_name"] == "demand_forecaster"]
    if demand.empty:
        return
    chart = "mean[temperature_c]"
    firsts = {
        "CUSUM (hourly)": _first_known(demand, "cusum", "hourly_metrics", chart),
        "3-sigma chart (hourly)": _first_known(demand, "control_charts", "hourly_metrics", chart),
        "drift check (hourly)": _first_known(demand, "feature_drift", "hourly_drift", chart),
        "drift check (daily)": _first_known(demand, "feature_drift", "daily_drift", chart),
    }
    print(
        "\nThe slow temperature ramp of demand_forecaster (from day 2 00:00): first alarm of "
        "each check, at the end of the period it judged"
    )
    ramp = start + dt.timedelta(days=2)
    for name, when in firsts.items():
        if when is None:
            print(f"  {name:<24} never")
            continue
        hours = (when - ramp) / dt.timedelta(hours=1)
        into = f"{hours:.0f} h into the ramp" if hours > 0 else "before the ramp: a false alarm"
        print(f"  {name:<24} {when:%m-%d %H:%M}  ({into})")


def _registry(warehouse: Warehouse) -> None:
    if not warehouse.table_exists("registry_events"):
        return
    events = warehouse.query_df(
        'SELECT model_name, kind, version, from_version, "at", actor, reason, trigger_check, '
        "trigger_partition FROM registry_events ORDER BY model_name, seq"
    )
    print("\nRegistry history (who or what changed the served version, and why):")
    for e in events[events["kind"].isin(["promoted", "rolled_back", "rejected"])].itertuples():
        because = (
            "" if is_missing(e.trigger_check) else f"{e.trigger_check} on {e.trigger_partition}; "
        )
        print(
            f"  {e.model_name:<18} {e.at:%m-%d %H:%M} {e.kind:<11} {e.version:<9} by "
            f"{e.actor}: {because}{e.reason}"
        )


def _alerts(warehouse: Warehouse, receiver: AlertReceiver | None) -> None:
    if warehouse.table_exists("alerts"):
        alerts = warehouse.query_df(
            "SELECT status, max_severity, count(*) AS n, sum(notify_count) AS notified "
            "FROM alerts GROUP BY status, max_severity ORDER BY status, max_severity"
        )
        print("\nAlerts (one per model, check and asset while it stays open):")
        for a in alerts.itertuples():
            print(
                f"  {a.status:<9} {a.max_severity:<5} {a.n:>3} alerts, "
                f"notified {a.notified or 0} times"
            )
    if receiver is None:
        print("Notifications went to the routes set in MODELMON_ALERTS_*_URL.")
        return
    kinds: dict[str, int] = {}
    for entry in receiver.received:
        title = entry.get("title") or ""
        if "digest" in title:
            kind = "digest"
        elif "resolved" in title and "new" not in title:
            kind = "resolve"
        else:
            kind = "page"
        label = f"{entry['path']} ({kind})"
        kinds[label] = kinds.get(label, 0) + 1
    print(
        f"Notifications received by the local webhook (127.0.0.1:{receiver.port}): "
        + (", ".join(f"{n} to {k}" for k, n in sorted(kinds.items())) or "none")
        + f"\n  every message: {receiver.record_path}"
    )
    for entry in receiver.received[:4]:
        print(f"  e.g. {entry['path']}: {entry['title']}")


def report(
    config: MonitoringConfig,
    settings: Settings,
    start: dt.datetime,
    end: dt.datetime,
    receiver: AlertReceiver | None,
) -> None:
    """Print the demo's outcome: volumes, performance, checks, the ramp, registry, alerts."""
    warehouse = Warehouse(settings.warehouse_url)
    try:
        _volumes(warehouse, config)
        _performance(warehouse)
        failed = _checks(warehouse)
        _slow_ramp(failed, start)
        _registry(warehouse)
        _alerts(warehouse, receiver)
    finally:
        warehouse.dispose()

"""System-health checks of an hour: latency, error and timeout rates, host resources (no Dagster).

Fixed thresholds from the config, judged on the hour's row of ``hourly_prediction_stats``. A
rate fails only when the Wilson 95 % lower bound of the hour's rate is above the threshold:
one error in ten requests is not a 10 % error rate worth a page. Control charts and CUSUM over
the same numbers (``metrics/charts.py``) catch smaller, relative changes.
"""

import math

import pandas as pd

from modelmon_dagster.checks import CheckOutcome
from modelmon_dagster.config import Thresholds
from modelmon_dagster.stats.latency import count_above
from modelmon_dagster.stats.performance import wilson_interval

# p99 above a threshold means more than this share of requests slower than it.
P99_SHARE = 0.01


def _value(row, name: str) -> float:
    value = row.get(name)
    return math.nan if value is None or value != value else float(value)


def latency_outcome(row: dict, histogram: pd.DataFrame, t: Thresholds) -> CheckOutcome:
    """p99 latency of the hour against ``latency_p99_ms_warn`` / ``latency_p99_ms_error``.

    "p99 above T" means more than 1 % of the requests were slower than T. The check fails only
    when that is clear: the Wilson 95 % lower bound of the share of requests slower than T
    (counted on the hour's log-bin histogram) is above 1 %. One slow request among 70 at night
    is not a p99 of a second; a whole hour six times slower is.
    """
    n = int(row.get("latency_n") or 0)
    p50, p95, p99 = (_value(row, f"latency_{q}_ms") for q in ("p50", "p95", "p99"))
    meta = {
        "requests_with_latency": n,
        "latency_p50_ms": p50,
        "latency_p95_ms": p95,
        "latency_p99_ms": p99,
        "p99_warn_ms": t.latency_p99_ms_warn,
        "p99_error_ms": t.latency_p99_ms_error,
    }
    if n == 0 or math.isnan(p99):
        return CheckOutcome.not_judged("latency", "no request reported a latency", meta, "ERROR")
    bins, counts = histogram["bin_index"].to_numpy(), histogram["n"].to_numpy(dtype=float)
    summary = f"p50 {p50:.0f} ms, p95 {p95:.0f} ms, p99 {p99:.0f} ms over {n} requests"
    for severity, limit in (("ERROR", t.latency_p99_ms_error), ("WARN", t.latency_p99_ms_warn)):
        slow = count_above(bins, counts, limit)
        low = wilson_interval(round(slow), n)[0]
        meta[f"share_slower_than_{limit:g}_ms"] = round(slow / n, 6)
        if low > P99_SHARE:
            return CheckOutcome(
                "latency",
                False,
                severity,
                f"{summary}: {slow / n:.1%} of requests slower than {limit:g} ms "
                f"(95 % lower bound {low:.1%} > 1 %)",
                meta,
            )
    return CheckOutcome("latency", True, "ERROR", summary, meta)


def _rate_findings(n: int, counts: dict[str, int], limits: dict[str, tuple[float, float]]):
    """``(severity, text)`` per rate whose 95 % lower bound exceeds its threshold."""
    findings = []
    for name, k in counts.items():
        warn, error = limits[name]
        low = wilson_interval(k, n)[0]
        rate = k / n
        if low > error:
            findings.append(
                ("ERROR", f"{name} {rate:.1%} (95 % lower bound {low:.1%} > {error:.1%})")
            )
        elif low > warn:
            findings.append(
                ("WARN", f"{name} {rate:.1%} (95 % lower bound {low:.1%} > {warn:.1%})")
            )
    return findings


def error_rate_outcome(row: dict, t: Thresholds) -> CheckOutcome:
    """Error and timeout rates of the hour against ``error_rate_*`` and ``timeout_rate_*``."""
    n = int(row.get("n_predictions") or 0)
    counts = {
        "error rate": int(row.get("n_error") or 0),
        "timeout rate": int(row.get("n_timeout") or 0),
    }
    meta = {
        "requests": n,
        "errors": counts["error rate"],
        "timeouts": counts["timeout rate"],
        "error_rate": counts["error rate"] / n if n else None,
        "timeout_rate": counts["timeout rate"] / n if n else None,
    }
    if n == 0:
        return CheckOutcome.not_judged("error_rate", "no requests in this hour", meta, "ERROR")
    limits = {
        "error rate": (t.error_rate_warn, t.error_rate_error),
        "timeout rate": (t.timeout_rate_warn, t.timeout_rate_error),
    }
    findings = _rate_findings(n, counts, limits)
    if not findings:
        return CheckOutcome(
            "error_rate",
            True,
            "ERROR",
            f"{counts['error rate']} errors and {counts['timeout rate']} timeouts in {n} requests",
            meta,
        )
    severity = "ERROR" if any(s == "ERROR" for s, _ in findings) else "WARN"
    return CheckOutcome("error_rate", False, severity, "; ".join(f for _, f in findings), meta)


def host_outcome(row: dict, t: Thresholds) -> CheckOutcome:
    """Mean CPU use of the serving hosts against ``host_cpu_pct_warn`` / ``_error``.

    Memory and GPU use have no fixed thresholds (they depend on the machine): their control
    charts judge them.
    """
    n = int(row.get("host_cpu_n") or 0)
    cpu = _value(row, "host_cpu_sum") / n if n else math.nan
    memory_n = int(row.get("host_memory_n") or 0)
    meta = {
        "records_with_host_metrics": n,
        "cpu_pct_mean": cpu,
        "cpu_pct_max": _value(row, "host_cpu_max"),
        "memory_mb_mean": _value(row, "host_memory_sum") / memory_n if memory_n else None,
        "memory_mb_max": _value(row, "host_memory_max"),
        "cpu_warn_pct": t.host_cpu_pct_warn,
        "cpu_error_pct": t.host_cpu_pct_error,
    }
    if n == 0:
        return CheckOutcome.not_judged(
            "host_resources", "no record reported host metrics", meta, "ERROR"
        )
    if cpu > t.host_cpu_pct_error:
        return CheckOutcome(
            "host_resources",
            False,
            "ERROR",
            f"mean CPU {cpu:.0f}% > {t.host_cpu_pct_error:g}%",
            meta,
        )
    if cpu > t.host_cpu_pct_warn:
        return CheckOutcome(
            "host_resources", False, "WARN", f"mean CPU {cpu:.0f}% > {t.host_cpu_pct_warn:g}%", meta
        )
    return CheckOutcome(
        "host_resources", True, "ERROR", f"mean CPU {cpu:.0f}% over {n} records", meta
    )

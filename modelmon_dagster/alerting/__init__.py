"""Alert routing, Alertmanager-style: pure decisions plus warehouse state (no Dagster here).

Checks and remediation jobs produce :class:`Signal` values; :class:`AlertManager` turns them
into deduplicated alerts, groups, inhibits and silences them, queues notifications in an
outbox, and delivers them through Apprise to routes named in each model's ``alerting`` config.
"""

from modelmon_dagster.alerting.config import AlertingConfig, InhibitRule, Route, Silence
from modelmon_dagster.alerting.decide import DeliveryPolicy
from modelmon_dagster.alerting.manager import AlertManager
from modelmon_dagster.alerting.reports import DeliveryReport, DigestReport, ProcessReport
from modelmon_dagster.alerting.signals import Signal, check_signal

__all__ = [
    "AlertManager",
    "AlertingConfig",
    "DeliveryPolicy",
    "DeliveryReport",
    "DigestReport",
    "InhibitRule",
    "ProcessReport",
    "Route",
    "Signal",
    "Silence",
    "check_signal",
]

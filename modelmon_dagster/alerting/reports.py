"""What the alert manager's calls report: counts and per-route states, safe for Dagster metadata.

Routes appear as the names of their environment variables; URLs never do.
"""

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Every effect a signal can have (decide.apply_signal), in report order.
EVENTS = ("opened", "updated", "cleared", "resolved", "stale", "ignored", "not_judged")


@dataclass(frozen=True)
class ProcessReport:
    """What one :meth:`AlertManager.process` pass did (counts of signals by effect)."""

    signals: int
    events: Mapping[str, int]  # opened, updated, cleared, resolved, stale, ignored, not_judged
    inhibited: int
    silenced: int
    queued: tuple[str, ...]  # notification ids queued by this pass

    def as_metadata(self) -> dict[str, Any]:
        """Numbers for Dagster metadata (no secrets: routes are variable names)."""
        return {
            "signals": self.signals,
            **{f"alerts_{k}": self.events.get(k, 0) for k in EVENTS},
            "alerts_inhibited": self.inhibited,
            "alerts_silenced": self.silenced,
            "notifications_queued": len(self.queued),
        }


@dataclass(frozen=True)
class DeliveryReport:
    """What one :meth:`AlertManager.flush` did, per route (routes are variable names)."""

    delivered: tuple[str, ...]
    failed: Mapping[str, str]  # notification id -> redacted reason
    routes: Mapping[str, str]  # route -> "ok", "no target configured", "failing: ...", "waiting"
    queued: int  # still waiting after this flush

    def as_metadata(self) -> dict[str, Any]:
        """Numbers and per-route states for Dagster metadata."""
        return {
            "delivered": len(self.delivered),
            "failed": len(self.failed),
            "still_queued": self.queued,
            "routes": dict(self.routes),
        }


@dataclass(frozen=True)
class DigestReport:
    """What :meth:`AlertManager.daily_digest` queued: route -> notification id, or why not."""

    day: dt.date
    routes: Mapping[str, str] = field(default_factory=dict)

    def as_metadata(self) -> dict[str, Any]:
        """Per-route outcome for Dagster metadata."""
        return {"day": self.day.isoformat(), "routes": dict(self.routes)}

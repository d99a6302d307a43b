"""The ``alerting:`` mapping of a monitored model: routes, repeat interval, inhibition, silences.

Parsed with pydantic into frozen, hashable models (a model's config is used as a cache key
elsewhere). Route targets are *names of environment variables* holding Apprise URLs: the URLs
themselves carry tokens and never appear in the config file.

A model without an ``alerting`` key gets :data:`DEFAULT_ROUTES`: ERROR alerts go at once to
``MODELMON_ALERTS_ONCALL_URL``, WARN alerts gather into the daily digest sent to
``MODELMON_ALERTS_DIGEST_URL``.
"""

import datetime as dt
import fnmatch
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from modelmon_dagster.alerting.signals import ERROR, WARN, naive_utc

IMMEDIATE, DIGEST = "immediate", "digest"


class AlertingConfigError(ValueError):
    """The ``alerting`` mapping of a model is invalid; the message names the model and key."""


class _Frozen(BaseModel):
    # allow_inf_nan: a NaN threshold never fires, an infinite one never either.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Route(_Frozen):
    """Where alerts of some severities go, and how: at once or in the daily digest.

    Routes are identified across models by ``url_env``: models sharing a variable share one
    daily digest message.
    """

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    url_env: str = Field(pattern=r"^[A-Z][A-Z0-9_]{0,99}$")
    severities: tuple[Literal["ERROR", "WARN"], ...] = Field(default=(ERROR,), min_length=1)
    delivery: Literal["immediate", "digest"] = IMMEDIATE

    @field_validator("url_env", mode="before")
    @classmethod
    def _not_a_url(cls, value: Any) -> Any:
        # The value is deliberately not echoed: it may be a URL with a token in it.
        if isinstance(value, str) and ("://" in value or "@" in value):
            raise ValueError(
                "looks like a URL: put the Apprise URL in an environment variable and name "
                "that variable here"
            )
        return value


class Silence(_Frozen):
    """Mute the alerts matching ``name`` and ``dimension`` (shell-style globs) until ``until``."""

    name: str = "*"
    dimension: str = "*"
    until: dt.datetime
    comment: str = Field(min_length=1)

    @field_validator("until", mode="before")
    @classmethod
    def _date_is_midnight(cls, value: Any) -> Any:
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return dt.datetime.combine(value, dt.time())
        return value

    @field_validator("until")
    @classmethod
    def _naive_utc(cls, value: dt.datetime) -> dt.datetime:
        return naive_utc(value)

    def matches(self, name: str, dimension: str, now: dt.datetime) -> bool:
        """Whether this silence mutes an alert ``name``/``dimension`` at ``now``."""
        return (
            now < self.until
            and fnmatch.fnmatchcase(name, self.name)
            and fnmatch.fnmatchcase(dimension, self.dimension)
        )


class InhibitRule(_Frozen):
    """While ``source`` fires for a period, ``targets`` of the same model and period are muted."""

    source: str = "schema"
    targets: tuple[str, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _source_not_a_target(self) -> "InhibitRule":
        if self.source in self.targets:
            raise ValueError(f"{self.source!r} cannot inhibit itself")
        return self


DEFAULT_ROUTES = (
    Route(name="oncall", url_env="MODELMON_ALERTS_ONCALL_URL", severities=(ERROR,)),
    Route(
        name="data_science",
        url_env="MODELMON_ALERTS_DIGEST_URL",
        severities=(WARN,),
        delivery=DIGEST,
    ),
)
# The blocking schema check fails an hour: drift and quality of that hour are consequences.
DEFAULT_INHIBIT = (
    InhibitRule(
        source="schema",
        targets=("data_quality", "feature_drift", "prediction_drift", "segment_drift"),
    ),
)


class AlertingConfig(_Frozen):
    """How one model's alerts are routed, repeated, inhibited and silenced."""

    routes: tuple[Route, ...] = Field(default=DEFAULT_ROUTES, min_length=1)
    repeat_interval_hours: float = Field(default=4.0, gt=0)
    # Check results about periods older than this (backfills, late reruns) update check_results
    # but are not routed: a 30-day backfill must not page for last month.
    horizon_hours: float = Field(default=48.0, gt=0)
    inhibit: tuple[InhibitRule, ...] = DEFAULT_INHIBIT
    silences: tuple[Silence, ...] = ()

    @model_validator(mode="after")
    def _unique_routes(self) -> "AlertingConfig":
        for attr in ("name", "url_env"):
            values = [getattr(r, attr) for r in self.routes]
            duplicated = sorted({v for v in values if values.count(v) > 1})
            if duplicated:
                raise ValueError(f"routes: duplicate {attr} {duplicated}")
        return self

    @property
    def horizon(self) -> dt.timedelta:
        """How old a period may be and still have its check results routed."""
        return dt.timedelta(hours=self.horizon_hours)

    @property
    def repeat_interval(self) -> dt.timedelta:
        """How long an open, notified alert waits before it is notified again."""
        return dt.timedelta(hours=self.repeat_interval_hours)

    def routes_for(self, delivery: str, severity: str) -> tuple[Route, ...]:
        """Routes of kind ``delivery`` that take alerts of ``severity``."""
        return tuple(r for r in self.routes if r.delivery == delivery and severity in r.severities)

    def route(self, url_env: str) -> Route | None:
        """The route whose target variable is ``url_env``, if any."""
        return next((r for r in self.routes if r.url_env == url_env), None)

    def inhibiting_sources(self, name: str) -> tuple[str, ...]:
        """Signal names whose firing in a period mutes ``name`` in the same period."""
        return tuple(rule.source for rule in self.inhibit if name in rule.targets)

    def silence_for(self, name: str, dimension: str, now: dt.datetime) -> Silence | None:
        """The first active silence matching ``name``/``dimension`` at ``now``."""
        return next((s for s in self.silences if s.matches(name, dimension, now)), None)


def parse_alerting(raw: Any, where: str) -> AlertingConfig:
    """Validate one model's ``alerting`` mapping (``None``: the defaults).

    Raises
    ------
    AlertingConfigError
        Naming ``where`` (the model) and the key, never echoing the offending value (a value put
        in the wrong place may be a secret URL).
    """
    if raw is None:
        return AlertingConfig()
    if not isinstance(raw, dict):
        raise AlertingConfigError(f"{where}.alerting: expected a mapping")
    try:
        return AlertingConfig.model_validate(raw)
    except pydantic.ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False, include_input=False):
            loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
            problems.append(f"{where}.alerting{loc}: {error['msg'].removeprefix('Value error, ')}")
        raise AlertingConfigError("; ".join(problems)) from None

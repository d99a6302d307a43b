"""Scenario switches of the simulator: what goes wrong, for which model, and when.

Every scenario names one model and a time window ``[start, end)`` of naive UTC datetimes
(``end=None``: from ``start`` on, for ever). A scenario acts on the records whose timestamp
falls in its window, except :class:`VolumeDrop`, which scales the expected traffic of each hour
by the share of the hour that the window covers.

Scenarios are plain frozen dataclasses with keyword-only fields; the generator
(:func:`modelmon_dagster.sim.generator.simulate`) interprets them.
"""

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

_EPOCH = dt.datetime(1970, 1, 1)
_US = dt.timedelta(microseconds=1)


def to_us(ts: dt.datetime) -> int:
    """Microseconds since the Unix epoch of a naive-UTC (or aware) datetime."""
    if ts.tzinfo is not None:
        ts = ts.astimezone(dt.UTC).replace(tzinfo=None)
    return (ts - _EPOCH) // _US


def _naive(ts: dt.datetime | None) -> dt.datetime | None:
    if ts is None or ts.tzinfo is None:
        return ts
    return ts.astimezone(dt.UTC).replace(tzinfo=None)


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """Base of all scenarios: a model and a time window ``[start, end)``.

    Parameters
    ----------
    model_name : str
        The affected model.
    start : datetime
        First affected instant (naive UTC; an aware datetime is converted).
    end : datetime, optional
        First unaffected instant; ``None`` means the scenario never ends.
    """

    model_name: str
    start: dt.datetime
    end: dt.datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _naive(self.start))
        object.__setattr__(self, "end", _naive(self.end))
        if self.end is not None and self.end <= self.start:
            name = type(self).__name__
            raise ValueError(f"{name}: end {self.end} is not after start {self.start}")

    def mask(self, ts_us: np.ndarray) -> np.ndarray:
        """Whether each timestamp (microseconds since the epoch) is inside the window."""
        inside = ts_us >= to_us(self.start)
        if self.end is not None:
            inside &= ts_us < to_us(self.end)
        return inside

    def overlap(self, hour: dt.datetime) -> float:
        """Share of the hour starting at ``hour`` that lies inside the window."""
        lo = max(hour, self.start)
        hi = hour + dt.timedelta(hours=1)
        if self.end is not None:
            hi = min(hi, self.end)
        return max((hi - lo) / dt.timedelta(hours=1), 0.0)

    def window_text(self) -> str:
        """Describe the window, for summaries."""
        end = "open end" if self.end is None else self.end.isoformat(sep=" ", timespec="minutes")
        return f"{self.start.isoformat(sep=' ', timespec='minutes')} -> {end}"


def _weights(value: Mapping[str, float] | tuple | None) -> tuple[tuple[str, float], ...] | None:
    if value is None:
        return None
    pairs = value.items() if isinstance(value, Mapping) else value
    out = tuple(sorted((str(k), float(w)) for k, w in pairs))
    if any(w < 0 for _, w in out):
        raise ValueError("category weights must not be negative")
    return out


@dataclass(frozen=True, kw_only=True)
class FeatureDrift(Scenario):
    """Data drift of one input: ``x -> x * scale + shift`` or a reweighted category mix.

    For a numeric ``feature`` set ``scale``/``shift``; for a categorical one set
    ``category_weights`` (category -> multiplier of its base probability; a dict is accepted and
    stored as sorted pairs; unnamed categories keep weight 1). The true outcome function is
    unchanged: labels follow the drifted inputs. Subclasses define how the strength evolves.
    """

    feature: str
    shift: float = 0.0
    scale: float = 1.0
    category_weights: tuple[tuple[str, float], ...] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "category_weights", _weights(self.category_weights))

    def progress(self, ts_us: np.ndarray) -> np.ndarray:
        """Strength in [0, 1] of the drift per record."""
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class AbruptDrift(FeatureDrift):
    """Data drift at full strength for the whole window (see :class:`FeatureDrift`)."""

    def progress(self, ts_us: np.ndarray) -> np.ndarray:
        """1 inside the window, 0 outside."""
        return self.mask(ts_us).astype(float)


@dataclass(frozen=True, kw_only=True)
class GradualDrift(FeatureDrift):
    """Data drift ramping linearly from nothing at ``start`` to full strength at ``end``.

    At progress ``p`` a numeric value becomes ``x * (1 + p * (scale - 1)) + p * shift`` and a
    category weight ``1 + p * (w - 1)``. ``end`` is required; outside the window there is no
    drift.
    """

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.end is None:
            raise ValueError("GradualDrift needs an end")

    def progress(self, ts_us: np.ndarray) -> np.ndarray:
        """Linear ramp from 0 at ``start`` to 1 at ``end``; 0 outside the window."""
        lo, hi = to_us(self.start), to_us(self.end)
        ramp = (ts_us - lo) / (hi - lo)
        return np.where(self.mask(ts_us), np.clip(ramp, 0.0, 1.0), 0.0)


@dataclass(frozen=True, kw_only=True)
class ConceptDrift(Scenario):
    """Same inputs, different true outcome function: labels change, predictions do not.

    ``strength`` in [0, 1] mixes the original and the drifted outcome functions of the model's
    world (log-odds for classifiers, log-demand for regression).
    """

    strength: float = 1.0


@dataclass(frozen=True, kw_only=True)
class LabelDrift(Scenario):
    """Prior / label drift: the outcome level moves, the inputs do not.

    ``logit_shift`` is added to the true log-odds of a classifier (base-rate shift);
    ``outcome_scale`` multiplies the true value of a regression target.
    """

    logit_shift: float = 0.0
    outcome_scale: float = 1.0


@dataclass(frozen=True, kw_only=True)
class LatencySpike(Scenario):
    """Serving latency multiplied by ``factor`` (only for ``version``'s requests, if given)."""

    factor: float
    version: str | None = None


@dataclass(frozen=True, kw_only=True)
class ErrorBurst(Scenario):
    """An extra share ``rate`` of requests fail; ``timeout_share`` of those time out.

    With ``version``, only requests served by that model version (a bad deploy: the errors
    stop when the version stops serving).
    """

    rate: float
    timeout_share: float = 0.0
    version: str | None = None


@dataclass(frozen=True, kw_only=True)
class SchemaBreak(Scenario):
    """A share ``fraction`` of records log ``feature`` wrongly.

    ``mode`` is ``"missing"`` (key absent), ``"null"`` (JSON null) or ``"string"`` (a numeric
    feature sent as the string ``text``). The model itself scored the correct value.
    """

    feature: str
    fraction: float
    mode: str = "missing"
    text: str = "n/a"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mode not in ("missing", "null", "string"):
            raise ValueError(f"SchemaBreak.mode: {self.mode!r} is not missing, null or string")


@dataclass(frozen=True, kw_only=True)
class VolumeDrop(Scenario):
    """Traffic multiplied by ``factor`` (hour by hour, by the share of the hour covered)."""

    factor: float


@dataclass(frozen=True, kw_only=True)
class MalformedLines(Scenario):
    """A share ``fraction`` of prediction lines is written broken.

    Each broken line is, with equal chance, a truncated JSON object, a line of non-JSON text
    or the record wrapped in a JSON array. The record itself is lost; its label, if any,
    still arrives (an orphan label, as when a log line is lost in production).
    """

    fraction: float


def demo_scenarios(start: dt.datetime) -> list[Scenario]:
    """Return the scenario preset of the 7-day demo from ``start`` (day ``d`` = start + d days).

    ==================  ========================================  ============================
    model               what                                      when (day d, UTC)
    ==================  ========================================  ============================
    fraud_detector      nothing (clean)                           days 0-1
    fraud_detector      LatencySpike x6                           day 2 14:00-17:00
    fraud_detector      AbruptDrift amount x1.8                   day 3 00:00 onward
    fraud_detector      AbruptDrift country mix: BR x3, NG x4,    day 3 00:00 onward
                        US x0.5
    fraud_detector      MalformedLines 3 %                        day 4 09:00-10:00
    fraud_detector      SchemaBreak account_age_days as "n/a"     day 4 12:00-14:00
                        for 30 %
    fraud_detector      SchemaBreak merchant_category missing     day 4 12:00-14:00
                        for 20 %
    fraud_detector      ConceptDrift (fraud becomes card          day 5 00:00 onward
                        testing: small amounts, bursts, tablets;
                        v1 accuracy and recall drop clearly)
    fraud_detector      ErrorBurst 15 % (status error)            day 5 03:00-05:00
    demand_forecaster   nothing (clean)                           day 0
    demand_forecaster   ErrorBurst 20 %, half status timeout,     day 1 20:00-21:00
                        half status error
    demand_forecaster   GradualDrift temperature_c +4 degC        day 2 00:00 to day 10 00:00
                        (a slow linear ramp, full at the end)
    demand_forecaster   VolumeDrop x0.2                           day 4 06:00-12:00
    demand_forecaster   LabelDrift true units x1.3 (v1 under-     day 5 00:00 onward
                        forecasts by about 23 %)
    demand_forecaster   ErrorBurst 25 % and LatencySpike x3 on    day 8 00:00 onward, while
                        requests served by hotfix-1 (a bad deploy) hotfix-1 serves
    ==================  ========================================  ============================

    Parameters
    ----------
    start : datetime
        Demo start (naive UTC, normally midnight of ``partitions.start_date``).

    Returns
    -------
    list of Scenario
        The scenarios above, in that order.
    """
    start = _naive(start)

    def day(d: int, hour: int = 0) -> dt.datetime:
        return start + dt.timedelta(days=d, hours=hour)

    fraud, demand = "fraud_detector", "demand_forecaster"
    return [
        LatencySpike(model_name=fraud, start=day(2, 14), end=day(2, 17), factor=6.0),
        AbruptDrift(model_name=fraud, start=day(3), feature="amount", scale=1.8),
        AbruptDrift(
            model_name=fraud,
            start=day(3),
            feature="country",
            category_weights={"BR": 3.0, "NG": 4.0, "US": 0.5},
        ),
        MalformedLines(model_name=fraud, start=day(4, 9), end=day(4, 10), fraction=0.03),
        SchemaBreak(
            model_name=fraud,
            start=day(4, 12),
            end=day(4, 14),
            feature="account_age_days",
            fraction=0.3,
            mode="string",
        ),
        SchemaBreak(
            model_name=fraud,
            start=day(4, 12),
            end=day(4, 14),
            feature="merchant_category",
            fraction=0.2,
            mode="missing",
        ),
        ConceptDrift(model_name=fraud, start=day(5)),
        ErrorBurst(model_name=fraud, start=day(5, 3), end=day(5, 5), rate=0.15),
        ErrorBurst(
            model_name=demand, start=day(1, 20), end=day(1, 21), rate=0.2, timeout_share=0.5
        ),
        GradualDrift(
            model_name=demand, start=day(2), end=day(10), feature="temperature_c", shift=4.0
        ),
        VolumeDrop(model_name=demand, start=day(4, 6), end=day(4, 12), factor=0.2),
        LabelDrift(model_name=demand, start=day(5), outcome_scale=1.3),
        # the bad deploy of day 8 (see demo_deploys): a quarter of its requests fail, slowly
        ErrorBurst(model_name=demand, start=day(8), rate=0.25, version=HOTFIX),
        LatencySpike(model_name=demand, start=day(8), factor=3.0, version=HOTFIX),
    ]


HOTFIX = "hotfix-1"


@dataclass(frozen=True)
class Deploy:
    """A person deploys ``version`` (served by the simulator's ``artifact``) at ``at``."""

    model_name: str
    at: dt.datetime
    version: str
    artifact: str  # a built-in simulated version, e.g. "v2"
    reason: str


def demo_deploys(start: dt.datetime) -> list[Deploy]:
    """The demo's manual deploys: demand_forecaster's ``hotfix-1`` on day 8 at 00:00.

    It is served by the simulator's v2 coefficients, and the preset makes a quarter of its
    requests fail and all of them three times slower (a bad build): the error-rate and latency
    checks fail within its first hours, and the remediation policy rolls it back.
    """
    start = _naive(start)
    return [
        Deploy(
            model_name="demand_forecaster",
            at=start + dt.timedelta(days=8),
            version=HOTFIX,
            artifact="v2",
            reason="hotfix for the promo feature (deployed by CI)",
        )
    ]


clean_scenarios: list[Scenario] = []

"""The ``control_charts:`` mapping of a monitored model (pydantic; errors name model and key)."""

from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, model_validator

# Charted by default: system health, the model's outputs, and every numeric column's mean
# ("mean" stands for the means of all numeric features, the score and a numeric prediction).
DEFAULT_CHARTED = (
    "error_rate",
    "timeout_rate",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "host_cpu_pct",
    "host_memory_mb",
    "positive_rate",
    "mean",
)


class _Frozen(BaseModel):
    # allow_inf_nan: a NaN or infinite setting makes a chart that never fires.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class CusumSettings(_Frozen):
    """Page's two-sided tabular CUSUM on the charted metrics' standardised values."""

    k: float = Field(default=0.5, ge=0, description="Reference value, in sigma units.")
    h: float | None = Field(
        default=None, gt=0, description="Decision interval in sigma units; default from arl0."
    )
    arl0: float = Field(
        default=500.0,
        gt=1,
        description="In-control average run length of the whole check (all charted metrics): "
        "each metric's h is set for arl0 times the number of metrics.",
    )
    hold_periods: int = Field(
        default=24, ge=1, description="The check stays failed this many periods after a signal."
    )
    severity: Literal["WARN", "ERROR"] = "WARN"


class ControlChartSettings(_Frozen):
    """Shewhart charts (2 sigma WARN, 3 sigma ERROR) and CUSUM over the hourly metric series."""

    enabled: bool = True
    baseline_days: float = Field(
        default=7.0,
        gt=0,
        description="Limits come from the first baseline_days of each model version's series.",
    )
    sigma: Literal["moving_range", "sample_std", "mad"] = "moving_range"
    warn_sigmas: float = Field(default=2.0, gt=0)
    error_sigmas: float = Field(default=3.0, gt=0)
    min_points: int = Field(default=20, ge=2, description="Fewest baseline points per chart.")
    metrics: tuple[str, ...] = DEFAULT_CHARTED
    cusum: CusumSettings = CusumSettings()

    @model_validator(mode="after")
    def _warn_below_error(self) -> "ControlChartSettings":
        if self.warn_sigmas >= self.error_sigmas:
            raise ValueError("warn_sigmas must be below error_sigmas")
        return self


def parse_control_charts(raw: Any, where: str) -> ControlChartSettings:
    """Validate a model's ``control_charts`` mapping (``None``: the defaults)."""
    if raw is None:
        return ControlChartSettings()
    try:
        return ControlChartSettings.model_validate(raw)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{where}.control_charts.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            if e["loc"]
            else f"{where}.control_charts: {e['msg']}"
            for e in exc.errors()
        )
        raise ValueError(problems) from None

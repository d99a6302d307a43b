"""Values as a person reads them: rounded numbers, UTC times to the second, a dash for nothing.

Used wherever text is written for people (the monthly review page, check messages); tools and
the warehouse keep full precision.
"""

import datetime as dt
import math

import pandas as pd

MISSING = "—"


def is_missing(value) -> bool:
    """``None``, NaN and NaT (pandas' several spellings of "no value")."""
    if value is None or value is pd.NaT:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # lists, arrays: not a missing scalar
        return False


def number(value, digits: int = 4) -> str:
    """``value`` to ``digits`` significant digits, never in exponent form for everyday sizes.

    Whole numbers stay whole (``1200``, not ``1.2e+03``); fractions keep ``digits`` significant
    digits (``0.04037``, ``31.45``); magnitudes of a million or more, or below 0.0001, use
    exponent form (``1.235e+07``). Missing values are an em dash.
    """
    if is_missing(value):
        return MISSING
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    if isinstance(value, int) or (value == int(value) and abs(value) < 1e15):
        return f"{int(value):,}" if abs(value) >= 10_000 else str(int(value))
    size = abs(value)
    if size >= 1e6 or size < 1e-4:
        return f"{value:.{digits - 1}e}"
    decimals = max(0, digits - 1 - math.floor(math.log10(size)))
    text = f"{value:,.{decimals}f}" if size >= 10_000 else f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


_ACRONYMS = {"auc", "roc", "pr", "mae", "rmse", "mape", "ece", "fpr", "tpr", "f1", "psi"}
_MEASURES = {"wasserstein/std": "shift {:.2f} std", "js_distance": "Jensen-Shannon {:.2f}"}


def name(identifier: str) -> str:
    """An internal metric name in words: ``estimated_roc_auc`` -> ``estimated ROC AUC``."""
    return " ".join(
        w.upper() if w in _ACRONYMS else w for w in identifier.removeprefix("f_").split("_")
    )


def effect(measure: str, size: float) -> str:
    """A drift effect size with its measure in words: ``shift 0.30 std``."""
    template = _MEASURES.get(measure)
    return template.format(size) if template else f"{name(measure)} {size:.2f}"


def timestamp(value, seconds: bool = True) -> str:
    """A (naive UTC) time as ``2026-11-16 02:42:18`` (or to the minute), missing as a dash."""
    if is_missing(value):
        return MISSING
    if isinstance(value, str):
        value = pd.Timestamp(value)
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")

"""Client SDK: log predictions and labels from a model service to hourly JSON-lines files."""

from modelmon_dagster.sdk.logger import LabelLogger, PredictionLogger
from modelmon_dagster.sdk.writer import HourlyJsonlWriter

__all__ = ["HourlyJsonlWriter", "LabelLogger", "PredictionLogger"]

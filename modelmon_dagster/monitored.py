"""The columns whose distributions are tracked: every feature, plus the model's outputs."""

from dataclasses import dataclass

from modelmon_dagster.config import FeatureType, ModelConfig, Task


@dataclass(frozen=True)
class MonitoredColumn:
    """One tracked column of a model's raw predictions table.

    ``role`` is ``feature``, ``prediction`` or ``score`` (the confidence); ``sql_column`` is the
    column in the raw table.
    """

    name: str
    role: str
    kind: FeatureType
    sql_column: str

    @property
    def is_numeric(self) -> bool:
        """Whether the column is binned on quantile edges (else top-k categories)."""
        return self.kind is FeatureType.NUMERIC


def monitored_columns(model: ModelConfig) -> tuple[MonitoredColumn, ...]:
    """Features in config order, then prediction, then score for classifiers."""
    cols = [MonitoredColumn(f.name, "feature", f.type, f.column) for f in model.features]
    if model.task is Task.REGRESSION:
        cols.append(
            MonitoredColumn("prediction", "prediction", FeatureType.NUMERIC, "prediction_value")
        )
    else:
        cols.append(
            MonitoredColumn("prediction", "prediction", FeatureType.CATEGORICAL, "prediction_label")
        )
        cols.append(MonitoredColumn("score", "score", FeatureType.NUMERIC, "score"))
    return tuple(cols)

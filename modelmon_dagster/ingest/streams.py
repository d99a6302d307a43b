"""What a valid record of each stream looks like, written as DuckDB SQL fragments.

Every identifier here comes from validated config (see ``config.check_identifier``) or is a
constant, so rendering them into SQL is safe; values are always bound parameters.
"""

from dataclasses import dataclass, field

from modelmon_dagster.config import FeatureType, ModelConfig, Task

DUCK_TYPES = {FeatureType.NUMERIC: "DOUBLE", FeatureType.CATEGORICAL: "VARCHAR"}


Shape = str | dict[str, "Shape"]


def duck_type(shape: Shape) -> str:
    """DuckDB column type of a shape (nested dicts become STRUCTs)."""
    if isinstance(shape, str):
        return shape
    return "STRUCT(" + ", ".join(f'"{k}" {duck_type(v)}' for k, v in shape.items()) + ")"


def transform_shape(shape: Shape) -> str:
    """The same shape as a ``json_transform`` structure literal."""
    if isinstance(shape, str):
        return f'"{shape}"'
    return "{" + ", ".join(f'"{k}": {transform_shape(v)}' for k, v in shape.items()) + "}"


@dataclass(frozen=True)
class StreamSpec:
    """How to read, type and validate one log stream of one model."""

    name: str
    shape: dict[str, Shape]  # top-level key -> type or nested shape
    select_columns: str  # SQL over struct `s` producing the normalised columns
    reasons: list[tuple[str, str]]  # (SQL condition that makes a line invalid, reason)
    feature_types: dict[str, str] = field(default_factory=dict)
    required_features: tuple[str, ...] = ()
    # Predictions: a repeated id is quarantined. Labels: corrections may repeat an id; all are
    # kept and the latest wins downstream.
    unique_ids: bool = True
    # Optional top-level numbers: absent or null is fine, a value of another type is not.
    optional_numbers: tuple[str, ...] = ()

    def read_json_columns(self) -> str:
        """The ``columns=`` argument of ``read_json`` for the fast path."""
        return "{" + ", ".join(f"'{k}': '{duck_type(v)}'" for k, v in self.shape.items()) + "}"

    def transform_shape(self) -> str:
        """The ``json_transform`` structure for the line-by-line path."""
        return transform_shape(self.shape)


HOST: dict[str, Shape] = {"cpu_pct": "DOUBLE", "memory_mb": "DOUBLE", "gpu_pct": "DOUBLE"}


def finite(expr: str) -> str:
    """``expr`` where it is a finite number, else NULL (NaN and infinities are not values)."""
    return f"CASE WHEN isfinite({expr}) THEN {expr} END"


def has_nul(columns: list[str]) -> str:
    """SQL condition: one of the string ``columns`` holds a NUL character.

    PostgreSQL cannot store NUL in text, so such a line is quarantined rather than failing the
    whole hour's write there (and stored differently on DuckDB).
    """
    return f"strpos(concat_ws('', {', '.join(columns)}), chr(0)) > 0"


def _feature_value(feature) -> str:
    value = f's.features."{feature.name}"'
    return finite(value) if feature.type is FeatureType.NUMERIC else value


def prediction_stream(model: ModelConfig) -> StreamSpec:
    """Spec of a model's prediction log."""
    features = {f.name: DUCK_TYPES[f.type] for f in model.features}
    feature_columns = ", ".join(f'{_feature_value(f)} AS "{f.column}"' for f in model.features)
    categorical = [f'"{f.column}"' for f in model.features if f.type is FeatureType.CATEGORICAL]
    if model.task is Task.REGRESSION:
        prediction_ok = (
            "json_type(prediction) IN ('DOUBLE', 'BIGINT', 'UBIGINT') "
            "AND isfinite(try_cast(prediction AS DOUBLE))"
        )
    else:
        # A membership test on the few classes, not a join (a fifth of a clean chunk's time).
        prediction_ok = "list_contains($classes, prediction ->> '$')"
    select_columns = f"""
        s.prediction_id AS prediction_id,
        s.model_name AS model_name,
        s.model_version AS model_version,
        s."timestamp" AS ts_text,
        try_cast(s."timestamp" AS TIMESTAMPTZ) AS ts,
        s.status AS status,
        s.error_type AS error_type,
        s.latency_ms AS latency_ms,
        s.prediction AS prediction,
        s.score AS score,
        CAST(s.probabilities AS VARCHAR) AS probabilities,
        {finite("s.host.cpu_pct")} AS host_cpu_pct,
        {finite("s.host.memory_mb")} AS host_memory_mb,
        {finite("s.host.gpu_pct")} AS host_gpu_pct,
        {feature_columns}
    """
    reasons = [
        ("prediction_id IS NULL OR prediction_id = ''", "missing prediction_id"),
        (
            has_nul(
                ["prediction_id", "model_version", "ts_text", "status", "error_type"]
                + ["prediction ->> '$'", "probabilities", *categorical]
            ),
            "NUL character in a string value",
        ),
        ("model_name IS DISTINCT FROM $model_name", "model_name does not match the model"),
        ("model_version IS NULL OR model_version = ''", "missing model_version"),
        ("ts IS NULL", "missing or invalid timestamp"),
        (
            "$window_start IS NOT NULL AND (ts < $window_start OR ts >= $window_end)",
            "timestamp outside the partition hour",
        ),
        ("status IS NULL OR status NOT IN ('ok', 'error', 'timeout')", "invalid status"),
        ("NOT isfinite(latency_ms)", "non-finite latency_ms"),
        # Optional: a batch scorer has no latency (stored NULL; the latency check does not
        # judge an hour without any). A present value must be a number >= 0.
        ('"tn_latency_ms" OR latency_ms < 0', "invalid latency_ms"),
        ("status = 'ok' AND prediction IS NULL", "missing prediction on an ok record"),
        (f"prediction IS NOT NULL AND NOT coalesce({prediction_ok}, false)", "invalid prediction"),
        ("NOT isfinite(score)", "non-finite score"),
        ("score IS NOT NULL AND (score < 0 OR score > 1)", "score outside [0, 1]"),
        (
            "prediction_id IN (SELECT unnest(CAST($repeated_ids AS VARCHAR[])))",
            "prediction_id already stored in another hour",
        ),
    ]
    if model.task.is_classification:
        reasons.append(("status = 'ok' AND score IS NULL", "missing score on an ok record"))
    # Last, as within a chunk (``parser._validate`` ranks only otherwise valid records): an id
    # accepted in an earlier chunk of the hour.
    reasons.append(
        (
            "prediction_id IN (SELECT unnest(CAST($earlier_ids AS VARCHAR[])))",
            "duplicate prediction_id",
        )
    )
    return StreamSpec(
        name="predictions",
        shape={
            "prediction_id": "VARCHAR",
            "model_name": "VARCHAR",
            "model_version": "VARCHAR",
            "timestamp": "VARCHAR",
            "prediction": "JSON",
            "score": "DOUBLE",
            "probabilities": "JSON",
            "latency_ms": "DOUBLE",
            "status": "VARCHAR",
            "error_type": "VARCHAR",
            "host": HOST,
            "features": features,
        },
        feature_types=features,
        select_columns=select_columns,
        reasons=reasons,
        required_features=tuple(f.name for f in model.features if f.required),
        optional_numbers=("latency_ms",),
    )


def label_stream(model: ModelConfig) -> StreamSpec:
    """Spec of a model's label log."""
    if model.task is Task.REGRESSION:
        label_ok = (
            "json_type(label) IN ('DOUBLE', 'BIGINT', 'UBIGINT') "
            "AND isfinite(try_cast(label AS DOUBLE))"
        )
    else:
        label_ok = "list_contains($classes, label ->> '$')"
    select_columns = """
        s.prediction_id AS prediction_id,
        s.model_name AS model_name,
        s.label AS label,
        s.label_timestamp AS ts_text,
        try_cast(s.label_timestamp AS TIMESTAMPTZ) AS ts
    """
    reasons = [
        ("prediction_id IS NULL OR prediction_id = ''", "missing prediction_id"),
        (has_nul(["prediction_id", "label ->> '$'", "ts_text"]), "NUL character in a string value"),
        ("model_name IS DISTINCT FROM $model_name", "model_name does not match the model"),
        ("label IS NULL", "missing label"),
        (f"NOT coalesce({label_ok}, false)", "invalid label"),
        ("ts IS NULL", "missing or invalid label_timestamp"),
        # $window_end: the end of the arrival hour plus the clock-skew allowance.
        ("ts >= $window_end", "label_timestamp after its arrival hour"),
    ]
    return StreamSpec(
        name="labels",
        shape={
            "prediction_id": "VARCHAR",
            "model_name": "VARCHAR",
            "label": "JSON",
            "label_timestamp": "VARCHAR",
        },
        select_columns=select_columns,
        reasons=reasons,
        unique_ids=False,
    )

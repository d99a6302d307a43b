"""One step per monitored model and grain: the SQL models, then the Python assets built on them.

The translator makes every ``dbt_like_sql`` model an asset under each monitored model; its
dependencies come from the parsed ``ref()``/``source()`` calls, and from the baseline when the
SQL bins or shifts by it. The models of one grain run in one multi-asset step, each replacing
its partition window in its own transaction, in ``ref()`` order. Python assets of the same grain
(drift, performance) run after them in the same step, and the step evaluates the grain's asset
checks, per partition. A run may cover one partition (schedules) or a range (backfills): SQL
models run once per stretch of partitions that share a baseline, checks judge each partition.
Fewer steps and runs keep Dagster's per-step overhead down (see docs/DESIGN.md).
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from modelmon_dagster.baseline import Baseline, baseline_for_window, baselines_by_hour
from modelmon_dagster.checks import CheckOutcome
from modelmon_dagster.config import ModelConfig
from modelmon_dagster.dashboard.guidance import check_description
from modelmon_dagster.defs.aggregates.describe import DESCRIBERS
from modelmon_dagster.defs.checks import CheckRecorder
from modelmon_dagster.defs.partitions import Period, run_periods
from modelmon_dagster.defs.resources import WAREHOUSE_POOL, ClockResource, WarehouseResource
from modelmon_dagster.defs.retry import retry_only_connection_failures
from modelmon_dagster.ingest.tables import raw_labels_table, raw_predictions_table
from modelmon_dagster.sql import SqlModel, SqlProject, run_model_window
from modelmon_dagster.warehouse import Warehouse


@dataclass(frozen=True)
class Window:
    """What a Python asset or check sees: the warehouse, the model and the partition window.

    ``periods`` are the run's partitions inside ``[start, end)`` (one, or a backfill's range).
    """

    warehouse: Warehouse
    model: ModelConfig
    start: dt.datetime
    end: dt.datetime
    periods: tuple[Period, ...] = ()
    now: dt.datetime | None = None  # the run's clock (ClockResource)
    # What the step's checks read more than once (e.g. a day's performance rows), by key.
    cache: dict = field(default_factory=dict, compare=False, repr=False)

    def single(self, period: Period) -> "Window":
        """The window of one of its partitions (the same object for the same partition)."""
        key = ("window", period.key)
        if key not in self.cache:
            self.cache[key] = Window(
                self.warehouse, self.model, period.start, period.end, (period,), self.now
            )
        return self.cache[key]

    def memo(self, name: str, compute: Callable[[], object]):
        """``compute()`` once per window and ``name`` (checks of one step share reads)."""
        if name not in self.cache:
            self.cache[name] = compute()
        return self.cache[name]


@dataclass(frozen=True)
class StepCheck:
    """An asset check evaluated at the end of a step, once per partition.

    ``evaluate`` judges one partition's window. A check that can judge a whole range more
    cheaply (one query instead of one per partition) gives ``evaluate_range`` instead, returning
    an outcome per partition key.
    """

    asset: str  # asset name under the model's prefix
    name: str
    description: str
    evaluate: Callable[[Window], CheckOutcome] | None = None
    evaluate_range: Callable[[Window], dict[str, CheckOutcome]] | None = None

    def outcomes(self, window: Window) -> dict[str, CheckOutcome]:
        """Partition key -> outcome for every partition of ``window``."""
        if self.evaluate_range is not None:
            return self.evaluate_range(window)
        return {p.key: self.evaluate(window.single(p)) for p in window.periods}


@dataclass(frozen=True)
class PythonAsset:
    """An asset computed in Python after the step's SQL models (returns its metadata)."""

    name: str
    description: str
    deps: tuple[str, ...]
    compute: Callable[[Window], dict]


def sql_asset_key(model: ModelConfig, name: str) -> dg.AssetKey:
    """Asset key of a SQL model (or source asset) under a monitored model."""
    return dg.AssetKey([model.name, name])


def baseline_stretches(
    warehouse: Warehouse,
    model: ModelConfig,
    grain: str,
    periods: list[Period],
    warn: Callable[[str], None],
) -> list[tuple[dt.datetime, dt.datetime, Baseline]]:
    """Consecutive partitions that share a baseline, as ``(start, end, baseline)``.

    Hours are binned on the baseline of the version that served most of them; an hour without
    predictions joins the stretch before it (it has nothing to bin).
    """
    if grain == "hourly":
        served = baselines_by_hour(warehouse, model, [p.start for p in periods], warn)
        chosen = [served[p.start] for p in periods]
    else:
        chosen = [baseline_for_window(warehouse, model, p.start, p.end, warn) for p in periods]
    stretches: list[tuple[dt.datetime, dt.datetime, Baseline]] = []
    for period, baseline in zip(periods, chosen, strict=True):
        if stretches and stretches[-1][2].baseline_id == baseline.baseline_id:
            stretches[-1] = (stretches[-1][0], period.end, baseline)
        else:
            stretches.append((period.start, period.end, baseline))
    return stretches


def ensure_inputs(warehouse: Warehouse, project: SqlProject, models, model: ModelConfig) -> None:
    """Create (empty) every table the SQL models read, so a model without data reads nothing.

    A fresh warehouse whose hours were all blocked or empty has no hourly tables yet; the daily
    models must then record an empty day, not fail on a missing table.
    """
    raw = {"raw_predictions": raw_predictions_table(model), "raw_labels": raw_labels_table(model)}
    for sql_model in models:
        for ref in sql_model.refs:
            warehouse.ensure_schema(project.models[ref].schema)
        for src in sql_model.sources:
            warehouse.ensure_schema(raw[project.sources[src].asset])


def sql_asset_spec(project: SqlProject, sql_model: SqlModel, model: ModelConfig) -> dg.AssetSpec:
    """The asset spec of one SQL model for one monitored model."""
    deps = [sql_asset_key(model, ref) for ref in sql_model.refs]
    mappings = dict(sql_model.source_partition_mappings)
    for src in sql_model.sources:
        source = project.sources[src]
        key = sql_asset_key(model, source.asset)
        if mappings.get(source.name) == "all":
            deps.append(dg.AssetDep(key, partition_mapping=dg.AllPartitionMapping()))
        else:
            deps.append(key)
    if sql_model.uses_baseline:
        deps.append(sql_asset_key(model, "baseline"))
    columns = dg.TableSchema(
        columns=[
            dg.TableColumn(name, type_, description=sql_model.column_descriptions.get(name) or None)
            for name, type_ in sql_model.columns
        ]
    )
    return dg.AssetSpec(
        key=sql_asset_key(model, sql_model.name),
        deps=deps,
        description=f"{model.name}: {sql_model.description}",
        group_name=model.name,
        kinds={"sql"},
        metadata={
            "dagster/column_schema": columns,
            "dagster/table_name": sql_model.name,
            "sql_file": str(sql_model.path.relative_to(project.root.parent)),
        },
    )


def build_grain_step(
    project: SqlProject,
    model: ModelConfig,
    grain: str,
    partitions_def: dg.PartitionsDefinition,
    python_assets: tuple[PythonAsset, ...] = (),
    checks: tuple[StepCheck, ...] = (),
    retry_policy: dg.RetryPolicy | None = None,
) -> dg.AssetsDefinition:
    """One multi-asset: every SQL model of ``grain``, then ``python_assets``, for ``model``."""
    sql_models = project.by_grain(grain)
    by_key = {sql_asset_key(model, m.name): m for m in sql_models}
    python_by_key = {sql_asset_key(model, p.name): p for p in python_assets}
    specs = [sql_asset_spec(project, m, model) for m in sql_models] + [
        dg.AssetSpec(
            key=sql_asset_key(model, p.name),
            deps=[sql_asset_key(model, d) for d in p.deps],
            description=f"{model.name}: {p.description}",
            group_name=model.name,
            kinds={"python"},
        )
        for p in python_assets
    ]
    check_specs = [
        dg.AssetCheckSpec(
            c.name,
            asset=sql_asset_key(model, c.asset),
            description=check_description(c.name, c.description),
            partitions_def=partitions_def,
        )
        for c in checks
    ]

    @dg.multi_asset(
        name=f"{model.name}__{grain}_aggregates",
        specs=specs,
        check_specs=check_specs,
        partitions_def=partitions_def,
        can_subset=True,
        pool=WAREHOUSE_POOL,
        retry_policy=retry_policy,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    @retry_only_connection_failures
    def aggregates(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, clock: ClockResource
    ):
        periods = run_periods(context)
        start, end = periods[0].start, periods[-1].end
        wh = warehouse.get()
        now = clock.now()
        window = Window(wh, model, start, end, tuple(periods), now)
        selected = [m for key, m in by_key.items() if key in context.selected_asset_keys]
        ensure_inputs(wh, project, selected, model)
        stretches = [(start, end, None)]
        if any(m.uses_baseline for m in selected):
            stretches = baseline_stretches(wh, model, grain, periods, context.log.warning)
        for sql_model in selected:
            rows = sum(
                run_model_window(wh, project, sql_model, model, s, e, baseline)
                for s, e, baseline in stretches
            )
            describe = DESCRIBERS.get(sql_model.name)
            metadata = {"rows_written": dg.MetadataValue.int(rows)}
            if describe is not None:
                metadata |= describe(wh, model.name, start, end)
            if sql_model.uses_baseline and stretches[-1][2] is not None:
                metadata["baseline_id"] = stretches[-1][2].baseline_id
            yield dg.MaterializeResult(
                asset_key=sql_asset_key(model, sql_model.name), metadata=metadata
            )
        for key, python_asset in python_by_key.items():
            if key in context.selected_asset_keys:
                yield dg.MaterializeResult(asset_key=key, metadata=python_asset.compute(window))
        recorder = CheckRecorder(context, wh, model, grain, now)
        by_period = {p.key: p for p in periods}
        for check in checks:
            key = sql_asset_key(model, check.asset)
            if key not in context.selected_asset_keys and (
                dg.AssetCheckKey(key, check.name) not in context.selected_asset_check_keys
            ):
                continue
            for partition_key, outcome in check.outcomes(window).items():
                recorder.add(key, by_period[partition_key], outcome)
        recorder.flush()

    return aggregates

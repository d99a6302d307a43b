"""One step per monitored model and grain: the SQL models, then the Python assets built on them.

The translator makes every ``dbt_like_sql`` model an asset under each monitored model; its
dependencies come from the parsed ``ref()``/``source()`` calls, and from the baseline when the
SQL bins or shifts by it. The models of one grain run in one multi-asset step, each replacing
its partition window in its own transaction, in ``ref()`` order. Python assets of the same grain
(drift) run after them in the same step, and the step evaluates the grain's asset checks.
Fewer steps per run keep Dagster's per-step overhead down (see docs/DESIGN.md).
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg

from modelmon_dagster.baseline import baseline_for_window
from modelmon_dagster.checks import CheckOutcome
from modelmon_dagster.config import ModelConfig
from modelmon_dagster.defs.aggregates.describe import DESCRIBERS
from modelmon_dagster.defs.checks import check_result
from modelmon_dagster.defs.partitions import window_of
from modelmon_dagster.defs.resources import WAREHOUSE_POOL, WarehouseResource
from modelmon_dagster.sql import SqlModel, SqlProject, run_model_window
from modelmon_dagster.warehouse import Warehouse


@dataclass(frozen=True)
class Window:
    """What a Python asset or check sees: the warehouse, the model and the partition window."""

    warehouse: Warehouse
    model: ModelConfig
    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True)
class StepCheck:
    """An asset check evaluated at the end of a step."""

    asset: str  # asset name under the model's prefix
    name: str
    description: str
    evaluate: Callable[[Window], CheckOutcome]


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
        dg.AssetCheckSpec(c.name, asset=sql_asset_key(model, c.asset), description=c.description)
        for c in checks
    ]

    @dg.multi_asset(
        name=f"{model.name}__{grain}_aggregates",
        specs=specs,
        check_specs=check_specs,
        partitions_def=partitions_def,
        can_subset=True,
        pool=WAREHOUSE_POOL,
    )
    def aggregates(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        start, end = window_of(context)
        wh = warehouse.get()
        window = Window(wh, model, start, end)
        selected = [m for key, m in by_key.items() if key in context.selected_asset_keys]
        baseline = None
        if any(m.uses_baseline for m in selected):
            baseline = baseline_for_window(wh, model, start, end, context.log.warning)
        for sql_model in selected:
            rows = run_model_window(wh, project, sql_model, model, start, end, baseline)
            describe = DESCRIBERS.get(sql_model.name)
            metadata = {"rows_written": dg.MetadataValue.int(rows)}
            if describe is not None:
                metadata |= describe(wh, model.name, start, end)
            if baseline is not None and sql_model.uses_baseline:
                metadata["baseline_id"] = baseline.baseline_id
            yield dg.MaterializeResult(
                asset_key=sql_asset_key(model, sql_model.name), metadata=metadata
            )
        for key, python_asset in python_by_key.items():
            if key in context.selected_asset_keys:
                yield dg.MaterializeResult(asset_key=key, metadata=python_asset.compute(window))
        for check in checks:
            key = sql_asset_key(model, check.asset)
            if dg.AssetCheckKey(key, check.name) in context.selected_asset_check_keys:
                outcome = check.evaluate(window)
                if outcome.passed is None:  # not judged: no evaluation (shows as skipped)
                    context.log.info(f"{check.name}: {outcome.description}")
                    continue
                yield check_result(outcome, key)

    return aggregates

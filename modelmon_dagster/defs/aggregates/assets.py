"""The translator: every ``dbt_like_sql`` model becomes an asset under each monitored model.

Models of one grain run as one multi-asset step per monitored model (hourly or daily
partitions), each model replacing its partition window in its own transaction, in ``ref()``
order. Dependencies come from the parsed ``ref()``/``source()`` calls, and from the baseline
when the SQL bins or shifts by it.
"""

import dagster as dg

from modelmon_dagster.baseline import load_baseline
from modelmon_dagster.config import ModelConfig
from modelmon_dagster.defs.aggregates.describe import DESCRIBERS
from modelmon_dagster.defs.partitions import window_of
from modelmon_dagster.defs.resources import WAREHOUSE_POOL, WarehouseResource
from modelmon_dagster.sql import SqlModel, SqlProject, run_model_window


def sql_asset_key(model: ModelConfig, name: str) -> dg.AssetKey:
    """Asset key of a SQL model (or source asset) under a monitored model."""
    return dg.AssetKey([model.name, name])


def sql_asset_spec(project: SqlProject, sql_model: SqlModel, model: ModelConfig) -> dg.AssetSpec:
    """The asset spec of one SQL model for one monitored model."""
    deps = [sql_asset_key(model, ref) for ref in sql_model.refs]
    deps += [sql_asset_key(model, project.sources[src].asset) for src in sql_model.sources]
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


def build_sql_assets(
    project: SqlProject, model: ModelConfig, grain: str, partitions_def: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    """One multi-asset running every SQL model of ``grain`` for ``model``."""
    sql_models = project.by_grain(grain)
    by_key = {sql_asset_key(model, m.name): m for m in sql_models}

    @dg.multi_asset(
        name=f"{model.name}__{grain}_aggregates",
        specs=[sql_asset_spec(project, m, model) for m in sql_models],
        partitions_def=partitions_def,
        can_subset=True,
        pool=WAREHOUSE_POOL,
    )
    def aggregates(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        start, end = window_of(context)
        wh = warehouse.get()
        selected = [m for key, m in by_key.items() if key in context.selected_asset_keys]
        baseline = load_baseline(wh, model) if any(m.uses_baseline for m in selected) else None
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

    return aggregates

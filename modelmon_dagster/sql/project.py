"""Load ``dbt_like_sql/``: one ``.sql`` and one ``.yml`` per model, sources in ``sources.yml``.

Dependencies come only from parsing ``ref('name')`` and ``source('src', 'table')`` in the SQL,
never from hand-written lists.
"""

import re
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import yaml

from modelmon_dagster.warehouse import PORTABLE_TYPES, TableSchema

REF = re.compile(r"""\bref\(\s*['"]([a-z][a-z0-9_]*)['"]\s*\)""")
SOURCE = re.compile(
    r"""\bsource\(\s*['"]([a-z][a-z0-9_]*)['"]\s*,\s*['"]([a-z][a-z0-9_]*)['"]\s*\)"""
)
BASELINE_CALL = re.compile(r"\b(bin_index|center|baseline_id)\(")
GRAINS = ("hourly", "daily")
TIME_COLUMNS = {"hourly": "hour_start", "daily": "day_start"}


class SqlProjectError(ValueError):
    """A model file, its yml or the project layout is invalid."""


@dataclass(frozen=True)
class SourceTable:
    """A table the SQL models read but do not build (written by a Python asset)."""

    source: str
    name: str
    table: str  # table name template; "{model}" is the monitored model's name
    asset: str  # asset name (under the monitored model's key prefix) that writes it
    description: str = ""

    def table_for(self, model_name: str) -> str:
        """Concrete table name for one monitored model."""
        return self.table.format(model=model_name)


@dataclass(frozen=True)
class SqlModel:
    """One SQL model: a SELECT that fills one partition window of one table."""

    name: str
    path: Path
    sql: str
    grain: str
    description: str
    columns: tuple[tuple[str, str], ...]
    column_descriptions: dict
    refs: tuple[str, ...]
    sources: tuple[tuple[str, str], ...]
    # Per-source exceptions from the yml, e.g. {"raw_labels": "all"}: the model reads every
    # partition of that source, not only its own window's.
    source_partition_mappings: tuple[tuple[str, str], ...] = ()
    # Columns naming a monitored column (e.g. column_name, segment_column): rows whose named
    # column the hour's schema check blocked are left out (yml ``blocked_by_schema``).
    blocked_by_schema: tuple[str, ...] = ()

    @property
    def time_column(self) -> str:
        """Column holding the partition's start (``hour_start`` or ``day_start``)."""
        return TIME_COLUMNS[self.grain]

    @property
    def uses_baseline(self) -> bool:
        """Whether the model bins or shifts by the baseline (so it depends on it)."""
        return bool(BASELINE_CALL.search(self.sql))

    @property
    def schema(self) -> TableSchema:
        """Target table (shared by all monitored models, keyed by ``model_name``)."""
        return TableSchema(self.name, self.columns)


@dataclass(frozen=True)
class SqlProject:
    """All models and sources of a ``dbt_like_sql`` folder."""

    root: Path
    models: dict[str, SqlModel]
    sources: dict[tuple[str, str], SourceTable]

    @classmethod
    def load(cls, root: Path) -> "SqlProject":
        """Parse every model under ``root/models`` and ``root/sources.yml``."""
        root = Path(root)
        sources = _load_sources(root / "sources.yml")
        models: dict[str, SqlModel] = {}
        for sql_path in sorted((root / "models").rglob("*.sql")):
            model = _load_model(sql_path)
            if model.name in models:
                raise SqlProjectError(f"two models are named {model.name!r}")
            models[model.name] = model
        project = cls(root=root, models=models, sources=sources)
        project._check_references()
        project.topological_order()
        return project

    def _check_references(self) -> None:
        for model in self.models.values():
            for ref in model.refs:
                if ref not in self.models:
                    raise SqlProjectError(f"{model.path}: ref({ref!r}) names no model")
            for src in model.sources:
                if src not in self.sources:
                    raise SqlProjectError(f"{model.path}: source{src!r} is not in sources.yml")

    def topological_order(self, names: list[str] | None = None) -> list[str]:
        """Model names, each after the models it refs (restricted to ``names`` if given)."""
        graph = {m.name: set(m.refs) for m in self.models.values()}
        try:
            order = list(TopologicalSorter(graph).static_order())
        except CycleError as exc:
            raise SqlProjectError(f"ref() cycle: {exc.args[1]}") from None
        return [n for n in order if names is None or n in names]

    def by_grain(self, grain: str) -> list[SqlModel]:
        """Models of one grain, in dependency order."""
        return [self.models[n] for n in self.topological_order() if self.models[n].grain == grain]


def _load_sources(path: Path) -> dict[tuple[str, str], SourceTable]:
    if not path.exists():
        raise SqlProjectError(f"missing {path}")
    raw = yaml.safe_load(path.read_text()) or {}
    out = {}
    for src in raw.get("sources", []):
        for table in src.get("tables", []):
            key = (src["name"], table["name"])
            out[key] = SourceTable(
                source=src["name"],
                name=table["name"],
                table=table["table"],
                asset=table["asset"],
                description=table.get("description", ""),
            )
    return out


def _load_model(sql_path: Path) -> SqlModel:
    yml_path = sql_path.with_suffix(".yml")
    if not yml_path.exists():
        raise SqlProjectError(f"{sql_path}: missing {yml_path.name}")
    meta = yaml.safe_load(yml_path.read_text()) or {}
    name = sql_path.stem
    if meta.get("name", name) != name:
        raise SqlProjectError(f"{yml_path}: name {meta.get('name')!r} differs from the file name")
    grain = meta.get("grain")
    if grain not in GRAINS:
        raise SqlProjectError(f"{yml_path}: grain must be one of {GRAINS}, got {grain!r}")
    columns, descriptions = [], {}
    for col in meta.get("columns", []):
        if col.get("type") not in PORTABLE_TYPES:
            raise SqlProjectError(
                f"{yml_path}: column {col.get('name')!r} has type {col.get('type')!r}"
            )
        columns.append((col["name"], col["type"]))
        descriptions[col["name"]] = col.get("description", "")
    names = [c for c, _ in columns]
    for required in ("model_name", TIME_COLUMNS[grain]):
        if required not in names:
            raise SqlProjectError(f"{yml_path}: a {grain} model needs a {required!r} column")
    mappings = meta.get("source_partition_mappings") or {}
    for table, mapping in mappings.items():
        if mapping != "all":
            raise SqlProjectError(f"{yml_path}: unknown partition mapping {mapping!r} for {table}")
    blocked_by = tuple(meta.get("blocked_by_schema") or ())
    for column in blocked_by:
        if column not in names:
            raise SqlProjectError(f"{yml_path}: blocked_by_schema names no column {column!r}")
    sql = sql_path.read_text()
    return SqlModel(
        name=name,
        path=sql_path,
        sql=sql,
        grain=grain,
        description=str(meta.get("description", "")).strip(),
        columns=tuple(columns),
        column_descriptions=descriptions,
        refs=tuple(dict.fromkeys(REF.findall(sql))),
        sources=tuple(dict.fromkeys(SOURCE.findall(sql))),
        source_partition_mappings=tuple(sorted(mappings.items())),
        blocked_by_schema=blocked_by,
    )

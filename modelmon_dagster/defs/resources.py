"""Resources and settings: the only place that reads the environment.

Environment variables (read when definitions are built, never at import time):

``MODELMON_CONFIG``
    Monitored-models config file (default ``config/models.yaml`` in the project).
``MODELMON_DATA_DIR``
    Data folder: logs, reference data, the embedded warehouse (default ``data/`` in the project).
``MODELMON_WAREHOUSE_URL``
    SQLAlchemy URL of the warehouse; default is the DuckDB file ``{data dir}/warehouse.duckdb``.
    PostgreSQL: ``postgresql+psycopg://user@host:5432/db``.
``MODELMON_MLFLOW_REGISTRY_URI``
    When set, the model registry is this MLflow registry (``pip install -e '.[mlflow]'``);
    otherwise it lives in the warehouse.
``MODELMON_ALERTS_*_URL``
    Apprise URLs of the alert routes (read when a notification is sent, never logged).
"""

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr
from sqlalchemy.engine import make_url

from modelmon_dagster.config import WarehouseRetry
from modelmon_dagster.registry import EmbeddedRegistry, Registry
from modelmon_dagster.warehouse import Warehouse

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Every asset that writes the warehouse runs in this pool; the instance limits it to one step at
# a time (dagster_home/dagster.yaml) because DuckDB allows one writing process per file.
WAREHOUSE_POOL = "warehouse"
WAREHOUSE_URL_VAR = "MODELMON_WAREHOUSE_URL"


def warehouse_retry_policy(retry: WarehouseRetry) -> dg.RetryPolicy | None:
    """The retry policy of the steps that write the warehouse (config ``warehouse_retry``)."""
    if retry.max_retries == 0:
        return None
    return dg.RetryPolicy(
        max_retries=retry.max_retries, delay=retry.delay_seconds, backoff=dg.Backoff.EXPONENTIAL
    )


def display_url(url: str) -> str:
    """A SQLAlchemy URL with its password masked, for logs and printed summaries."""
    return make_url(url).render_as_string(hide_password=True)


@dataclass(frozen=True)
class Settings:
    """Where config, data and the warehouse live."""

    config_path: Path
    data_dir: Path
    warehouse_url: str
    mlflow_registry: bool = False  # MODELMON_MLFLOW_REGISTRY_URI is set
    # MODELMON_WAREHOUSE_URL is set: resources take it through EnvVar (it may hold a password).
    warehouse_url_from_env: bool = False

    @property
    def logs_root(self) -> Path:
        """Root of the prediction and label log folders."""
        return self.data_dir / "logs"

    @classmethod
    def from_env(cls, environ: dict | None = None) -> "Settings":
        """Read the settings from the environment (defaults: the project's own folders)."""
        env = os.environ if environ is None else environ
        config_path = Path(env.get("MODELMON_CONFIG", PROJECT_ROOT / "config" / "models.yaml"))
        data_dir = Path(env.get("MODELMON_DATA_DIR", PROJECT_ROOT / "data")).resolve()
        url = env.get(WAREHOUSE_URL_VAR) or f"duckdb:///{data_dir / 'warehouse.duckdb'}"
        return cls(
            config_path=config_path,
            data_dir=data_dir,
            warehouse_url=url,
            mlflow_registry=bool(env.get("MODELMON_MLFLOW_REGISTRY_URI")),
            warehouse_url_from_env=bool(env.get(WAREHOUSE_URL_VAR)),
        )


class WarehouseResource(dg.ConfigurableResource):
    """The SQL warehouse (DuckDB file or PostgreSQL), opened for the duration of a step."""

    url: str
    _warehouse: Warehouse | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Open the engine once per step."""
        if self.url.startswith("duckdb:///"):
            Path(self.url.removeprefix("duckdb:///")).parent.mkdir(parents=True, exist_ok=True)
        self._warehouse = Warehouse(self.url)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        """Close connections so the DuckDB file lock is released between steps."""
        if self._warehouse is not None:
            self._warehouse.dispose()

    def get(self) -> Warehouse:
        """The warehouse of this step."""
        if self._warehouse is None:
            self._warehouse = Warehouse(self.url)
        return self._warehouse


class ClockResource(dg.ConfigurableResource):
    """The time a run acts at: the wall clock, or a fixed instant (the demo's simulated clock).

    Alert routing (what is recent enough to page) and remediation guardrails (horizons,
    cooldowns) compare partitions with this time.
    """

    fixed_now: str | None = None  # ISO timestamp, UTC

    def now(self) -> dt.datetime:
        """The current time, naive UTC."""
        if self.fixed_now:
            fixed = dt.datetime.fromisoformat(self.fixed_now)
            return fixed.astimezone(dt.UTC).replace(tzinfo=None) if fixed.tzinfo else fixed
        return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class RegistryResource(dg.ConfigurableResource):
    """The model registry: embedded in the warehouse (default) or an MLflow registry.

    ``mlflow_uri`` (from ``MODELMON_MLFLOW_REGISTRY_URI`` through ``EnvVar``, so the UI shows
    the variable, not a URI with credentials) selects the MLflow backend when set.
    """

    mlflow_uri: str | None = None

    def open(self, warehouse: Warehouse) -> Registry:
        """The registry, next to ``warehouse`` when embedded."""
        if self.mlflow_uri:
            from modelmon_dagster.registry.mlflow_backend import MlflowRegistry

            return MlflowRegistry(self.mlflow_uri)
        return EmbeddedRegistry(warehouse)


class LogStoreResource(dg.ConfigurableResource):
    """Folders holding the hourly JSONL logs and the reference data."""

    data_dir: str

    @property
    def data_path(self) -> Path:
        """The data folder (logs, reference data, registry artifacts, reviews)."""
        return Path(self.data_dir)

    @property
    def logs_root(self) -> Path:
        """Root of the prediction and label log folders."""
        return Path(self.data_dir) / "logs"

    def resolve(self, relative: str, what: str = "path") -> Path:
        """A path from the config, relative to the data folder and resolving inside it.

        ``what`` names the path in the error (e.g. ``"fraud_detector baseline.reference_labels"``).
        The config already refuses absolute paths and ``..``; this also catches symlinks.
        """
        root = Path(self.data_dir).resolve()
        path = (root / relative).resolve()
        if not path.is_relative_to(root):
            raise ValueError(f"{what}: {relative!r} resolves outside the data folder {root}")
        return path


def build_resources(settings: Settings) -> dict:
    """Resource instances for a set of settings."""
    return {
        # Through EnvVar the UI shows the variable's name, never a URL with its password.
        "warehouse": WarehouseResource(
            url=dg.EnvVar(WAREHOUSE_URL_VAR)
            if settings.warehouse_url_from_env
            else settings.warehouse_url
        ),
        "log_store": LogStoreResource(data_dir=str(settings.data_dir)),
        "clock": ClockResource(),
        "registry": RegistryResource(
            mlflow_uri=dg.EnvVar("MODELMON_MLFLOW_REGISTRY_URI")
            if settings.mlflow_registry
            else None
        ),
    }

"""What can be checked of ``deploy/`` on this machine (no Docker daemon, no Kubernetes).

The instance file loads with dagster-postgres against a real database; the compose file, the
workspace and the Helm values parse and name modules, commands and files that exist; secrets
appear only as references to the environment or to Kubernetes secrets.
"""

import importlib
import re
import shutil
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml
from conftest import instance_env

from modelmon_dagster.defs.resources import PROJECT_ROOT, WAREHOUSE_POOL

DEPLOY = PROJECT_ROOT / "deploy"
MODULE = "modelmon_dagster.definitions"
BIN = Path(sys.executable).parent


def _load(name: str) -> dict:
    return yaml.safe_load((DEPLOY / name).read_text())


def _instance(home: Path, source: Path) -> dg.DagsterInstance:
    home.mkdir()
    shutil.copy(source, home / "dagster.yaml")
    return dg.DagsterInstance.from_config(str(home))


def _pool_limit(instance: dg.DagsterInstance) -> int | None:
    return instance.get_concurrency_config().pool_config.default_pool_limit


@pytest.mark.postgres
def test_the_instance_file_loads_with_dagster_postgres(tmp_path, fresh_database, monkeypatch):
    for key, value in instance_env(fresh_database).items():
        monkeypatch.setenv(key, value)
    instance = _instance(tmp_path / "home", DEPLOY / "dagster.postgres.yaml")
    try:
        assert type(instance.run_storage).__module__.startswith("dagster_postgres")
        assert type(instance.event_log_storage).__module__.startswith("dagster_postgres")
        assert type(instance.schedule_storage).__module__.startswith("dagster_postgres")
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert instance.run_monitoring_enabled
        # Writes PostgreSQL can take in parallel; the storage really serves the pool's slots.
        assert _pool_limit(instance) > 1
        instance.event_log_storage.initialize_concurrency_limit_to_default(WAREHOUSE_POOL)
        info = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
        assert info.slot_count == _pool_limit(instance)
        assert instance.get_run_records() == []
    finally:
        instance.dispose()


def test_the_embedded_instance_keeps_duckdbs_single_writer(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    instance = _instance(tmp_path / "home", PROJECT_ROOT / "dagster_home" / "dagster.yaml")
    try:
        assert _pool_limit(instance) == 1
    finally:
        instance.dispose()


def test_credentials_come_only_from_the_environment():
    storage = _load("dagster.postgres.yaml")["storage"]["postgres"]["postgres_db"]
    secret_keys = ("hostname", "port", "db_name", "username", "password")
    assert all(set(storage[key]) == {"env"} for key in secret_keys)
    for name in ("docker-compose.yaml", "helm/values.yaml", "Dockerfile"):
        text = (DEPLOY / name).read_text()
        # a URL with a literal password would read user:secret@host
        assert not re.search(r"://[^:/@\s$]+:[^@\s${]+@", text), name


def test_compose_names_the_services_commands_and_modules():
    compose = _load("docker-compose.yaml")
    services = compose["services"]
    assert set(services) == {"postgres", "code", "webserver", "daemon"}
    for name in ("code", "webserver", "daemon"):
        command = services[name]["command"]
        assert (BIN / command[0]).exists(), command[0]
        env = services[name]["environment"]
        assert env["DAGSTER_PG_PASSWORD"].startswith("${")
        assert "${MODELMON_WAREHOUSE_PASSWORD" in env["MODELMON_WAREHOUSE_URL"]
    code = services["code"]["command"]
    importlib.import_module(code[code.index("-m") + 1])
    assert code[code.index("--location-name") + 1] == "modelmon"
    assert services["webserver"]["ports"] == ["127.0.0.1:3000:3000"]
    workspace = _load("workspace.docker.yaml")["load_from"][0]["grpc_server"]
    assert (workspace["host"], workspace["port"]) == ("code", int(code[code.index("-p") + 1]))
    assert workspace["location_name"] == "modelmon"
    assert (DEPLOY / "initdb" / "10-roles.sh").exists()


def test_dockerfile_copies_what_exists_and_serves_the_definitions():
    text = (DEPLOY / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (\S+)", text, flags=re.MULTILINE):
        assert (PROJECT_ROOT / source).exists(), source
    assert MODULE in text and '"dagster", "code-server", "start"' in text


def test_helm_values_name_the_module_launcher_and_secrets():
    values = _load("helm/values.yaml")
    deployment = values["dagster-user-deployments"]["deployments"][0]
    args = deployment["dagsterApiGrpcArgs"]
    importlib.import_module(args[args.index("--module-name") + 1])
    assert {"name": "modelmon-warehouse"} in deployment["envSecrets"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert {"name": "modelmon-warehouse"} in launcher["envSecrets"]
    assert values["postgresql"]["enabled"] is False
    assert values["postgresql"]["postgresqlScheme"] == "postgresql+psycopg2"
    assert values["dagsterWebserver"]["service"]["type"] == "ClusterIP"
    assert values["dagsterDaemon"]["runMonitoring"]["enabled"] is True
    assert values["concurrency"]["pools"]["defaultLimit"] > 1


def test_the_entry_point_loads_the_definitions():
    defs = importlib.import_module(MODULE).defs()
    assert "late_label_refresh" in {s.name for s in defs.sensors}


def test_the_warehouse_url_is_configured_by_name_not_by_value(monkeypatch):
    secret = "postgresql+psycopg://writer:s3cret@db:5432/warehouse"
    monkeypatch.setenv("MODELMON_WAREHOUSE_URL", secret)
    defs = importlib.import_module(MODULE).defs()
    resource = defs.resources["warehouse"]
    # what the UI and run records show: the variable's name; the step still gets the value
    assert "s3cret" not in repr(resource.url)
    assert resource.url == dg.EnvVar("MODELMON_WAREHOUSE_URL")
    assert dg.EnvVar("MODELMON_WAREHOUSE_URL").get_value() == secret

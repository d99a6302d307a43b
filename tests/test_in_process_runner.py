"""The in-process runner's settings: event batches stored at once, one numeric thread."""

import shutil

import dagster as dg
import pytest
import sqlalchemy as sa
import threadpoolctl
from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: F401 (loads OpenMP)

from modelmon_dagster.defs.resources import PROJECT_ROOT
from modelmon_dagster.runner import InProcessRunner

HOURS = dg.HourlyPartitionsDefinition(start_date="2026-11-16-00:00")


@dg.asset(partitions_def=HOURS, backfill_policy=dg.BackfillPolicy.single_run())
def counted(context: dg.AssetExecutionContext):
    return dg.MaterializeResult(metadata={"hours": len(context.partition_keys)})


DEFS = dg.Definitions(assets=[counted], jobs=[dg.define_asset_job("counted_job", [counted])])


def _ranged_run(tmp_path, monkeypatch, batch_size: str) -> tuple[set[str], int]:
    """Materialised partitions and SQLite commits of one ranged run over a day's hours."""
    home = tmp_path / batch_size
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", batch_size)
    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        commits = []
        sa.event.listen(storage._pooled_engine(), "commit", lambda conn: commits.append(1))
        InProcessRunner(DEFS, instance).run_range(
            "counted_job", "2026-11-16-00:00", "2026-11-16-23:00"
        )
        done = instance.get_materialized_partitions(dg.AssetKey("counted"))
        events = instance.fetch_materializations(dg.AssetKey("counted"), limit=100).records
        assert {e.asset_materialization.metadata["hours"].value for e in events} == {24}
        return done, len(commits)


@pytest.mark.e2e
def test_a_ranged_runs_materialisations_are_stored_in_one_transaction(tmp_path, monkeypatch):
    one_by_one, commits_each = _ranged_run(tmp_path, monkeypatch, "0")
    batched, commits_batched = _ranged_run(tmp_path, monkeypatch, "1000")
    hours = {f"2026-11-16-{h:02d}:00" for h in range(24)}
    assert one_by_one == batched == hours
    # each materialisation commits on its own (several times) without batches, once with them
    assert commits_each - commits_batched >= 2 * 23


def test_the_runner_leaves_openmp_and_blas_one_thread(tmp_path, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    with dg.DagsterInstance.ephemeral() as instance:
        InProcessRunner(DEFS, instance)
    pools = {p["user_api"]: p["num_threads"] for p in threadpoolctl.threadpool_info()}
    assert pools.get("openmp") == 1 and pools.get("blas") == 1


def test_the_event_log_asks_for_its_schema_once(tmp_path, monkeypatch):
    # Dagster's SQLite storage opened a new engine to ask whether a table exists, and reflected
    # the asset-key table, for every event; found tables and columns are now remembered.
    shutil.copy(PROJECT_ROOT / "dagster_home" / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        parent = type(storage).__mro__[1]
        asked = []
        for name in ("has_table", "_has_asset_key_index_cols_on_connection"):
            original = getattr(parent, name)
            monkeypatch.setattr(
                parent,
                name,
                lambda self, arg, _o=original, _n=name: asked.append((_n, arg)) or _o(self, arg),
            )
        InProcessRunner(DEFS, instance).run_range(
            "counted_job", "2026-11-16-00:00", "2026-11-16-23:00"
        )
        assert instance.get_materialized_partitions(dg.AssetKey("counted")) == {
            f"2026-11-16-{h:02d}:00" for h in range(24)
        }
        names = [n for n, _ in asked]
        tables = [arg for n, arg in asked if n == "has_table"]
        assert names.count("_has_asset_key_index_cols_on_connection") == 1  # 24 before
        assert tables and len(tables) == len(set(tables))  # each found table asked once
        assert storage.has_table("no_such_table") is False
        assert storage.has_table("no_such_table") is False
        assert [a for n, a in asked if n == "has_table"].count("no_such_table") == 2


def test_the_asset_row_is_updated_in_place_not_reinserted(tmp_path, monkeypatch):
    # Dagster inserted the asset's row for every event and updated it after the integrity error;
    # now it is updated, and inserted only for the asset's first event: the same row.
    shutil.copy(PROJECT_ROOT / "dagster_home" / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    with dg.DagsterInstance.get() as instance:
        statements = []
        sa.event.listen(
            instance.event_log_storage._pooled_engine(),
            "before_cursor_execute",
            lambda conn, cursor, sql, *args: statements.append(sql.split("(")[0].strip()),
        )
        runner = InProcessRunner(DEFS, instance)
        runner.run_range("counted_job", "2026-11-16-00:00", "2026-11-16-11:00")
        last = runner.run_range("counted_job", "2026-11-16-12:00", "2026-11-16-23:00")
        assert statements.count("INSERT INTO asset_keys") == 1
        latest = instance.get_latest_materialization_event(dg.AssetKey("counted"))
        assert latest.run_id == last.run_id
        assert len(instance.get_materialized_partitions(dg.AssetKey("counted"))) == 24
        with instance.event_log_storage._pooled_engine().connect() as conn:
            rows = conn.execute(sa.text("SELECT asset_key, last_run_id FROM asset_keys")).all()
        assert rows == [('["counted"]', last.run_id)]


def _asset_row_after_ranged_run(tmp_path, monkeypatch, batch_size: str):
    home = tmp_path / f"row-{batch_size}"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", batch_size)
    with dg.DagsterInstance.get() as instance:
        updates = []
        sa.event.listen(
            instance.event_log_storage._pooled_engine(),
            "before_cursor_execute",
            lambda conn, cursor, sql, *a: (
                updates.append(1) if sql.startswith("UPDATE asset_keys") else None
            ),
        )
        run = InProcessRunner(DEFS, instance).run_range(
            "counted_job", "2026-11-16-00:00", "2026-11-16-23:00"
        )
        latest = instance.get_latest_materialization_event(dg.AssetKey("counted"))
        with instance.event_log_storage._pooled_engine().connect() as conn:
            row = conn.execute(
                sa.text("SELECT last_run_id, last_materialization_timestamp FROM asset_keys")
            ).one()
        last_hour = instance.fetch_materializations(dg.AssetKey("counted"), limit=1).records[0]
        return run.run_id, row, latest, last_hour, len(updates)


def test_a_batch_writes_each_assets_row_once_as_event_by_event_would(tmp_path, monkeypatch):
    # Each kind of asset event sets the same columns, so only the batch's last event of each
    # kind decides the row: it is written once per batch, not once per partition.
    runs = {
        size: _asset_row_after_ranged_run(tmp_path, monkeypatch, size) for size in ("0", "1000")
    }
    for run_id, row, latest, last_hour, _ in runs.values():
        assert row.last_run_id == run_id == latest.run_id
        # the row's materialisation is the run's last one stored (its 24th partition)
        assert latest.dagster_event.partition == last_hour.partition_key == "2026-11-16-23:00"
        assert row.last_materialization_timestamp is not None
    assert runs["0"][4] >= 24 and runs["1000"][4] <= 2  # planned, then materialised

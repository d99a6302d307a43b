"""The dbt_like_sql runner: parsing, the ref() graph, rendering and its safety."""

import datetime as dt
import re
import shutil

import duckdb
import numpy as np
import pytest

from modelmon_dagster.baseline import Baseline, ColumnBins
from modelmon_dagster.defs.build import SQL_PROJECT_DIR
from modelmon_dagster.monitored import monitored_columns
from modelmon_dagster.sql import SqlProject, SqlProjectError, render_model
from modelmon_dagster.sql.render import _bin_case
from modelmon_dagster.stats.binning import bin_index

WINDOW = (dt.datetime(2026, 11, 16, 3), dt.datetime(2026, 11, 16, 4))


@pytest.fixture(scope="module")
def project():
    return SqlProject.load(SQL_PROJECT_DIR)


def fake_baseline(model, edges=(1.0, 2.0, 3.0), cats=("x", "y")):
    cols = tuple(
        ColumnBins(c, edges=edges, center=10.0) if c.is_numeric else ColumnBins(c, categories=cats)
        for c in monitored_columns(model)
    )
    return Baseline(model.name, "v1-abc", "v1", cols)


def test_models_and_their_ref_graph(project):
    per_grain = (
        "prediction_stats",
        "status_counts",
        "latency_histogram",
        "feature_stats",
        "feature_histograms",
        "segment_histograms",
    )
    expected = {f"{grain}_{name}" for grain in ("hourly", "daily") for name in per_grain}
    assert set(project.models) == expected | {
        "daily_label_histogram",
        "daily_performance_counts",
        "daily_score_histogram",
        "daily_confusion_counts",
    }
    daily = project.models["daily_feature_histograms"]
    assert daily.refs == ("hourly_feature_histograms",) and daily.sources == ()
    hourly = project.models["hourly_feature_histograms"]
    assert hourly.sources == (("logs", "raw_predictions"),) and hourly.uses_baseline
    assert not project.models["hourly_status_counts"].uses_baseline
    order = project.topological_order()
    for model in project.models.values():
        for ref in model.refs:
            assert order.index(ref) < order.index(model.name)


def test_rendering_binds_every_value(project, fraud):
    sql_model = project.models["hourly_feature_histograms"]
    rendered = render_model(project, sql_model, fraud, *WINDOW, baseline=fake_baseline(fraud))
    assert '"fraud_detector__raw_predictions"' in rendered.sql
    assert "1.0" not in rendered.sql and "'x'" not in rendered.sql and "v1-abc" not in rendered.sql
    assert rendered.params["model_name"] == "fraud_detector"
    assert sorted(v for k, v in rendered.params.items() if k.startswith("edge")) == sorted(
        [1.0, 2.0, 3.0] * 6
    )
    for placeholder in set(re.findall(r":([a-z_]+_?\d*)\b", rendered.sql)):
        assert placeholder in rendered.params


def test_models_needing_a_baseline_say_so(project, fraud):
    with pytest.raises(ValueError, match="needs a baseline"):
        render_model(project, project.models["hourly_feature_stats"], fraud, *WINDOW, baseline=None)


@pytest.mark.parametrize("n_edges", [1, 2, 7, 99, 100])
def test_binary_search_case_equals_searchsorted(n_edges):
    rng = np.random.default_rng(n_edges)
    edges = np.sort(rng.choice(np.linspace(-3, 3, 1000), n_edges, replace=False))
    values = np.concatenate([rng.normal(size=500), edges, [-10.0, 10.0]])
    params = {f"e{i}": float(e) for i, e in enumerate(edges)}
    case = _bin_case("x", [f"$e{i}" for i in range(n_edges)], 0, n_edges)
    con = duckdb.connect()
    con.execute("CREATE TABLE t (x DOUBLE)")
    con.executemany("INSERT INTO t VALUES (?)", [[float(v)] for v in values])
    got = [r[0] for r in con.execute(f"SELECT {case} FROM t", params).fetchall()]
    assert got == bin_index(values, edges).tolist()


def copy_project(tmp_path):
    root = tmp_path / "proj"
    shutil.copytree(SQL_PROJECT_DIR, root)
    return root


def test_unknown_ref_is_an_error(tmp_path):
    root = copy_project(tmp_path)
    path = root / "models" / "daily" / "daily_status_counts.sql"
    path.write_text(path.read_text().replace("ref('hourly_status_counts')", "ref('nope')"))
    with pytest.raises(SqlProjectError, match="ref\\('nope'\\) names no model"):
        SqlProject.load(root)


def test_ref_cycle_is_an_error(tmp_path):
    root = copy_project(tmp_path)
    path = root / "models" / "hourly" / "hourly_status_counts.sql"
    path.write_text(path.read_text() + "\n-- {{ ref('daily_status_counts') }}\n")
    with pytest.raises(SqlProjectError, match="cycle"):
        SqlProject.load(root)


def test_model_without_yml_or_with_bad_types_is_an_error(tmp_path):
    root = copy_project(tmp_path)
    (root / "models" / "hourly" / "hourly_status_counts.yml").unlink()
    with pytest.raises(SqlProjectError, match="missing hourly_status_counts.yml"):
        SqlProject.load(root)
    root2 = copy_project(tmp_path / "b")
    yml = root2 / "models" / "daily" / "daily_status_counts.yml"
    yml.write_text(yml.read_text().replace("{name: n, type: BIGINT}", "{name: n, type: DOUBLE}"))
    with pytest.raises(SqlProjectError, match="has type 'DOUBLE'"):
        SqlProject.load(root2)

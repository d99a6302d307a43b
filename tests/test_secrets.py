"""Regression test: the warehouse password never reaches the Dagster UI (issue 9, item 10).

Before the fix, GraphQL ``configuredValues`` of the ``warehouse`` resource returned the whole
``postgresql+psycopg://user:password@host/db`` URL.
"""

import json

import dagster as dg
import pytest
from dagster_graphql.test.utils import define_out_of_process_context, execute_dagster_graphql

from modelmon_dagster.defs.resources import PROJECT_ROOT, Settings, display_url

SECRET = "s3cr3t-Pa55word"
URL = f"postgresql+psycopg://monitor:{SECRET}@127.0.0.1:5432/test"

REPOSITORIES = """
query { repositoriesOrError { ... on RepositoryConnection {
    nodes { name location { name } } } } }
"""
RESOURCES = """
query ($selector: RepositorySelector!) {
  allTopLevelResourceDetailsOrError(repositorySelector: $selector) {
    ... on ResourceDetailsList { results { name configuredValues { key value type } } }
  }
}
"""


@pytest.mark.e2e
def test_no_secret_in_any_resource_config_graphql_shows(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELMON_WAREHOUSE_URL", URL)
    monkeypatch.setenv("MODELMON_DATA_DIR", str(tmp_path / "data"))
    definitions = str(PROJECT_ROOT / "modelmon_dagster" / "definitions.py")
    with dg.instance_for_test() as instance:
        with define_out_of_process_context(definitions, "defs", instance) as context:
            repos = execute_dagster_graphql(context, REPOSITORIES).data
            [repo] = repos["repositoriesOrError"]["nodes"]
            selector = {
                "repositoryName": repo["name"],
                "repositoryLocationName": repo["location"]["name"],
            }
            result = execute_dagster_graphql(context, RESOURCES, {"selector": selector})
    resources = result.data["allTopLevelResourceDetailsOrError"]["results"]
    warehouse = next(r for r in resources if r["name"] == "warehouse")
    assert warehouse["configuredValues"] == [
        {"key": "url", "value": "MODELMON_WAREHOUSE_URL", "type": "ENV_VAR"}
    ]
    assert SECRET not in json.dumps(resources)


def test_printed_urls_mask_the_password():
    assert SECRET not in display_url(URL)
    assert display_url(URL).startswith("postgresql+psycopg://monitor:***@127.0.0.1")
    settings = Settings.from_env({"MODELMON_WAREHOUSE_URL": URL})
    assert settings.warehouse_url_from_env and settings.warehouse_url == URL

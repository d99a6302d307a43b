"""Where the pages and the runs they link to are served (kept light: the checks import it)."""

import datetime as dt

DAGSTER_UI = "http://127.0.0.1:3000"
# Where `make dashboard` serves the pages (the Makefile's port).
SERVE_URL = "http://127.0.0.1:8050"


def page_url(model_name: str, day: dt.date | dt.datetime) -> str:
    """The served URL of a model's page for a day."""
    return f"{SERVE_URL}/{day:%Y-%m-%d}/{model_name}.html"


def run_url(run_id: str | None) -> str | None:
    """Link to a run in the Dagster UI."""
    return f"{DAGSTER_UI}/runs/{run_id}" if run_id else None

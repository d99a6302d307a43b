"""What people read: the monthly review page and the Dagster check messages.

Built by the real Dagster jobs over one simulated day of fraud_detector that carries the demo's
day-4 incidents (malformed lines 09:00-10:00, account_age_days "n/a" for 30 % and
merchant_category missing for 20 % at 12:00-14:00) on top of its day-3 drift, on a real DuckDB
warehouse.
"""

import dataclasses
import datetime as dt
import re

import pandas as pd
import pytest
from browser import browser_page
from pipeline import only, simulated

from modelmon_dagster import readable
from modelmon_dagster.sim import demo_scenarios
from modelmon_dagster.warehouse import Warehouse

DAY = dt.datetime(2026, 11, 16)
MODEL = "fraud_detector"
MONTH = "2026-11"


# --- values for people -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (31.454049999999995, "31.45"),
        (0.040371, "0.04037"),
        (0.1, "0.1"),
        (101.0, "101"),
        (12345.678, "12,346"),
        (1200, "1200"),
        (-2.5, "-2.5"),
        (0.0, "0"),
        (3.2e-7, "3.200e-07"),
        (float("nan"), "—"),
        (None, "—"),
        (pd.NA, "—"),
        ("a", "a"),
    ],
)
def test_a_number_is_rounded_to_four_significant_digits_and_missing_is_a_dash(value, text):
    assert readable.number(value) == text


def test_a_time_is_utc_to_the_second_whatever_its_zone():
    assert readable.timestamp(pd.Timestamp("2026-11-16 02:42:18.123456")) == "2026-11-16 02:42:18"
    paris = dt.datetime(2026, 11, 16, 3, 42, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert readable.timestamp(paris, seconds=False) == "2026-11-16 02:42"
    assert readable.timestamp(pd.NaT) == "—"


# --- one simulated day through the real jobs ---------------------------------------------------


@pytest.fixture(scope="module")
def day_run(tmp_path_factory, demo_config):
    config = dataclasses.replace(only(demo_config, MODEL), partitions_start=DAY)
    # the demo's day 4 falls on DAY
    scenarios = demo_scenarios(DAY - dt.timedelta(days=4))
    pipeline, settings = simulated(tmp_path_factory.mktemp("readable"), config, DAY, 1, scenarios)
    hourly = pipeline.backfill("hourly", DAY, DAY + dt.timedelta(hours=23))
    daily = pipeline.day(DAY)
    review = pipeline.run("monthly_review_job", partition_key=f"{MONTH}-01")
    warehouse = Warehouse(settings.warehouse_url)
    yield {
        "pipeline": pipeline,
        "runs": [*hourly.results, *daily.results, review],
        "folder": settings.data_dir / "reviews" / MODEL,
        "warehouse": warehouse,
        "model": config.model(MODEL),
    }
    warehouse.dispose()


def visible_text(html: str) -> str:
    """The page's text as a reader sees it (tags, styles and attributes dropped)."""
    html = re.sub(r"<(style|script)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


# --- the monthly review page -------------------------------------------------------------------


def test_the_review_page_has_no_none_nan_or_microseconds_and_says_what_it_is(day_run):
    folder, model = day_run["folder"], day_run["model"]
    sample = pd.read_csv(folder / f"{MONTH}.csv")
    html = (folder / f"{MONTH}.html").read_text()
    # the raw rows hold what the page used to print: microsecond times and missing values
    assert sample["ts"].str.contains(r"\.\d{6}$").any()
    assert sample["prediction_value"].isna().all()  # a classifier has no predicted value
    features = [f.column for f in model.features]
    missing = sample[features].isna().sum()
    assert missing.sum() > 0 and sample["label_value"].isna().all()
    text = visible_text(html)
    assert not re.search(r"\b(None|nan|NaN|NaT)\b", text)
    assert not re.search(r"\d\d:\d\d:\d\d\.\d", text)
    assert html.count("<tr") == len(sample) + 1
    assert text.count(readable.MISSING) >= missing.sum()
    # every number shown has at most 4 significant digits (ids and times excepted)
    cells = re.findall(r'<td class="num">([^<]*)</td>|<dd[^>]*>([-0-9.,]+)</dd>', html)
    numbers = [a or b for a, b in cells]
    assert len(numbers) > len(sample)
    assert all(
        len(n.replace("-", "").replace(",", "").replace(".", "").lstrip("0")) <= 4 for n in numbers
    )
    # the header: what the page is, which model and period, how the sample was drawn
    assert f"{MODEL}: monthly review, November 2026" in text
    assert "from 2026-11-01 00:00 to 2026-12-01 00:00 UTC" in text
    assert f"{len(sample)} of the month's" in text and "hash of the prediction id" in text
    # a sampled row reads as its CSV row, rounded
    first = sample.iloc[0]
    row = re.search(rf"<td class=\"id\">{first['prediction_id']}</td>(.*?)</tr>", html, re.S)
    assert row and f"(score {readable.number(first['score'], 3)})" in row.group(1)
    assert readable.timestamp(pd.Timestamp(first["ts"])) in row.group(1)


@pytest.mark.e2e
@pytest.mark.timeout(120)
def test_the_review_page_fits_a_1280_pixel_screen_in_headless_chromium(day_run, tmp_path):
    page_path = day_run["folder"] / f"{MONTH}.html"
    with browser_page(width=1280) as (page, errors):
        page.goto(page_path.as_uri())
        rows = page.locator("#review tbody tr").count()
        assert rows == len(pd.read_csv(day_run["folder"] / f"{MONTH}.csv"))
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280
        page.locator("#review details").first.click()  # unfold one row's features
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280
        shot = tmp_path / "review.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 20_000
    assert errors == []


# --- check messages in the Dagster UI and the warehouse ----------------------------------------

GX_NAME = re.compile(r"expect_[a-z_]+")
NUMBER = re.compile(r"(?<![\w.])-?(\d+\.\d+|\.\d+)(?:e[-+]?\d+)?")


def significant_digits(number: str) -> int:
    """How many significant digits a written decimal number has (``0.04037`` -> 4)."""
    mantissa = number.lstrip("-").split("e")[0].replace(".", "").lstrip("0")
    return len(mantissa)


def test_check_messages_use_plain_words_and_rounded_numbers(day_run):
    evaluations = [e for r in day_run["runs"] for e in r.get_asset_check_evaluations()]
    stored = day_run["warehouse"].query_df(
        "SELECT check_name, status, description, metadata FROM check_results"
    )
    failed = {e.check_name for e in evaluations if not e.passed}
    # the day's incidents fail these checks, so their messages are in the sample read below
    assert {"schema", "data_quality", "feature_drift"} <= failed, failed
    # what people read: the messages (UI and warehouse) and the metadata the UI shows
    shown = [e.description or "" for e in evaluations] + list(stored["description"])
    shown += [str(v.value) for e in evaluations for v in e.metadata.values()]
    assert not [t for t in shown + list(stored["metadata"].dropna()) if GX_NAME.search(t)]
    long = {n for t in shown for n in NUMBER.findall(t) if significant_digits(n) > 6}
    assert not long
    schema = next(e.description for e in evaluations if e.check_name == "schema" and not e.passed)
    assert re.search(r"account_age_days: \d+\.\d% missing or mistyped", schema)
    assert re.search(r"records: \d+\.\d% with a schema error", schema)

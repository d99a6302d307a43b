"""The monthly review: a sample of labelled predictions for a person to read (no Dagster).

``sample`` draws the rows from the warehouse; ``page`` writes them as CSV (for tools, full
precision) and as a self-contained HTML page (for people: rounded, UTC, fits the screen).
"""

from modelmon_dagster.review.page import write_review
from modelmon_dagster.review.sample import review_sample

__all__ = ["review_sample", "write_review"]

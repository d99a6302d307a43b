"""The line-changes of issue #10, applied one at a time: the tests named with each must fail.

Each mutant is an exact text replacement in a copy of the project (SQL included, which
mutmut does not mutate); the copy's tests run against the copy (``PYTHONPATH``). Exit status
1 when a mutant survives, so ``make mutation`` fails.

Usage: ``python mutation/known_mutants.py [--only NAME ...] [--postgres]``
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutant:
    """One line-change: ``old`` (found exactly once in ``path``) becomes ``new``."""

    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


BOUNDS = "tests/test_verdict_bounds.py"
LABELS = "tests/test_label_joins.py"
LATEST = "order by label_ts desc, partition_hour desc"
EARLIEST = "order by label_ts asc, partition_hour asc"

MUTANTS = (
    Mutant(
        "drift always WARN, never ERROR",
        "modelmon_dagster/drift.py",
        'row["severity"] = "ERROR" if row["effect_size"] >= t.drift_effect_error else "WARN"',
        'row["severity"] = "WARN"',
        (BOUNDS,),
    ),
    Mutant(
        "drift ERROR/WARN effect comparison flipped",
        "modelmon_dagster/drift.py",
        'if row["effect_size"] >= t.drift_effect_error else',
        'if row["effect_size"] < t.drift_effect_error else',
        (BOUNDS,),
    ),
    Mutant(
        "business rule comparison flipped (value < max)",
        "modelmon_dagster/config.py",
        "self.max is not None and value > self.max",
        "self.max is not None and value < self.max",
        (BOUNDS, "tests/test_verdicts.py::test_business_rule_bounds"),
    ),
    Mutant(
        "daily histogram window end <= instead of <",
        "dbt_like_sql/models/daily/daily_feature_histograms.sql",
        "hour_start < :window_end",
        "hour_start <= :window_end",
        ("tests/test_window_edges.py",),
    ),
    Mutant(
        "score histogram keeps the earliest label",
        "dbt_like_sql/models/daily/daily_score_histogram.sql",
        LATEST,
        EARLIEST,
        (LABELS,),
    ),
    Mutant(
        "confusion counts keep the earliest label",
        "dbt_like_sql/models/daily/daily_confusion_counts.sql",
        LATEST,
        EARLIEST,
        (LABELS,),
    ),
    Mutant(
        "performance counts keep the earliest label",
        "dbt_like_sql/models/daily/daily_performance_counts.sql",
        LATEST,
        EARLIEST,
        (LABELS,),
    ),
    Mutant(
        "review sample keeps the earliest label",
        "modelmon_dagster/review/sample.py",
        "ORDER BY label_ts DESC, partition_hour DESC",
        "ORDER BY label_ts ASC, partition_hour ASC",
        (LABELS,),
    ),
    Mutant(
        "performance ERROR/WARN drop comparison flipped",
        "modelmon_dagster/performance.py",
        "if drop >= t.performance_drop_error:",
        "if drop < t.performance_drop_error:",
        (BOUNDS,),
    ),
    Mutant(
        "segment gap ERROR/WARN comparison flipped",
        "modelmon_dagster/performance.py",
        'severity = "ERROR" if gap >= t.segment_gap_error else "WARN"',
        'severity = "ERROR" if gap < t.segment_gap_error else "WARN"',
        (BOUNDS,),
    ),
    Mutant(
        "volume ERROR ratio boundary < becomes <=",
        "modelmon_dagster/volume.py",
        "if ratio < t.volume_ratio_error and p_low < alpha:",
        "if ratio <= t.volume_ratio_error and p_low < alpha:",
        ("tests/test_verdicts.py::test_volume_ratio_boundaries",),
    ),
    Mutant(
        "daily window of the label-joined models includes the next day's first hour",
        "dbt_like_sql/models/daily/daily_performance_counts.sql",
        "partition_hour >= :window_start and partition_hour < :window_end",
        "partition_hour >= :window_start and partition_hour <= :window_end",
        ("tests/test_window_edges.py",),
    ),
)


def project_copy(target: Path) -> None:
    """Copy the project's tracked (and modified) files, without .git, data or venv."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in files:
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def run_tests(copy: Path, tests: tuple[str, ...], postgres: bool) -> int:
    """Pytest's exit status on the copy: 0 passed, 1 a test failed (``-x``: the first)."""
    env = {**os.environ, "PYTHONPATH": str(copy)}
    marks = [] if postgres else ["-m", "not postgres"]
    if not postgres:
        env.pop("MODELMON_TEST_POSTGRES_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-n", "0", "-p", "no:cacheprovider"]
        + marks
        + list(tests),
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
    )
    return result.returncode


def main() -> int:
    """Check every mutant (or those named by ``--only``); exit 1 if one survives."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", help="substrings of mutant names")
    parser.add_argument("--postgres", action="store_true", help="also run the PostgreSQL tests")
    args = parser.parse_args()
    chosen = [m for m in MUTANTS if not args.only or any(o in m.name for o in args.only)]
    survived = []
    with tempfile.TemporaryDirectory(prefix="known-mutants-") as tmp:
        copy = Path(tmp)
        project_copy(copy)
        tests = tuple(sorted({t for m in chosen for t in m.tests}))
        if run_tests(copy, tests, args.postgres) != 0:
            print("the tests fail without any mutant: fix them first")
            return 2
        for m in chosen:
            path = copy / m.path
            original = path.read_text()
            if original.count(m.old) != 1:
                print(f"ERROR  {m.name}: {m.old!r} found {original.count(m.old)}x in {m.path}")
                return 2
            path.write_text(original.replace(m.old, m.new))
            started = time.monotonic()
            status = run_tests(copy, m.tests, args.postgres)
            path.write_text(original)
            # only a failing test counts: a crash or a collection error (2, 3, 4) does not
            verdict = {0: "SURVIVED", 1: "caught"}.get(status, f"ERROR {status}")
            seconds = time.monotonic() - started
            print(f"{verdict:8} {m.name}  ({seconds:.0f} s; {', '.join(m.tests)})")
            if status != 1:
                survived.append(m.name)
    print(f"{len(chosen) - len(survived)} of {len(chosen)} known mutants caught by a failing test")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())

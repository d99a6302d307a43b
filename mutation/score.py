"""The mutation score of the last ``mutmut run``, per module and for the functions under test.

Score = killed / (killed + survived + timeout + suspicious): mutants that some selected test
runs. Mutants in functions no selected test runs ("no tests": the SQL-driving code, covered by
the slower end-to-end tests left out of the mutation subset) are counted apart.

Usage: ``python mutation/score.py [--survivors]``
"""

import argparse
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINE = re.compile(
    r"^\s*(?P<module>[\w.]+)\.x(?:[ǁ]\w+ǁ)?_?(?P<function>\w+?)__mutmut_\d+: (?P<status>.+)$"
)
JUDGED = ("killed", "survived", "timeout", "suspicious")


def results() -> list[tuple[str, str, str, str]]:
    """``(mutant, module, function, status)`` of every mutant of the last run."""
    out = subprocess.run(
        [str(Path(sys.executable).parent / "mutmut"), "results", "--all", "true"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = []
    for line in out.splitlines():
        name, _, status = line.strip().rpartition(": ")
        match = LINE.match(line)
        module = match["module"] if match else name.split(".x")[0]
        function = match["function"] if match else "?"
        rows.append((name, module, function, status.strip()))
    return rows


def main() -> int:
    """Print the score per module and overall; ``--survivors`` lists the surviving mutants."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--survivors", action="store_true")
    args = parser.parse_args()
    rows = results()
    per_module: dict[str, Counter] = defaultdict(Counter)
    for _, module, _, status in rows:
        per_module[module][status] += 1
    total = Counter()
    for module, counts in sorted(per_module.items()):
        total += counts
        judged = sum(counts[s] for s in JUDGED)
        score = counts["killed"] / judged if judged else float("nan")
        print(
            f"{module:32} score {score:6.1%}  killed {counts['killed']:4}  "
            f"survived {counts['survived']:4}  no tests {counts['no tests']:4}"
        )
    judged = sum(total[s] for s in JUDGED)
    print(
        f"{'all':32} score {total['killed'] / judged:6.1%}  killed {total['killed']:4}  "
        f"survived {total['survived']:4}  no tests {total['no tests']:4}  "
        f"(of {sum(total.values())} mutants)"
    )
    if args.survivors:
        for name, _, function, status in rows:
            if status == "survived":
                print(f"  survived: {name}  ({function})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Run every hostile command line of tests/test_hostile_cli.py in-process and count how each ends: ok (the
expected exit code and message), traceback (an exception escaped the command), or wrong (another exit code,
or exit 2 without the expected message).

    .venv/bin/python tools/hostile_cli_battery.py                 # this checkout
    PYTHONPATH=/path/to/old/src .venv/bin/python tools/hostile_cli_battery.py --skip-resource-cases
                                                                  # an older stemdm (its tests need not exist)

``--skip-resource-cases`` leaves out the cases that exhaust memory or hang on code without limits
(10 million patients, 100,000 workers, a billion infusions, a forest plot of 100,000 studies).
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESOURCE_VALUES = {"10000000", "1000000000000", "100000", "1000000000", "many.csv"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-resource-cases", action="store_true")
    options = parser.parse_args()
    import tests.test_hostile_cli as cases
    from typer.testing import CliRunner

    from stemdm.cli import app

    counts: collections.Counter[str] = collections.Counter()
    for defect, args, code, expected in cases.CASES:
        if options.skip_resource_cases and RESOURCE_VALUES & set(args):
            counts["not run (resources)"] += 1
            continue
        folder = Path(tempfile.mkdtemp())
        os.chdir(folder)
        os.environ["STEMDM_DB"] = str(folder / "store.sqlite")
        cases._files(folder)
        result = CliRunner().invoke(app, args)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            outcome = f"traceback ({type(result.exception).__name__})"
        elif result.exit_code != code or expected not in result.output:
            outcome = f"wrong (exit {result.exit_code})"
        else:
            outcome = "ok"
        counts[outcome.split(" (")[0]] += 1
        if outcome != "ok":
            print(f"{defect:13} | {' '.join(args)[:70]:70} | {outcome}")
    print(f"{len(cases.CASES)} cases: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


if __name__ == "__main__":
    main()

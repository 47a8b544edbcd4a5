"""Maintainers only: replace the simulator's shipped calibration (``src/stemdm/sim/data/parameters.json`` and,
with ``--bayes``, ``posterior.json``). No stemdm command writes there: ``stemdm calibrate`` writes to ``--out`` or
the user's data folder. This script runs that command into a temporary folder, then copies its files into the
source tree, so the change is a reviewable diff (commit it with the calibration's numbers in the message).

    .venv/bin/python tools/update_shipped_calibration.py            # least squares (stemdm calibrate)
    .venv/bin/python tools/update_shipped_calibration.py --bayes    # emulator + MCMC (stemdm calibrate --bayes)

Any further arguments go to ``stemdm calibrate`` (e.g. ``--design-runs 200 --patients 200``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "src" / "stemdm" / "sim" / "data"


def main(args: list[str]) -> int:
    bayes = "--bayes" in args
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / ("posterior.json" if bayes else "parameters.json")
        env = {k: v for k, v in os.environ.items() if k != "STEMDM_SIM_PARAMS"}  # start from the shipped file
        command = [sys.executable, "-m", "stemdm", "calibrate", *args, "--out", str(out)]
        if subprocess.run(command, env=env, cwd=ROOT).returncode != 0:
            return 1
        if bayes:
            shutil.copyfile(out, DATA / "posterior.json")
            parameters = json.loads(out.with_name("posterior.parameters.json").read_text())
            parameters.pop("posterior_file", None)  # the shipped pair is found by location
            (DATA / "parameters.json").write_text(json.dumps(parameters, indent=1) + "\n")
        else:
            shutil.copyfile(out, DATA / "parameters.json")
    print(f"updated {DATA.relative_to(ROOT)}: review `git diff --stat {DATA.relative_to(ROOT)}` and commit")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

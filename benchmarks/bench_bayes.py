"""Speed of the Bayesian random-effects model against R's bayesmeta, same machine, same run (ratios only;
absolute times on shared machines are noise).

1. The command a user types: ``stemdm meta bcg.csv --bayes --tau-prior "halfnormal(0.5)" --json`` against
   ``Rscript`` running ``bayesmeta(...)`` on the same 13 BCG trials (both whole processes, start-up included).
2. The engine: fits per second inside each process (stemdm.meta.bayes vs bayesmeta at its default accuracy,
   delta = 0.01, and at the tight accuracy of the fixtures, delta = 1e-4), each fit producing the same summary
   numbers (mu and tau quantiles, predictive interval, shrinkage means).

    .venv/bin/python benchmarks/bench_bayes.py          # needs R with bayesmeta (tools/install_bayesmeta.sh)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
R_LIBS = str(ROOT / ".bench" / "Rlib")
FITS = 20
R_FIT = """
suppressPackageStartupMessages({library(bayesmeta); library(metafor)})
args <- commandArgs(TRUE)
d <- read.csv(args[1]); n <- as.integer(args[2]); delta <- as.numeric(args[3])
one <- function() { f <- bayesmeta(y=d$yi, sigma=sqrt(d$vi), tau.prior=function(t) dhalfnormal(t, scale=0.5),
  interval.type="central", delta=delta, epsilon=delta^2)
  c(f$qposterior(mu.p=c(0.025,0.5,0.975)), f$qposterior(tau.p=c(0.025,0.5,0.975)),
    f$qposterior(theta.p=c(0.025,0.975), predict=TRUE), f$theta["mean",]) }
one(); t <- proc.time()[3]; for (i in seq_len(n)) one(); cat((proc.time()[3] - t) / n, "\\n")
"""


def _data(folder: Path) -> Path:
    from stemdm.meta.datasets import load_dataset
    from stemdm.meta.effects import compute_effects

    effects = compute_effects(load_dataset("bcg"), "RR")
    path = folder / "bcg.csv"
    pd.DataFrame({"study": effects.study, "yi": effects.yi, "vi": effects.vi}).to_csv(path, index=False)
    return path


def _seconds(command: list[str], env: dict | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def main() -> None:
    from stemdm.meta.bayes import bayes

    if shutil.which("Rscript") is None:
        sys.exit(
            "needs R with bayesmeta: apt-get install r-base-core ...; bash tools/install_bayesmeta.sh SRC"
        )
    folder = Path(tempfile.mkdtemp())
    csv = _data(folder)
    script = folder / "fit.R"
    script.write_text(R_FIT)
    env = os.environ | {"R_LIBS": R_LIBS}
    stemdm = [str(Path(sys.executable).with_name("stemdm")), "meta", str(csv), "--bayes", "--json"]
    cli_py = min(_seconds(stemdm) for _ in range(3))
    cli_r = min(_seconds(["Rscript", str(script), str(csv), "1", "0.01"], env) for _ in range(3))
    frame = pd.read_csv(csv)
    bayes(frame).to_dict()
    start = time.perf_counter()
    for _ in range(FITS):
        bayes(frame, tau_prior="halfnormal(0.5)").to_dict()
    per_fit_py = (time.perf_counter() - start) / FITS
    rows = []
    for delta in ("0.01", "1e-4"):
        out = subprocess.run(["Rscript", str(script), str(csv), "3", delta], check=True, capture_output=True,
                             text=True, env=env).stdout  # fmt: skip
        rows.append((delta, float(out.split()[-1])))
    print(f"command line (process incl. start-up): stemdm {cli_py:.2f} s, Rscript+bayesmeta {cli_r:.2f} s, "
          f"ratio {cli_r / cli_py:.1f}x")  # fmt: skip
    print(f"one fit, k = 13 (in process): stemdm {per_fit_py * 1000:.1f} ms (accurate to 1e-9)")
    for delta, seconds in rows:
        print(
            f"  bayesmeta delta={delta}: {seconds * 1000:.0f} ms per fit, ratio {seconds / per_fit_py:.0f}x"
        )


if __name__ == "__main__":
    main()

"""Speed of stemdm.meta against R's metafor, both run here, now, on the same data.

    python benchmarks/bench_vs_metafor.py [--write docs/PERFORMANCE.md] [--batch 100000]

Installs R and metafor from Debian's packages when missing (needs root and apt-get). Prints the
three ratios the project promises (absolute times on shared machines are noise; ratios are not):
  1. one fit, k = 13 (BCG), REML + Knapp-Hartung + tau^2 CI + prediction interval
     vs rma() + confint() + predict();
  2. fit_batch on 100,000 meta-analyses of k = 10 (REML + knha) vs a loop of rma() over a
     sample, as fits per second: (a) like for like, the fields rma() itself returns (estimate,
     SE, CI, tau^2, Q, I^2, H^2; plus the prediction interval), and (b) all fields, adding the
     Q-profile CI for tau^2 that rma() does not compute (metafor needs confint() for it);
  3. one REML fit with k = 5,000 vs rma().
Each timing is the median of repeated runs (R timed inside R, so process start-up is excluded),
except metafor at k = 5,000, run once because one fit takes minutes.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from stemdm import meta
from stemdm.meta.datasets import load_dataset

R_PACKAGES = ["r-base-core", "r-cran-metafor", "r-cran-metadat", "r-cran-jsonlite"]
R_SAMPLE_FITS = 300

R_SCRIPT = r"""
suppressMessages({ library(metafor); library(jsonlite) })
args <- commandArgs(trailingOnly = TRUE)
bcg <- read.csv(args[1]); batch <- as.matrix(read.csv(args[2])); big <- read.csv(args[3])
k <- ncol(batch) / 2
median_time <- function(expr_fun, reps)
  median(sapply(seq_len(reps), function(i) system.time(expr_fun())[["elapsed"]]))
single <- median_time(function() for (i in 1:50) {
  r <- rma(bcg$yi, bcg$vi, method = "REML", test = "knha"); ci <- confint(r); p <- predict(r) }, 5) / 50
loop <- median_time(function() for (i in seq_len(nrow(batch))) {
  r <- rma(batch[i, 1:k], batch[i, (k + 1):(2 * k)], method = "REML", test = "knha") }, 3)
# one run: at k = 5000 rma() takes minutes (k x k algebra), far above timing noise
large <- median_time(function() rma(big$yi, big$vi, method = "REML"), 1)
cat(toJSON(list(single = single, batch_fits_per_s = nrow(batch) / loop, large = large,
                version = as.character(packageVersion("metafor")), r = R.version.string),
           auto_unbox = TRUE, digits = NA))
"""


def ensure_r() -> None:
    """Install R and metafor from Debian's packages when Rscript or metafor is missing."""
    ok = (
        shutil.which("Rscript")
        and subprocess.run(
            ["Rscript", "-e", "library(metafor); library(jsonlite)"], capture_output=True
        ).returncode
        == 0
    )
    if ok:
        return
    print("installing R and metafor from Debian's packages ...", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    environment = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    subprocess.run(["apt-get", "install", "-y", "-qq", *R_PACKAGES], check=True, env=environment)


def median_seconds(function, repeats: int, inner: int = 1) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            function()
        times.append((time.perf_counter() - start) / inner)
    return statistics.median(times)


def simulated(m: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random-effects data: v_i ~ 0.1 chi2_1 + 0.001 (very unequal, as real trials), tau^2 = 0.3."""
    rng = np.random.default_rng(seed)
    vi = rng.chisquare(1, size=(m, k)) * 0.1 + 0.001
    yi = rng.normal(0, np.sqrt(vi + 0.3))
    return yi, vi


def run(batch_size: int) -> dict:
    ensure_r()
    bcg = meta.compute_effects(load_dataset("bcg"), "RR")
    bcg_frame = pd.DataFrame({"yi": bcg.yi, "vi": bcg.vi})
    yi, vi = simulated(batch_size, 10, seed=1)
    big_y, big_v = simulated(1, 5000, seed=2)
    big = pd.DataFrame({"yi": big_y[0], "vi": big_v[0]})

    def one_fit():
        result = meta.fit(bcg_frame, measure="GEN", method="REML", test="knha")
        return result.tau2_ci_ub, result.pi_ub  # the CI and PI are computed in fit()

    python = {
        "single": median_seconds(one_fit, repeats=7, inner=200),
        "batch": median_seconds(lambda: meta.fit_batch(yi, vi, method="REML", test="knha"), repeats=5),
        "batch_like": median_seconds(
            lambda: meta.fit_batch(yi, vi, method="REML", test="knha", tau2_ci=False), repeats=5
        ),
        "large": median_seconds(lambda: meta.fit(big, measure="GEN", method="REML"), repeats=7, inner=5),
    }
    python["batch_fits_per_s"] = batch_size / python["batch"]
    python["batch_like_fits_per_s"] = batch_size / python["batch_like"]
    with tempfile.TemporaryDirectory() as folder:
        paths = [Path(folder) / name for name in ("bcg.csv", "batch.csv", "big.csv", "bench.R")]
        bcg_frame.to_csv(paths[0], index=False)
        sample = np.hstack([yi[:R_SAMPLE_FITS], vi[:R_SAMPLE_FITS]])
        pd.DataFrame(sample).to_csv(paths[1], index=False)
        big.to_csv(paths[2], index=False)
        paths[3].write_text(R_SCRIPT)
        completed = subprocess.run(["Rscript", str(paths[3]), *map(str, paths[:3])],
                                   capture_output=True, text=True, check=True)  # fmt: skip
    r = json.loads(completed.stdout.strip().splitlines()[-1])
    return {
        "python": python,
        "r": r,
        "ratios": {
            "single_fit": r["single"] / python["single"],
            "batch": python["batch_like_fits_per_s"] / r["batch_fits_per_s"],
            "batch_all_fields": python["batch_fits_per_s"] / r["batch_fits_per_s"],
            "large_k": r["large"] / python["large"],
        },
        "batch_size": batch_size,
        "machine": f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}",
        "date": date.today().isoformat(),
    }


def markdown(results: dict) -> str:
    p, r, x = results["python"], results["r"], results["ratios"]
    rows = [
        ("1. one fit, k = 13, REML + knha + tau2 CI + PI", f"{p['single'] * 1e3:.3f} ms",
         f"{r['single'] * 1e3:.3f} ms", f"{x['single_fit']:.1f}x", ">= 10x"),
        (f"2a. fit_batch, {results['batch_size']:,} x k = 10, REML + knha, rma()'s fields (+ PI)",
         f"{p['batch_like_fits_per_s']:,.0f} fits/s", f"{r['batch_fits_per_s']:,.0f} fits/s",
         f"{x['batch']:,.0f}x", ">= 1000x"),
        ("2b. the same with the Q-profile CI for tau2 as well (rma() has none)",
         f"{p['batch_fits_per_s']:,.0f} fits/s", f"{r['batch_fits_per_s']:,.0f} fits/s (rma only)",
         f"{x['batch_all_fields']:,.0f}x", "(reported)"),
        ("3. one REML fit, k = 5,000", f"{p['large'] * 1e3:.2f} ms", f"{r['large']:.2f} s",
         f"{x['large_k']:,.0f}x", ">= 100x"),
    ]  # fmt: skip
    lines = ["| benchmark | stemdm | metafor | ratio | target |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines.append("")
    lines.append(f"metafor {r['version']} ({r['r']}); {results['machine']}; {results['date']}.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--write", type=Path, help="replace the results block of this markdown file")
    args = parser.parse_args()
    results = run(args.batch)
    table = markdown(results)
    print(table)
    print(json.dumps(results["ratios"], indent=2))
    if args.write:
        text = args.write.read_text()
        start, end = "<!-- results:start -->", "<!-- results:end -->"
        before, _, rest = text.partition(start)
        _, _, after = rest.partition(end)
        args.write.write_text(f"{before}{start}\n{table}\n{end}{after}")
    failed = [name for name, target in (("single_fit", 10), ("batch", 1000), ("large_k", 100))
              if results["ratios"][name] < target]  # fmt: skip
    if failed:
        print("below target: " + ", ".join(failed), file=sys.stderr)


if __name__ == "__main__":
    main()

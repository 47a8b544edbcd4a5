"""Scale of the command a user types (issue 10, part 6): ``stemdm simulate --pathway msc --patients
100000 --weeks 52 --seed 2 --json`` against the goal of 60 s wall clock on the 2-core project machine, and
the same command on 10,000 patients as a peer run in the same session (the ratio says how the cost grows with
the cohort; absolute times on shared machines are noise).

Posterior draws: the plain command simulates the central parameter set once for the cohort and, since
version 3 (issue 21), its default answer over 40 posterior draws, all in one batched simulation of 60 paired
patients per draw (about 2 s); a ``--trial-size`` run adds N draws of ``min(patients, 200)`` patients per arm
each (about 0.5 s per draw), timed separately here with 40 draws.

    .venv/bin/python benchmarks/bench_sim_scale.py [--patients 100000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

GOAL_SECONDS = 60.0


def timed(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "stemdm", "simulate", *args], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    options = parser.parse_args()
    common = ["--pathway", "msc", "--weeks", "52", "--seed", "2", "--json"]
    small = timed(["--patients", "10000", *common])
    large = timed(["--patients", str(options.patients), *common])
    draws = timed(["--patients", "200", "--trial-size", "45,46", "--posterior-draws", "40", *common])
    print(f"stemdm simulate --patients 10000 ...: {small:.1f} s")
    ratio = (
        f"goal {GOAL_SECONDS:.0f} s: ratio {large / GOAL_SECONDS:.2f}; {large / small:.1f}x the 10,000 run"
    )
    print(f"stemdm simulate --patients {options.patients} ...: {large:.1f} s ({ratio})")
    print(f"stemdm simulate --patients 200 --trial-size 45,46 --posterior-draws 40: {draws:.1f} s")


if __name__ == "__main__":
    main()

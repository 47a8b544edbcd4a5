"""Speed of stemdm.sim against simglucose (PyPI), both run here, now: simulated patient-years per second.

    python benchmarks/bench_sim_vs_simglucose.py [--patients 20000] [--hours 24] [--write docs/PERFORMANCE.md]

simglucose (the UVA/Padova T1D simulator in Python) is installed from PyPI into its own virtual environment
(.bench/simglucose-venv) when missing, and simulates one adult virtual patient for ``--hours`` with three 50 g
meals under its basal-bolus controller, timed inside its own process. stemdm simulates ``--patients``
virtual T2D patients for one year (daily slow states, four visit meal tests) in this process. The printed
ratio is stemdm patient-years per second / simglucose patient-years per second. The models differ (T1D
minute-by-minute vs T2D slow-time with meal tests at visits): the ratio measures what each costs to
simulate a patient-year with the endpoints a trial reports, which is the point of stemdm's two-timescale
design.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

from stemdm.sim.cohort import Baseline, make_cohort
from stemdm.sim.parameters import default_parameters
from stemdm.sim.therapy import Regimen
from stemdm.sim.trial import simulate_arm

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".bench" / "simglucose-venv"
START, END = "<!-- sim-results:start -->", "<!-- sim-results:end -->"

SIMGLUCOSE_RUN = """
import json, sys, time
from datetime import datetime, timedelta
from simglucose.simulation.env import T1DSimEnv
from simglucose.controller.basal_bolus_ctrller import BBController
from simglucose.sensor.cgm import CGMSensor
from simglucose.actuator.pump import InsulinPump
from simglucose.patient.t1dpatient import T1DPatient
from simglucose.simulation.scenario import CustomScenario
from simglucose.simulation.sim_engine import SimObj, sim
hours = float(sys.argv[1])
env = T1DSimEnv(T1DPatient.withName("adult#001"), CGMSensor.withName("Dexcom", seed=1),
                InsulinPump.withName("Insulet"),
                CustomScenario(start_time=datetime(2026, 1, 1), scenario=[(7, 50), (12, 50), (18, 50)]))
obj = SimObj(env, BBController(), timedelta(hours=hours), animate=False, path=sys.argv[2])
start = time.perf_counter()
sim(obj)
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def ensure_simglucose() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "simglucose"], check=True)
    return python


def time_simglucose(hours: float) -> dict:
    python = ensure_simglucose()
    out = ROOT / ".bench" / "simglucose-out"
    out.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [str(python), "-c", SIMGLUCOSE_RUN, str(hours), str(out)], check=True, capture_output=True, text=True
    )
    seconds = json.loads(done.stdout.strip().splitlines()[-1])["seconds"]
    version = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('simglucose'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return {"seconds": seconds, "patient_years": hours / (24 * 365), "version": version}


def time_stemdm(patients: int) -> dict:
    params = default_parameters()
    start = time.perf_counter()
    cohort = make_cohort(params.physiology, Baseline(), patients, np.random.default_rng(1))
    simulate_arm("therapy", cohort, Regimen(days=(0, 28, 56)), params, 52, [0, 13, 26, 52])
    return {"seconds": time.perf_counter() - start, "patient_years": patients * 52 * 7 / 365}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=20000)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--write", type=Path, help="update the sim results block of this Markdown file")
    args = parser.parse_args()
    theirs = time_simglucose(args.hours)
    ours = time_stemdm(args.patients)
    their_rate = theirs["patient_years"] / theirs["seconds"]
    our_rate = ours["patient_years"] / ours["seconds"]
    lines = [
        f"Measured {date.today()} on {platform.machine()}, Python {platform.python_version()}, "
        f"simglucose {theirs['version']}:",
        f"- simglucose: 1 adult patient, {args.hours:g} h, 3 meals, basal-bolus controller: "
        f"{theirs['seconds']:.2f} s ({their_rate:.3g} patient-years/s; {1 / their_rate / 60:.0f} min per "
        "patient-year)",
        f"- stemdm.sim: {args.patients} patients x 1 year (daily slow states, monthly representative days, "
        "4 visit meal tests): "
        f"{ours['seconds']:.2f} s ({our_rate:,.0f} patient-years/s)",
        f"- ratio (stemdm / simglucose, patient-years per second): {our_rate / their_rate:,.0f}x",
    ]
    print("\n".join(lines))
    if args.write:
        text = args.write.read_text()
        block = START + "\n" + "\n".join(lines) + "\n" + END
        if START in text:
            head, _, rest = text.partition(START)
            text = head + block + rest.partition(END)[2]
        else:
            text += (
                "\n## stemdm.sim vs simglucose\n`python benchmarks/bench_sim_vs_simglucose.py --write "
                "docs/PERFORMANCE.md`\n\n" + block + "\n"
            )
        args.write.write_text(text)


if __name__ == "__main__":
    main()

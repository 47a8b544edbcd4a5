"""The shipped parameter file: its calibration record is reproduced by re-simulation, and the HbA1c
targets (Zang 2022 placebo change and between-arm difference; Kashbour 2025 pooled 12-month MD) fall inside
their CIs."""

from __future__ import annotations

import numpy as np
import pytest

from stemdm.sim.calibrate import parameter_file, simulated, targets, zang_design
from stemdm.sim.parameters import default_parameters

HBA1C_TARGETS = (
    "placebo HbA1c change (%)",
    "HbA1c change, MSC - placebo (%)",
    "HbA1c 12-month MD, pooled (%)",
)


def test_shipped_parameters_reproduce_their_record():
    import json

    saved = json.loads(parameter_file().read_text())
    record = saved["calibration"]
    params = default_parameters()
    assert params.version == saved["version"] and params.version.startswith("1-calibrated")
    values = simulated(params, zang_design(record["patients_per_arm"], record["seed"]))
    assert values == pytest.approx(np.array([t["simulated"] for t in record["targets"]]), rel=1e-9, abs=1e-9)
    by_name = {t["name"]: t for t in record["targets"]}
    for name in HBA1C_TARGETS:
        lo, hi = by_name[name]["target_ci"]
        assert lo <= by_name[name]["simulated"] <= hi, name
    assert [t.name for t in targets()] == [t["name"] for t in record["targets"]]

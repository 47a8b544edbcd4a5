"""Every in-silico design of a calibration or held-out trial agrees with the bundled trial record (issue 21:
the liraglutide trial was simulated as 4 intra-arterial infusions every 2 weeks in patients not on insulin,
while its record says weekly, the first intra-arterial, patients on insulin)."""

from __future__ import annotations

import numpy as np
import pytest

from stemdm.evidence.bundled import load_bundled
from stemdm.sim.evidence_trials import calibration_trials, design_disagreements
from stemdm.sim.parameters import default_parameters
from stemdm.sim.therapy import Regimen, TherapyState, step_therapy
from stemdm.sim.trial import TrialDesign


def _designs():
    for trial in calibration_trials():
        made = trial.design(20, 1)
        for design in made if isinstance(made, tuple) else (made,):
            yield trial.trial, design


def test_every_calibration_design_matches_its_bundled_record():
    records = {t.trial_id: t for t in load_bundled()["trials"]}
    problems = []
    checked = 0
    for trial_id, design in _designs():
        if trial_id in records:
            problems += design_disagreements(design, records[trial_id])
            checked += 1
    assert checked >= 6 and problems == []


def test_a_disagreement_is_found():
    record = next(t for t in load_bundled()["trials"] if t.trial_id == "LIRA_hUCMSC2016")
    wrong = TrialDesign(route="intra-arterial", infusions=4, interval_weeks=2, weeks=24, visits=[0, 24],
                        insulin_treated=False)  # fmt: skip
    found = " ".join(design_disagreements(wrong, record))
    assert "route" in found and "interval_weeks" in found and "insulin_treated" in found


def test_arterial_then_iv_gives_the_first_dose_the_arterial_share():
    """The first administration into the artery, the next IV: the islet share lies between the two pure
    routes, and equals the arterial one until the second dose."""
    t = default_parameters().therapy
    shares = {}
    for route in ("iv", "intra-arterial", "arterial-then-iv"):
        regimen = Regimen("msc", "umbilical_cord", route, 1.0, (0, 7))
        state = TherapyState.empty(1)
        islet = []
        for day in range(21):
            step_therapy(t, regimen, state, day)
            islet.append(float(state.e_islet[0]))
        shares[route] = np.array(islet)
    mixed, arterial, iv = shares["arterial-then-iv"], shares["intra-arterial"], shares["iv"]
    assert mixed[:7] == pytest.approx(arterial[:7])
    assert np.all(iv[8:] <= mixed[8:] + 1e-12) and np.all(mixed[8:] <= arterial[8:] + 1e-12)
    assert mixed[-1] < arterial[-1]

"""stemdm.sim: mechanistic simulator of type 2 diabetes with the three stem-cell therapy pathways acting
through four mechanisms; in-silico randomized trials reporting the trials' own endpoints (docs/MODEL.md).

    from stemdm import sim
    design = sim.TrialDesign(pathway="msc", dose=1.0, infusions=3, weeks=48, patients_per_arm=200)
    result = sim.run_trial(design)          # params=None: the calibrated parameter file shipped with stemdm
    print(result.summary()); result.to_frame(); result.to_dict()
"""

from stemdm.sim.calibrate import calibrate, targets
from stemdm.sim.parameters import Parameters, default_parameters
from stemdm.sim.responders import mechanism_contributions, responder_analysis
from stemdm.sim.trial import ENDPOINTS, TrialDesign, TrialResult, run_trial

__all__ = [
    "ENDPOINTS",
    "Parameters",
    "TrialDesign",
    "TrialResult",
    "calibrate",
    "default_parameters",
    "mechanism_contributions",
    "responder_analysis",
    "run_trial",
    "targets",
]

"""Parameters of the simulator, each with its source or marked as an assumption (docs/MODEL.md).

Units: glucose G in mg/dL, insulin I in uU/mL, time in days, beta-cell quantities relative to a healthy adult
(1 = healthy), cell doses in 10^6 cells/kg.

Sources (keys used below):
- Topp2000: Topp et al. 2000 J Theor Biol 206:497 (BioModels BIOMD0000000341): R0, EG0, SI, sigma, alpha, k.
- Ha2016: Ha, Satin & Sherman 2016 Endocrinology 157:624 (human.ode): slow beta-cell function time constant
  tau_sigma = 249.9 d; insulin-sensitivity relaxation ~250 d.
- Palmer2014: Palmér et al. 2014 CPT Pharmacometrics Syst Pharmacol 3:e118 (BIOMD0000000620): IL-1 receptor
  occupancy -> apoptosis / replication / secretory-capacity functions; 12-compartment red-cell HbA1c chain.
- Mitrakou1991: Mitrakou et al. 1991 Am J Physiol 260:E67, glycaemic thresholds of the responses to falling
  glucose (insulin secretion ~80 mg/dL, glucagon and adrenaline 65-70 mg/dL, symptoms ~55 mg/dL);
  Schwartz1987: Schwartz et al. 1987 J Clin Invest 79:777 (the same hierarchy).
- Ferrannini1997: Ferrannini et al. (EGIR) 1997 J Clin Invest 100:1166: clamp insulin sensitivity falls
  linearly with BMI, 1.2 (95 % CI 1.0-1.4) umol/min/kg FFM per kg/m2, age- and sex-adjusted.
- Matthews1985: HOMA1 formulas. VanCauter1992: C-peptide kinetics. Riddle2003: Treat-to-Target titration.
- ASSUMPTION: chosen by us, stated with its reasoning; to be calibrated (issue 5) or defended.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path


def _p(value: float, source: str, unit: str = "") -> float:
    return field(default=value, metadata={"source": source, "unit": unit})


@dataclass(frozen=True)
class Physiology:
    """Glucose-insulin-beta-cell physiology (Topp 2000 backbone in days, Palmér 2014 inflammation links)."""

    R0: float = _p(864.0, "Topp2000", "mg/dL/d")  # glucose production at zero glucose
    EG0: float = _p(1.44, "Topp2000", "1/d")  # insulin-independent glucose effectiveness
    SI0: float = _p(0.72, "Topp2000", "mL/uU/d")  # insulin sensitivity of a healthy adult
    secretion: float = _p(12960.0, "Topp2000: sigma 43.2 x healthy beta mass 300 mg", "uU/mL/d")
    alpha: float = _p(20000.0, "Topp2000", "(mg/dL)^2")  # half-maximal squared glucose of secretion
    k_clear: float = _p(432.0, "Topp2000", "1/d")  # insulin clearance
    hgp_floor: float = _p(0.3, "ASSUMPTION: insulin cannot suppress ~30% of hepatic output", "")
    hgp_c: float = _p(10.0, "ASSUMPTION: half-suppression near basal insulin (Ha 2020 HGP shape)", "uU/mL")
    secretion_on: float = _p(
        80.0,
        "Mitrakou1991: endogenous insulin secretion starts to fall below ~80 mg/dL (4.4 mmol/L)",
        "mg/dL",
    )
    secretion_off: float = _p(
        50.0,
        "ASSUMPTION after Mitrakou1991/Schwartz1987: secretion essentially off at the symptomatic "
        "threshold (~50-55 mg/dL)",
        "mg/dL",
    )
    counter_reg: float = _p(3.0, "ASSUMPTION: counter-regulatory output below 70 mg/dL (x R0 at G = 0)", "")
    # inflammation (Z stands in for Palmér's IL-1 receptor occupancy)
    ka: float = _p(5.52e-4, "Palmer2014", "1/d")
    kr: float = _p(3.76e-4, "Palmer2014", "1/d")
    vha: float = _p(4.6, "Palmer2014")
    kmha: float = _p(0.155, "Palmer2014")
    xha: float = _p(2.0 / 3.0, "Palmer2014")
    vla: float = _p(0.65, "Palmer2014")
    kmla: float = _p(1.8e-4, "Palmer2014")
    xla: float = _p(3.0, "Palmer2014")
    vhr: float = _p(2.7, "Palmer2014")
    kmhr: float = _p(0.018, "Palmer2014")
    xhr: float = _p(0.5, "Palmer2014")
    vlr: float = _p(1.8, "Palmer2014")
    kmlr: float = _p(0.0011, "Palmer2014")
    xlr: float = _p(3.0, "Palmer2014")
    vs: float = _p(0.7, "Palmer2014 TigB", "")
    kms: float = _p(0.021, "Palmer2014 TigB", "")
    kQ: float = _p(0.5, "Palmer2014 taus", "1/d")
    z_healthy: float = _p(0.0125, "computed: Palmér replication = apoptosis (net beta change 0)", "")
    kZ: float = _p(0.2, "ASSUMPTION: inflammatory tone relaxes in ~5 days (Palmér IL-1b k1 = 0.2/d)", "1/d")
    gZ: float = _p(0.15, "ASSUMPTION: glucose drives inflammatory tone (Zhao 2014 concept)", "per 100 mg/dL")
    tau_F: float = _p(249.9, "Ha2016 tau_sigma", "d")
    f_gluco: float = _p(0.08, "ASSUMPTION: glucotoxic loss of beta function per 100 mg/dL above 100", "")
    tau_S: float = _p(250.0, "Ha2016/Ha2020 insulin-sensitivity relaxation", "d")
    c_p: float = _p(2.0, "ASSUMPTION: inflammation lowers peripheral sensitivity (1 - c_p (Z - Z_h))", "")
    c_h: float = _p(1.0, "ASSUMPTION: inflammation lowers hepatic sensitivity", "")
    bmi_si_slope: float = _p(
        1.2, "Ferrannini1997: clamp sensitivity falls 1.2 (1.0-1.4) per kg/m2", "umol/min/kg FFM per kg/m2"
    )
    bmi_si_lean: float = _p(
        45.0,
        "ASSUMPTION: clamp sensitivity of a lean (BMI 25) adult at EGIR's insulin dose, the denominator that "
        "turns Ferrannini1997's slope into a relative one (2.7 %/kg/m2); the abstract does not give it",
        "umol/min/kg FFM",
    )
    # HbA1c chain (Palmér 2014, glucose in mmol/L, time in days)
    ktr: float = _p(0.12, "Palmer2014 RBC chain", "1/d")
    kin: float = _p(1.05, "Palmer2014 RBC chain", "1/d")
    kg: float = _p(0.000292, "Palmer2014 RBC chain", "")
    lam: float = _p(0.743, "Palmer2014 RBC chain", "")
    meal_carbs: float = _p(60.0, "ASSUMPTION: a representative meal of 60 g carbohydrate, three a day", "g")
    meals_per_day: int = field(default=3, metadata={"source": "ASSUMPTION: three meals a day"})
    meal_window: int = field(
        default=240,
        metadata={
            "source": "ASSUMPTION: a meal's glucose excursion lasts "
            "about 4 hours (Dalla Man 2007 meal curves)"
        },
    )
    representative_day_every: int = field(
        default=28,
        metadata={
            "source": "ASSUMPTION: postprandial excess re-simulated every 4 weeks (DPM15 idea, design 7.3)"
        },
    )
    # insulin therapy
    exo_per_iu: float = _p(
        0.25, "ASSUMPTION: steady plasma insulin increment per IU/day of basal insulin", "uU/mL per IU/day"
    )
    titration_days: int = field(default=7, metadata={"source": "Riddle2003 Treat-to-Target weekly titration"})
    deescalate_below: float = _p(
        110.0,
        "ASSUMPTION: insulin lowered 2 IU/week below this fasting glucose (trial practice; calibrated)",
        "mg/dL",
    )
    titration_sd: float = _p(
        15.0,
        "ASSUMPTION: each patient's fasting glucose thresholds for titration differ from the protocol's by "
        "N(0, SD) (many physicians and patients applying one algorithm); without it the therapy arm's HbA1c "
        "SD collapsed toward the threshold (0.65 vs 1.01 on placebo; Zang 2022 observed 1.07 vs 1.02)",
        "mg/dL",
    )
    fpg_target: float = _p(130.0, "ADA/EASD fasting target < 130 mg/dL (Riddle2003 table for steps)", "mg/dL")
    titration_band: float = _p(
        0.0,
        "ASSUMPTION: insulin taken away is given back above deescalate_below + this band; 0 = no dead band, "
        "so the dose a patient ends on does not depend on the path taken (with a 10 mg/dL band a type 1 cell "
        "arm still ended 0.02 % HbA1c above its own placebo counterfactual under some posterior draws)",
        "mg/dL",
    )
    titration: str = field(
        default="target",
        metadata={
            "source": "trial design: 'target' (weekly, reversible, see trial._titrate) or 'fixed' "
            "(background insulin held at its starting dose)"
        },
    )


@dataclass(frozen=True)
class Therapy:
    """Pathway pharmacology and the four mechanisms' effect sizes (all ASSUMPTION until calibrated)."""

    msc_half_life: float = _p(1.0, "ASSUMPTION from mouse viability (Eggenhofer 2012): viable MSC ~1 d", "d")
    msc_ec50: float = _p(1.0, "ASSUMPTION: half-maximal signal at 1e6 cells/kg", "1e6 cells/kg")
    signal_half_life: float = _p(60.0, "ASSUMPTION: paracrine effect decays over weeks (to calibrate)", "d")
    signal_gain: float = _p(
        0.3, "ASSUMPTION: effect-signal rise per day of saturating exposure (to calibrate)", "1/d"
    )
    f_local_iv: float = _p(0.1, "ASSUMPTION: islet-local share after IV (lung first pass)", "")
    f_local_arterial: float = _p(0.6, "ASSUMPTION: islet-local share after intra-arterial delivery", "")
    exosome_half_life: float = _p(0.02, "ASSUMPTION: EV clearance ~30 min (unverified secondary source)", "d")
    exosome_emax: float = _p(0.3, "ASSUMPTION: secretome effect smaller than cells", "")
    graft_maturation: float = _p(120.0, "ASSUMPTION from VC-02: C-peptide from ~6 months", "d")
    graft_loss: float = _p(0.001, "ASSUMPTION: slow graft attrition", "1/d")
    graft_encapsulated_efficiency: float = _p(0.5, "ASSUMPTION: encapsulation blunts secretion", "")
    # mechanism effect sizes at full signal (E = 1)
    e_immuno: float = _p(0.3, "ASSUMPTION: fractional fall of inflammatory tone", "")
    e_protect: float = _p(
        0.2, "ASSUMPTION: fractional fall of beta apoptosis (small: Perl 2010, Cnop 2010)", ""
    )
    e_regen: float = _p(0.1, "ASSUMPTION: fractional rise of beta replication (small prior)", "")
    e_micro: float = _p(0.1, "ASSUMPTION: rise of native beta-cell function (islet microenvironment)", "")
    e_sens: float = _p(0.3, "ASSUMPTION: rise of peripheral and hepatic insulin sensitivity", "")
    response_sd_log: float = _p(
        0.5,
        "ASSUMPTION: between-patient variability of the response to cells (mean-one log-normal multiplier of "
        "the effect signals; a patient 1 SD above responds 1.65x, 1 SD below 0.61x); no trial reports it",
        "log scale",
    )


@dataclass(frozen=True)
class Placebo:
    """The trial effect both arms receive (closer care, adherence, diet): insulin sensitivity rises, the
    insulin actually taken falls and meals carry less carbohydrate, each with onset tau."""

    e_sens: float = _p(0.08, "ASSUMPTION: calibrated to Zang 2022 placebo HbA1c -0.63 % at 48 weeks", "")
    onset: float = _p(28.0, "ASSUMPTION", "d")
    dose_reduction: float = _p(
        0.0,
        "ASSUMPTION: closer care lowers the insulin actually taken by this fraction "
        "(both arms; calibrated to Zang 2022's placebo arm)",
        "",
    )
    e_diet: float = _p(
        0.0,
        "ASSUMPTION: dietary counselling and closer care in a trial lower each meal's carbohydrate by this "
        "fraction (both arms; calibrated: it lets the placebo HbA1c fall without the insulin-sensitivity "
        "gain Zang 2022's placebo clamp did not show, x1.10)",
        "",
    )


@dataclass(frozen=True)
class Parameters:
    physiology: Physiology = Physiology()
    therapy: Therapy = Therapy()
    placebo: Placebo = Placebo()
    version: str = "0-uncalibrated"

    def to_dict(self) -> dict:
        return {
            "version": self.version,
            "physiology": asdict(self.physiology),
            "therapy": asdict(self.therapy),
            "placebo": asdict(self.placebo),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Parameters:
        return cls(
            Physiology(**data["physiology"]),
            Therapy(**data["therapy"]),
            Placebo(**data["placebo"]),
            data.get("version", "unknown"),
        )


def sources(block: type) -> dict[str, str]:
    """Parameter name -> source (or ASSUMPTION with its reasoning), for docs and reports."""
    return {f.name: f.metadata.get("source", "") for f in fields(block)}


#: a parameter file of the user's (``stemdm calibrate`` writes one) used instead of the shipped one
PARAMS_ENV = "STEMDM_SIM_PARAMS"


class ParameterFileError(ValueError):
    """A parameter file that cannot be used, named with why."""


def shipped_parameter_file() -> Path:
    """The calibration shipped with the package (changed only by tools/update_shipped_calibration.py)."""
    return Path(str(resources.files("stemdm.sim") / "data" / "parameters.json"))


def chosen_parameter_file() -> Path:
    """``STEMDM_SIM_PARAMS`` (``stemdm simulate --params`` sets it) when set, else the shipped file."""
    env = os.environ.get(PARAMS_ENV)
    return Path(env).expanduser() if env else shipped_parameter_file()


def read_parameter_file(path: Path) -> dict:
    """A parameter file's JSON, checked to be one (a clear error naming the file otherwise)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParameterFileError(f"{path}: no such parameter file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ParameterFileError(f"{path}: not a readable parameter file ({error})") from None
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k), dict) for k in ("physiology", "therapy", "placebo")
    ):
        raise ParameterFileError(
            f"{path}: not a stemdm parameter file (needs physiology, therapy and placebo blocks; "
            "`stemdm calibrate` writes one)"
        )
    return data


def default_parameters() -> Parameters:
    """The parameters of ``chosen_parameter_file()`` (the shipped file unless ``STEMDM_SIM_PARAMS`` names
    another), else the coded defaults when the package ships none."""
    path = chosen_parameter_file()
    if path == shipped_parameter_file() and not path.exists():
        return Parameters()
    data = read_parameter_file(path)
    try:
        return Parameters.from_dict(data)
    except TypeError as error:
        raise ParameterFileError(f"{path}: a block has an unknown or missing parameter ({error})") from None


def chosen_posterior_file() -> Path | None:
    """The posterior draws that go with the chosen parameter file: the file it names (``posterior_file``,
    written by ``stemdm calibrate --bayes``), else None (the shipped posterior)."""
    path = chosen_parameter_file()
    if path == shipped_parameter_file():
        return None
    named = read_parameter_file(path).get("posterior_file")
    if not named:
        return None
    posterior = Path(named)
    return posterior if posterior.is_absolute() else path.parent / posterior

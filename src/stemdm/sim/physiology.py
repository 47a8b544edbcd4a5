"""Vectorized slow-time physiology of type 2 diabetes (one step = one day; arrays over patients).

Design: shared/design/mechanistic-model.md section 7 (docs/MODEL.md lists every equation and source).

- Fasting glucose and insulin are a quasi-steady state each day (Topp et al. 2000 structure):
  0 = HGP(Sh, I) - (EG0 + SI0 * Sp * I) * G,  I = secretion * Bfun * G^2 / (alpha + G^2) / k + I_exo(D),
  with Bfun = B * F * Q (+ graft) the beta-cell function relative to a healthy adult.
- Slow states relax daily: beta-cell mass B (Palmér 2014 replication / apoptosis as functions of inflammatory
  tone Z), secretory function F (Ha 2016, tau 250 d, glucotoxicity), fast inflammation-suppressible capacity Q
  (Palmér TigB, tau 2 d), insulin sensitivities Sp, Sh (Ha 2016/2020 relaxation), inflammatory tone Z.
- HbA1c: Palmér's 12-compartment red-cell glycation chain driven by daily mean glucose (mmol/L).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stemdm.sim.parameters import Physiology

MG_DL_PER_MMOL_L = 18.016
N_RBC = 12


@dataclass
class State:
    """Per-patient state arrays, shape (n,) unless noted."""

    B: np.ndarray  # beta-cell mass (1 = healthy)
    F: np.ndarray  # beta-cell secretory function (slow)
    F_intrinsic: np.ndarray  # the patient's function without glucotoxicity
    Q: np.ndarray  # inflammation-suppressible secretory capacity (fast)
    Sp: np.ndarray  # peripheral insulin sensitivity (relative, before inflammation/therapy modifiers)
    Sh: np.ndarray  # hepatic insulin sensitivity (relative)
    Sp_target: np.ndarray  # the patient's disease targets the sensitivities relax to
    Sh_target: np.ndarray
    Z: np.ndarray  # inflammatory tone (IL-1 receptor occupancy scale)
    Z_base: np.ndarray  # the patient's baseline tone
    rbc: np.ndarray  # (n, 12) non-glycated red-cell compartments
    a1c: np.ndarray  # (n, 12) glycated compartments
    G: np.ndarray  # fasting glucose, mg/dL (kept as the next day's Newton start)
    meal_excess: np.ndarray  # daily mean minus fasting glucose (mg/dL), from the latest representative day
    dose: np.ndarray  # basal insulin, IU/day
    insulin_treated: np.ndarray  # bool


def apoptosis_factor(p: Physiology, z: np.ndarray) -> np.ndarray:
    """Palmér 2014 apoptosis rate (1/d) as a function of receptor occupancy."""
    high = p.vha * z**p.xha / (p.kmha**p.xha + z**p.xha)
    low = p.vla * z**p.xla / (p.kmla**p.xla + z**p.xla)
    return p.ka * (1 + high - low)


def replication_factor(p: Physiology, z: np.ndarray) -> np.ndarray:
    """Palmér 2014 replication rate (1/d) as a function of receptor occupancy."""
    high = p.vhr * z**p.xhr / (p.kmhr**p.xhr + z**p.xhr)
    low = p.vlr * z**p.xlr / (p.kmlr**p.xlr + z**p.xlr)
    return p.kr * (1 - high + low)


def capacity(p: Physiology, z: np.ndarray) -> np.ndarray:
    """Palmér TigB target, relative to its value at the healthy tone (1 = healthy)."""
    healthy = 1 - p.vs * p.z_healthy / (p.kms + p.z_healthy)
    return (1 - p.vs * z / (p.kms + z)) / healthy


def secretion_curve(p: Physiology, G: np.ndarray) -> np.ndarray:
    """Relative glucose-stimulated secretion: Topp 2000's Hill curve times the low-glucose threshold."""
    return G**2 / (p.alpha + G**2) * secretion_threshold(p, G)[0]


def secretion_threshold(p: Physiology, G: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Factor (0-1) on endogenous insulin secretion as glucose falls and its derivative in G: 1 above
    ``secretion_on`` (80 mg/dL, Mitrakou 1991), 0 below ``secretion_off``, a smoothstep between (so Newton
    iterations see a continuous slope). Beta cells, native or grafted, stop secreting in hypoglycaemia."""
    width = p.secretion_on - p.secretion_off
    x = np.clip((G - p.secretion_off) / width, 0.0, 1.0)
    return x * x * (3 - 2 * x), 6 * x * (1 - x) / width


def glucose_balance(
    p: Physiology, G: np.ndarray, bfun: np.ndarray, sp: np.ndarray, sh: np.ndarray, i_exo: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Net fasting glucose flux (mg/dL/d) at glucose G, its derivative in G, and endogenous insulin (uU/mL).

    Production: R0 x [floor + (1 - floor) (c + 10) / (c + Sh I)] (insulin-suppressible hepatic output,
    equal to
    R0 at healthy basal insulin; ASSUMPTION shape after Ha 2020) + counter-regulation R0 x cr x (70 - G)/70
    below
    70 mg/dL (ASSUMPTION: glucagon/adrenaline keep fasting glucose out of severe hypoglycaemia). Uptake:
    (EG0 + SI0 Sp I) G (Topp 2000). Endogenous insulin: Topp's Hill curve x the low-glucose secretion
    threshold (Mitrakou 1991)."""
    gain = p.secretion * bfun / p.k_clear
    hill = G**2 / (p.alpha + G**2)
    threshold, dthreshold = secretion_threshold(p, G)
    endogenous = gain * hill * threshold
    insulin = endogenous + i_exo
    dI = gain * (2 * p.alpha * G / (p.alpha + G**2) ** 2 * threshold + hill * dthreshold)
    c = p.hgp_c + 10.0
    hgp = p.R0 * (p.hgp_floor + (1 - p.hgp_floor) * c / (p.hgp_c + sh * insulin))
    dhgp = -p.R0 * (1 - p.hgp_floor) * c * sh * dI / (p.hgp_c + sh * insulin) ** 2
    low = G < 70.0
    counter = np.where(low, p.R0 * p.counter_reg * (70.0 - G) / 70.0, 0.0)
    dcounter = np.where(low, -p.R0 * p.counter_reg / 70.0, 0.0)
    uptake = (p.EG0 + p.SI0 * sp * insulin) * G
    duptake = p.EG0 + p.SI0 * sp * insulin + p.SI0 * sp * dI * G
    return hgp + counter - uptake, dhgp + dcounter - duptake, endogenous


def fasting_state(
    p: Physiology, bfun: np.ndarray, sp: np.ndarray, sh: np.ndarray, i_exo: np.ndarray, G0: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Fasting glucose (mg/dL) and endogenous insulin (uU/mL) solving the daily quasi-steady state by
    safeguarded
    Newton iterations from ``G0`` (the balance is strictly decreasing in G, so the root is unique)."""
    G = np.clip(G0, 30.0, 1500.0)
    lo, hi = np.full_like(G, 1.0), np.full_like(G, 3000.0)
    active = np.ones(G.shape, dtype=bool)
    for _ in range(60):
        f, df, _ = glucose_balance(p, G, bfun, sp, sh, i_exo)
        at_root = np.abs(f) <= 1e-9 * p.R0  # flux at the floating-point floor: stay here
        lo = np.where(f > 0, G, lo)
        hi = np.where(f < 0, G, hi)
        step = G - f / df
        outside = (step < lo) | (step > hi)
        new = np.where(outside, 0.5 * (lo + hi), step)
        # each patient stops on its own: results do not depend on which other patients share the array
        moving = active & ~at_root
        new = np.where(moving, new, G)
        active = moving & (np.abs(new - G) > 1e-9 * G)
        G = new
        if not active.any():
            break
    return G, glucose_balance(p, G, bfun, sp, sh, i_exo)[2]


def hba1c_chain_steady(p: Physiology, mean_glucose_mmol: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Steady state of the red-cell chain at constant mean glucose (baseline initialization)."""
    glyc = p.kg * mean_glucose_mmol**p.lam
    n = mean_glucose_mmol.shape[0]
    rbc = np.empty((n, N_RBC))
    a1c = np.empty((n, N_RBC))
    rbc[:, 0] = p.kin / (p.ktr + glyc)
    a1c[:, 0] = glyc * rbc[:, 0] / p.ktr
    for i in range(1, N_RBC):
        rbc[:, i] = p.ktr * rbc[:, i - 1] / (p.ktr + glyc)
        a1c[:, i] = (glyc * rbc[:, i] + p.ktr * a1c[:, i - 1]) / p.ktr
    return rbc, a1c


def hba1c_percent(rbc: np.ndarray, a1c: np.ndarray) -> np.ndarray:
    glycated = a1c.sum(axis=1)
    return 100 * glycated / (glycated + rbc.sum(axis=1))


def step_rbc(p: Physiology, rbc: np.ndarray, a1c: np.ndarray, mean_glucose_mmol: np.ndarray, dt: float = 1.0):
    """One explicit step of the chain (ktr dt = 0.12: stable)."""
    glyc = (p.kg * mean_glucose_mmol**p.lam)[:, None]
    inflow = np.empty_like(rbc)
    inflow[:, 0] = p.kin
    inflow[:, 1:] = p.ktr * rbc[:, :-1]
    a_in = np.zeros_like(a1c)
    a_in[:, 1:] = p.ktr * a1c[:, :-1]
    new_rbc = rbc + dt * (inflow - p.ktr * rbc - glyc * rbc)
    new_a1c = a1c + dt * (glyc * rbc + a_in - p.ktr * a1c)
    return new_rbc, new_a1c


def tone_target(p: Physiology, z_base: np.ndarray, G: np.ndarray, immuno: np.ndarray | float) -> np.ndarray:
    """Inflammatory tone the patient relaxes to: baseline tone, raised by hyperglycaemia (Zhao 2014 concept,
    ASSUMPTION gZ per 100 mg/dL above 100), lowered by immunomodulation (fraction ``immuno`` in [0, 1))."""
    return z_base * (1 + p.gZ * np.maximum(G - 100.0, 0.0) / 100.0) * (1 - immuno)


def effective_sensitivity(
    p: Physiology, sp: np.ndarray, sh: np.ndarray, z: np.ndarray, boost: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray]:
    """Sensitivities after inflammation (ASSUMPTION c_p, c_h per unit tone above healthy) and a fractional
    ``boost`` (therapy mechanism 4 and the trial effect), floored at 2 % of healthy."""
    excess = np.maximum(z - p.z_healthy, 0.0)
    sp_eff = sp * (1 - p.c_p * excess) * (1 + boost)
    sh_eff = sh * (1 - p.c_h * excess) * (1 + boost)
    return np.maximum(sp_eff, 0.02), np.maximum(sh_eff, 0.02)


def bmi_sensitivity(p: Physiology, bmi: np.ndarray, reference_bmi: float = 27.0) -> np.ndarray:
    """Peripheral insulin sensitivity at ``bmi`` relative to ``reference_bmi`` (kg/m2): clamp sensitivity
    falls linearly with BMI (Ferrannini et al. 1997, EGIR, 1.2 umol/min/kg FFM per kg/m2 from a lean value
    ``bmi_si_lean`` at BMI 25), floored at a fifth of the lean value."""

    def clamp_m(b: np.ndarray | float) -> np.ndarray:
        m = p.bmi_si_lean - p.bmi_si_slope * (np.asarray(b, dtype=float) - 25.0)
        return np.maximum(m, 0.2 * p.bmi_si_lean)

    return clamp_m(bmi) / clamp_m(reference_bmi)


def glucotoxicity(p: Physiology, G: np.ndarray) -> np.ndarray:
    """Factor on beta-cell function from hyperglycaemia (ASSUMPTION: linear loss f_gluco per 100 mg/dL
    above 100,
    the direction of Ha 2016's sigma dynamics), floored at 0.1."""
    return np.clip(1 - p.f_gluco * np.maximum(G - 100.0, 0.0) / 100.0, 0.1, 1.0)


def relax(x: np.ndarray, target: np.ndarray, rate: float, dt: float = 1.0) -> np.ndarray:
    """Exact first-order relaxation over dt (stable for any rate)."""
    return target + (x - target) * np.exp(-rate * dt)


def homa(G: np.ndarray, insulin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """HOMA1 (Matthews 1985), mg/dL forms: IR = G I / 405, %B = 360 I / (G - 63) (NaN where G <= 63 mg/dL)."""
    ir = G * insulin / 405.0
    with np.errstate(divide="ignore", invalid="ignore"):
        b = np.where(G > 63.0, 360.0 * insulin / (G - 63.0), np.nan)
    return ir, b

"""Meal-scale physiology at visits: a mixed-meal / oral glucose test with the Dalla Man, Rizza & Cobelli 2007
meal model (IEEE TBME 54:1740), vectorized over patients, and C-peptide by Van Cauter 1992 kinetics.

Parameters: the normal-subject set of Dalla Man 2007 (as tabulated in the design doc, section 3.2), with its
"knobs" scaled by the patient's slow states (design doc 7.3, ASSUMPTION linking rule): secretion gains K and
beta by beta-cell function Bfun (1 = healthy), peripheral insulin action Vmx by Sp, hepatic insulin action kp3
by Sh. The basal state is the patient's fasting quasi-steady state (glucose and insulin from the slow model);
the basal equations of Dalla Man 2007 fix the remaining basal quantities (EGPb, Gtb, Ipb, Ilb, Sb).

Outputs per patient: glucose at 120 min (mg/dL; the 2-h postprandial glucose of an OGTT or MMTT), C-peptide at
90 min (ng/mL; the stimulated C-peptide of an MMTT), and mean glucose over the test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Dalla Man 2007, normal subjects (design doc 3.2 table; units mg/kg, pmol/kg, min)
VG, K1, K2 = 1.88, 0.065, 0.079
VI, M1, M2, M4, M5, M6 = 0.05, 0.190, 0.484, 0.194, 0.0304, 0.6471
KMAX, KMIN, KABS, KGRI, F_ABS, B_EMPT, D_EMPT = 0.0558, 0.0080, 0.057, 0.0558, 0.90, 0.82, 0.010
KP2, KP3, KP4, KI = 0.0021, 0.009, 0.0618, 0.0079
FCNS, VM0, VMX, KM0, P2U = 1.0, 2.50, 0.047, 225.59, 0.0331
K_SEC, ALPHA_SEC, BETA_SEC, GAMMA_SEC = 2.30, 0.050, 0.11, 0.5
KE1, KE2 = 0.0005, 339.0
PMOL_PER_UU = 6.0  # insulin: pmol/L per uU/mL


@dataclass
class MealResult:
    glucose_120: np.ndarray  # mg/dL
    c_peptide_90: np.ndarray  # ng/mL
    mean_glucose: np.ndarray  # mg/dL over the test
    #: Seltzer 1967 insulinogenic index: (I30 - I0) / (G30 - G0), endogenous insulin uU/mL per mg/dL glucose
    insulinogenic_index: np.ndarray | None = None


def _m3(secretion: np.ndarray) -> np.ndarray:
    extraction = np.clip(M6 - M5 * secretion, 0.0, 0.95)
    return extraction * M1 / (1 - extraction)


def _basal_secretion(ilb: np.ndarray, ipb: np.ndarray) -> np.ndarray:
    """Basal secretion Sb solving Sb = (m1 + m3(Sb)) Ilb - m2 Ipb (fixed point; a contraction here)."""
    sb = np.full_like(ilb, 1.8)
    for _ in range(50):
        sb = np.maximum((M1 + _m3(sb)) * ilb - M2 * ipb, 1e-9)
    return sb


def _renal(gp: np.ndarray) -> np.ndarray:
    return np.where(gp > KE2, KE1 * (gp - KE2), 0.0)


def meal_test(
    G_fast: np.ndarray,
    I_fast: np.ndarray,
    bfun: np.ndarray,
    sp: np.ndarray,
    sh: np.ndarray,
    weight: np.ndarray,
    cpep_fast: np.ndarray,
    k10: np.ndarray,
    k12: np.ndarray,
    k21: np.ndarray,
    carbs_g: float = 75.0,
    minutes: int = 180,
    I_exo: np.ndarray | None = None,
) -> MealResult:
    """An oral glucose load of ``carbs_g`` grams (75 g OGTT by default) from each patient's fasting state.

    ``I_fast`` is endogenous fasting plasma insulin (uU/mL), ``I_exo`` the plasma insulin from injected basal
    insulin (uU/mL; flat over the test, ASSUMPTION for a long-acting basal insulin). Glucose responds to their
    sum; the Dalla Man basal secretion and the C-peptide (from ``cpep_fast``, ng/mL, by the Van Cauter
    two-compartment model with k10, k12, k21 per minute) follow endogenous secretion only, so injected insulin
    is never counted as secreted."""
    n = G_fast.shape[0]
    exo = np.zeros(n) if I_exo is None else I_exo * PMOL_PER_UU
    vmx = VMX * sp
    kp3 = KP3 * sh
    k_sec = K_SEC * bfun
    beta_sec = BETA_SEC * bfun
    gpb = G_fast * VG
    ib = I_fast * PMOL_PER_UU + exo  # total basal plasma insulin, pmol/L (drives glucose)
    ipb = I_fast * PMOL_PER_UU * VI  # endogenous plasma insulin, pmol/kg
    ilb = (M2 + M4) * ipb / M1
    sb = _basal_secretion(ilb, ipb)
    ipob = sb / GAMMA_SEC
    # basal tissue glucose: k1 Gpb - k2 Gtb = Vm0 Gtb / (Km0 + Gtb)  (quadratic, positive root)
    a = K2
    b = K2 * KM0 + VM0 - K1 * gpb
    c = -K1 * gpb * KM0
    gtb = (-b + np.sqrt(b * b - 4 * a * c)) / (2 * a)
    uid_b = VM0 * gtb / (KM0 + gtb)
    egpb = FCNS + uid_b + _renal(gpb)
    kp1 = egpb + KP2 * gpb + kp3 * ib + KP4 * ipob
    gp, gt = gpb.copy(), gtb.copy()
    il, ip, ipo = ilb.copy(), ipb.copy(), ipob.copy()
    x = np.zeros(n)
    i1, idel = ib.copy(), ib.copy()
    y = np.zeros(n)
    dose = carbs_g * 1000.0  # mg
    q1, q2, qgut = np.full(n, dose), np.zeros(n), np.zeros(n)
    cp1 = cpep_fast * 331.0  # pmol/L
    cp2 = cp1 * k12 / k21
    isr_b = cp1 * k10  # basal secretion per litre of Vd (pmol/L/min)
    aa = 5 / (2 * dose * (1 - B_EMPT))
    cc = 5 / (2 * dose * D_EMPT)
    g_prev = G_fast.copy()
    total = np.zeros(n)
    out_120 = G_fast.copy()
    out_cp90 = cpep_fast.copy()
    index_30 = np.full(n, np.nan)
    for minute in range(1, minutes + 1):
        G = gp / VG
        insulin = ip / VI + exo
        qsto = q1 + q2
        kempt = KMIN + (KMAX - KMIN) / 2 * (
            np.tanh(aa * (qsto - B_EMPT * dose)) - np.tanh(cc * (qsto - D_EMPT * dose)) + 2
        )
        ra = F_ABS * KABS * qgut / weight
        egp = np.maximum(kp1 - KP2 * gp - kp3 * idel - KP4 * ipo, 0.0)
        uid = (VM0 + vmx * x) * gt / (KM0 + gt)
        dgdt = G - g_prev
        g_prev = G
        y_target = np.maximum(beta_sec * (G - G_fast), -sb)  # secretion provision (Dalla Man 2007)
        y = y + (-ALPHA_SEC * (y - y_target))
        spo = np.maximum(y + k_sec * np.maximum(dgdt, 0.0) + sb, 0.0)
        secretion = GAMMA_SEC * ipo
        m3 = _m3(secretion)  # hepatic extraction falls as secretion rises (Dalla Man 2007: HE = -m5 S + m6)
        gp, gt = (gp + egp + ra - FCNS - _renal(gp) - K1 * gp + K2 * gt, gt - uid + K1 * gp - K2 * gt)
        il, ip = il - (M1 + m3) * il + M2 * ip + secretion, ip - (M2 + M4) * ip + M1 * il
        ipo = ipo - GAMMA_SEC * ipo + spo
        x = x - P2U * x + P2U * (insulin - ib)
        i1, idel = i1 - KI * (i1 - insulin), idel - KI * (idel - i1)
        q1, q2, qgut = q1 - KGRI * q1, q2 - kempt * q2 + KGRI * q1, qgut - KABS * qgut + kempt * q2
        relative = np.where(sb > 0, secretion / np.maximum(sb, 1e-12), 1.0)
        cp1, cp2 = (cp1 - (k10 + k12) * cp1 + k21 * cp2 + isr_b * relative, cp2 + k12 * cp1 - k21 * cp2)
        gp, gt = np.maximum(gp, 1e-6), np.maximum(gt, 1e-6)
        total += gp / VG
        if minute == 120:
            out_120 = gp / VG
        if minute == 90:
            out_cp90 = cp1 / 331.0
        if minute == 30:
            rise_g = gp / VG - G_fast
            rise_i = (ip / VI - I_fast * PMOL_PER_UU) / PMOL_PER_UU  # endogenous insulin rise, uU/mL
            with np.errstate(divide="ignore", invalid="ignore"):
                index_30 = np.where(rise_g > 1.0, rise_i / rise_g, np.nan)  # undefined without a glucose rise
    return MealResult(out_120, out_cp90, total / minutes, index_30)


def van_cauter_rates(age: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Van Cauter 1992 two-compartment rate constants (per minute) for T2D: short half-life 4.52 min, fraction
    0.78, long half-life 0.14 age + 29.16 min."""
    a = math.log(2) / 4.52
    b = math.log(2) / (0.14 * age + 29.16)
    fraction = 0.78
    k21 = fraction * b + (1 - fraction) * a
    k10 = a * b / k21
    k12 = a + b - k10 - k21
    return k10, k12, k21


VI_L_PER_KG = 0.05  # insulin distribution volume, Dalla Man 2007 (normal subjects)
HEPATIC_EXTRACTION = 0.6  # basal hepatic insulin extraction, Dalla Man 2007 (HEb)
PMOL_L_PER_NG_ML = 331.0  # C-peptide, molar mass 3020 g/mol


def fasting_c_peptide(
    insulin: np.ndarray, weight: np.ndarray, age: np.ndarray, bsa: np.ndarray, male: np.ndarray
) -> np.ndarray:
    """Fasting C-peptide (ng/mL) from endogenous fasting insulin (uU/mL): secretion ISR = I x clearance /
    (1 - HE) (insulin volume 0.05 L/kg and hepatic extraction 0.6, Dalla Man 2007; clearance rate 432/d, Topp
    2000), then the Van Cauter 1992 steady state CP = ISR / (k10 Vd), Vd from BSA by sex."""
    clearance = 432.0 / 1440.0 * VI_L_PER_KG * weight  # L/min
    isr = insulin * PMOL_PER_UU * clearance / (1 - HEPATIC_EXTRACTION)  # pmol/min
    k10, _, _ = van_cauter_rates(age)
    vd = np.where(male, 1.92 * bsa + 0.64, 1.11 * bsa + 2.04)
    return isr / (k10 * vd) / PMOL_L_PER_NG_ML


def daily_mean_glucose(
    G_fast: np.ndarray,
    I_fast: np.ndarray,
    I_exo: np.ndarray,
    bfun: np.ndarray,
    sp: np.ndarray,
    sh: np.ndarray,
    weight: np.ndarray,
    carbs_g: float,
    meals_per_day: int,
    window_min: int,
) -> np.ndarray:
    """Daily mean glucose (mg/dL) of a representative day: fasting glucose plus ``meals_per_day`` postprandial
    excursions of ``window_min`` minutes each (the mean excess over the window of one simulated meal of
    ``carbs_g`` grams), the rest of the day at the fasting level (design doc 7.3, cheaper tier;
    ASSUMPTION)."""
    n = G_fast.shape[0]
    k10, k12, k21 = van_cauter_rates(np.full(n, 50.0))  # C-peptide is not used here
    test = meal_test(
        G_fast, I_fast, bfun, sp, sh, weight, np.ones(n), k10, k12, k21, carbs_g=carbs_g, minutes=window_min,
        I_exo=I_exo,
    )  # fmt: skip
    share = min(1.0, meals_per_day * window_min / 1440.0)
    return G_fast + share * (test.mean_glucose - G_fast)

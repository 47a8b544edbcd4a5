"""Generic inverse-variance data from a between-group contrast: the effect on the analysis scale and its
standard error, derived from what the source reports, each step recorded.

Formulas: Cochrane Handbook for Systematic Reviews of Interventions, version 6.4
(Higgins et al. 2023), chapter 6:

- 6.3.1: SE from a confidence interval, ``SE = (upper - lower) / (2 q)``, with ``q`` the normal quantile of
  the interval's level (3.92 = 2 x 1.96 for 95 %); for ratios on the log scale.
- 6.3.2: SE from an exact p-value: ``q`` = the quantile of ``1 - p/2``, ``SE = |estimate| / q``; from a test
  statistic, ``SE = |estimate| / |t|``.
- 6.5.2.3: for a difference in means with fewer than about 60 participants per group, the interval and the
  p-value come from a t distribution with ``n1 + n2 - 2`` degrees of freedom, so ``q`` is that t quantile.

The choice between t and normal is itself an assumption about how the authors computed their interval; it is
recorded on every derived row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

from stemdm.evidence.errors import ConversionError
from stemdm.evidence.records import Contrast
from stemdm.evidence.units import Derivation
from stemdm.evidence.vocab import LOG_RATIO_MEASURES, RATIO_MEASURES
from stemdm.i18n.messages import clauses, msg, verbatim

#: Handbook 6.5.2.3: below this many participants per group a difference in means is tested with t.
SMALL_SAMPLE_PER_GROUP = 60
HANDBOOK = "Cochrane Handbook v6.4 (Higgins et al. 2023)"


@dataclass(frozen=True)
class ContrastEffect:
    """A contrast on the analysis scale: ``yi`` (log for ratios) with standard error ``se``; ``n1``/``n2``
    the arm sizes used (None when unknown); ``derivation`` the step that gave the SE."""

    trial_id: str
    measure: str  # MD, SMD, RR or OR (log ratios are reported as their ratio measure)
    yi: float
    se: float
    n1: int | None
    n2: int | None
    derivation: Derivation

    @property
    def vi(self) -> float:
        return self.se**2

    def describe(self) -> str:
        """The derivation in words, for a review row (a translatable message)."""
        head = msg("contrast: %(method)s (%(reference)s)", method=self.derivation.method,
                   reference=self.derivation.reference)  # fmt: skip
        return clauses([head, *self.derivation.notes])


def handbook(sections: str) -> str:
    """The Cochrane Handbook sections a derivation follows, as a message."""
    return msg("Cochrane Handbook v6.4 (Higgins et al. 2023) %(sections)s", sections=sections)


def _where(c: Contrast) -> str:
    return f"{c.trial_id}/{c.outcome_id}/{c.timepoint_weeks:g} wk/{c.arm_id} vs {c.comparator_arm_id}"


def analysis_measure(measure: str) -> str:
    """The measure a contrast is pooled as: logRR -> RR, logOR -> OR, others unchanged."""
    return {"logRR": "RR", "logOR": "OR"}.get(measure, measure)


def _on_analysis_scale(c: Contrast, value: float | None) -> float | None:
    if value is None:
        return None
    if c.measure in RATIO_MEASURES:
        return math.log(value)
    if c.measure == "RD" and c.unit == "percentage points":
        return value / 100
    return value


def _quantile(c: Contrast, tail: float, n1: int | None, n2: int | None) -> tuple[float, str]:
    """Quantile leaving ``tail`` in the upper tail, and which distribution gave it."""
    # Handbook 6.5.2.3 concerns differences in means; ratios and risk differences use the normal quantile.
    is_difference = c.measure in ("MD", "SMD")
    if c.df is not None:
        return float(stats.t.isf(tail, c.df)), msg("t with the reported %(df)s df", df=c.df)
    if is_difference and n1 is not None and n2 is not None and min(n1, n2) < SMALL_SAMPLE_PER_GROUP:
        df = n1 + n2 - 2
        if df >= 1:
            return float(stats.t.isf(tail, df)), msg(
                "t with n1 + n2 - 2 = %(df)s df (fewer than 60 per group)", df=df
            )
    reason = msg("normal") if not is_difference else msg("normal (arm sizes unknown or >= 60 per group)")
    return float(stats.norm.isf(tail)), reason


def contrast_effect(
    c: Contrast, n1_fallback: int | None = None, n2_fallback: int | None = None
) -> ContrastEffect:
    """The effect and SE of contrast ``c`` on the analysis scale, with the derivation recorded.

    ``n1_fallback``/``n2_fallback`` (e.g. the randomized n) stand in for arm sizes the contrast does not
    state; they only decide between t and normal quantiles and are named in the notes."""
    notes: list[str] = []
    n1, n2 = c.n1, c.n2
    if n1 is None and n1_fallback is not None:
        n1 = n1_fallback
        notes.append(msg("n of %(arm)s not stated; randomized n = %(n)s used", arm=c.arm_id, n=n1))
    if n2 is None and n2_fallback is not None:
        n2 = n2_fallback
        notes.append(msg("n of %(arm)s not stated; randomized n = %(n)s used", arm=c.comparator_arm_id, n=n2))
    yi = _on_analysis_scale(c, c.estimate)
    inputs: dict[str, float | str | None] = {"estimate": c.estimate, "measure": c.measure}
    if c.statistic == "estimate_se":
        se = c.se
        method, reference = msg("SE as reported"), msg("reported")
        if c.measure in RATIO_MEASURES:
            notes.append(msg("the SE of a ratio is read as the SE of its log"))
        inputs["se"] = c.se
    elif c.statistic == "estimate_ci":
        lower, upper = _on_analysis_scale(c, c.ci_lb), _on_analysis_scale(c, c.ci_ub)
        q, which = _quantile(c, (1 - c.ci_level / 100) / 2, n1, n2)
        se = (upper - lower) / (2 * q)
        method = msg(
            "SE from the %(level)s%% CI: (upper - lower) / (2 x %(q)s), %(which)s",
            level=f"{c.ci_level:g}",
            q=f"{q:.4f}",
            which=which,
        )
        reference = handbook("6.3.1, 6.5.2.3")
        inputs |= {"ci_lb": c.ci_lb, "ci_ub": c.ci_ub, "ci_level": c.ci_level}
    elif c.statistic == "estimate_p":
        q, which = _quantile(c, c.p_value / 2, n1, n2)
        se = abs(yi) / q
        method = msg(
            "SE from the exact p = %(p)s: |estimate| / %(q)s, %(which)s",
            p=f"{c.p_value:g}",
            q=f"{q:.4f}",
            which=which,
        )
        reference = handbook("6.3.2, 6.5.2.3")
        inputs["p_value"] = c.p_value
    else:
        se = abs(yi) / abs(c.t_value)
        method = msg("SE from t = %(t)s: |estimate| / |t|", t=f"{c.t_value:g}")
        reference = handbook("6.3.2, 6.5.2.3")
        inputs["t_value"] = c.t_value
    if c.measure in RATIO_MEASURES:
        notes.append(msg("analysed as log %(measure)s", measure=c.measure))
    if c.measure == "RD" and c.unit == "percentage points":
        notes.append(msg("risk difference in percentage points analysed as a proportion (/100)"))
        if c.statistic == "estimate_se":
            se = se / 100
    if c.estimate_derived:
        notes.append(
            msg("the estimate itself was computed by the curators: %(how)s", how=verbatim(c.derivation))
        )
    if not (se is not None and math.isfinite(se) and se > 0):
        raise ConversionError(f"{_where(c)}: the derived SE is {se}; check the reported numbers")
    step = Derivation(method, inputs, reference, {"yi": yi, "se": se}, tuple(notes))
    measure = analysis_measure(c.measure) if c.measure in LOG_RATIO_MEASURES else c.measure
    return ContrastEffect(c.trial_id, measure, yi, se, n1, n2, step)

"""One sentence per result, generated from the numbers only, as a message (``stemdm.i18n.messages``) rendered
in English and Chinese through the catalogs.

Each sentence states the direction and size with its CI, whether the difference is statistically significant
(a CI that includes 0 is "no significant difference"), the number of trials and participants, and the
certainty of evidence; then the Bayesian probabilities. Words are chosen by rules on the numbers (tested by a
property test): nothing the numbers do not support. Every word is a message or a catalog term, so a new
protocol or evidence base never meets a sentence without its Chinese.
"""

from __future__ import annotations

import re

from stemdm.i18n.messages import Message, msg, term


def fmt(value: float, digits: int = 2) -> str:
    """A number with ``digits`` decimals, never '-0.00'."""
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def level_label(result: dict) -> str:
    """The confidence level the interval was computed at, as printed ("95", "80", "97.5")."""
    return f"{result.get('level', 95):g}"


def _digits(result: dict) -> int:
    scale = max(abs(result["estimate"]), abs(result["ci_lb"]), abs(result["ci_ub"]))
    return 2 if scale < 10 else 1


def is_ratio(result: dict) -> bool:
    return result.get("measure") in ("RR", "OR")


def significant(result: dict) -> bool:
    """Statistically significant at the CI's level: the CI excludes no effect (0; 1 for a ratio)."""
    null = 1.0 if is_ratio(result) else 0.0
    return result["ci_lb"] > null or result["ci_ub"] < null


def _when(result: dict) -> Message:
    months = result["timepoint_months"]
    return msg("At %(m)s months", m=f"{months:g}") if months is not None else msg("At the end of follow-up")


def _subgroup(result: dict) -> Message | str:
    if result["subgroup"] == "overall":
        return ""
    name, _sep, level = result["subgroup"].partition("=")
    return msg(" (subgroup %(name)s: %(level)s)", name=term(name), level=term(level))


def _size(value: float, result: dict, digits: int) -> Message:
    """A difference with its unit in words ("0.95 percentage points", "30.4 mg/dL")."""
    return _with_unit(fmt(value, digits), result["unit"])


def _with_unit(number: str, unit: str) -> Message:
    if unit == "%":
        return msg("%(value)s percentage points", value=number)
    if unit == "SD":
        return msg("%(value)s standard deviations", value=number)
    if unit == "index":
        return msg("%(value)s", value=number)
    return msg("%(value)s %(unit)s", value=number, unit=unit)


def _ci(result: dict, digits: int) -> Message:
    return msg("%(level)s%% CI %(lb)s to %(ub)s", level=level_label(result), lb=fmt(result["ci_lb"], digits),
               ub=fmt(result["ci_ub"], digits))  # fmt: skip


def _basis(result: dict) -> Message:
    return msg("%(k)s trials, %(n)s participants", k=result["k"], n=result["n"])


def _certainty(result: dict) -> Message:
    return term(result.get("certainty") or "not rated")


BINARY_NAMES = {"RD": "risk difference", "RR": "risk ratio", "OR": "odds ratio"}


def _binary(result: dict) -> Message:
    """A binary outcome: the proportion of patients with it, as a ratio (or a risk difference)."""
    common = {
        "when": _when(result),
        "subgroup": _subgroup(result),
        "label": term(result["outcome"]),
        "name": term(BINARY_NAMES[result["measure"]]),
        "basis": _basis(result),
        "certainty": _certainty(result),
    }
    if result["estimate"] is None or result["ci_lb"] is None:
        return msg(
            "%(when)s%(subgroup)s, patients reaching '%(label)s' with cell therapy vs control: "
            "%(name)s not estimable (%(basis)s). Certainty of evidence: %(certainty)s.",
            **common,
        )
    values = {"estimate": fmt(result["estimate"]), "ci": _ci(result, 2), "p": _p(result["pval"])}
    if significant(result):
        return msg(
            "%(when)s%(subgroup)s, patients reaching '%(label)s' with cell therapy vs control: "
            "%(name)s %(estimate)s (%(ci)s; %(basis)s; p = %(p)s), statistically significant. "
            "Certainty of evidence: %(certainty)s.",
            **common,
            **values,
        )
    return msg(
        "%(when)s%(subgroup)s, patients reaching '%(label)s' with cell therapy vs control: "
        "%(name)s %(estimate)s (%(ci)s; %(basis)s; p = %(p)s), not statistically significant. "
        "Certainty of evidence: %(certainty)s.",
        **common,
        **values,
    )


def _continuous(result: dict) -> Message:
    digits = _digits(result)
    est = result["estimate"]
    common = {
        "when": _when(result),
        "subgroup": _subgroup(result),
        "label": term(result["outcome"]),
        "ci": _ci(result, digits),
        "basis": _basis(result),
        "p": _p(result["pval"]),
        "certainty": _certainty(result),
    }
    if not significant(result):
        return msg(
            "%(when)s%(subgroup)s, there was no significant difference in %(label)s between "
            "cell therapy and control (mean difference %(size)s, %(ci)s; %(basis)s; p = %(p)s). "
            "Certainty of evidence: %(certainty)s.",
            size=_size(est, result, digits),
            **common,
        )
    size = _size(abs(est), result, digits)
    if est < 0:
        return msg(
            "%(when)s%(subgroup)s, %(label)s was %(size)s lower with cell therapy than with control "
            "(%(ci)s; %(basis)s); the difference is statistically significant (p = %(p)s). "
            "Certainty of evidence: %(certainty)s.",
            size=size,
            **common,
        )
    return msg(
        "%(when)s%(subgroup)s, %(label)s was %(size)s higher with cell therapy than with control "
        "(%(ci)s; %(basis)s); the difference is statistically significant (p = %(p)s). "
        "Certainty of evidence: %(certainty)s.",
        size=size,
        **common,
    )


def sentence(result: dict) -> list[Message]:
    """The result's sentence and, when it has a posterior, its Bayesian sentence (messages)."""
    main = _binary(result) if result.get("measure") in BINARY_NAMES else _continuous(result)
    bayes = _bayes(result)
    return [main] + ([bayes] if bayes is not None else [])


def _joined(parts: list[Message], lang: str) -> str:
    return (" " if lang == "en" else "").join(part.render(lang) for part in parts)


def english(result: dict) -> str:
    return _joined(sentence(result), "en")


def chinese(result: dict) -> str:
    return _joined(sentence(result), "zh")


def percent(p: float) -> str:
    """A probability as a whole percentage, never 0 % or 100 % (the posterior is never certain)."""
    if p < 0.005:
        return "<1%"
    if p > 0.995:
        return ">99%"
    return f"{p * 100:.0f}%"


def prior_message(text: str) -> str:
    """A tau prior as readers write it: half-normal HN(s), half-Cauchy HC(s), uniform U(a, b) (in Chinese
    半正态先验 HN(s)...); other priors as written."""
    found = re.fullmatch(r"(halfnormal|halfcauchy|uniform|halft)\(([^)]*)\)", text.strip())
    if not found:
        return text
    family, args = found.groups()
    args = ", ".join(a.strip() for a in args.split(","))
    return {
        "halfnormal": msg("half-normal HN(%(args)s)", args=args),
        "halfcauchy": msg("half-Cauchy HC(%(args)s)", args=args),
        "uniform": msg("uniform U(%(args)s)", args=args),
        "halft": msg("half-t(%(args)s)", args=args),
    }[family]


def prior_text(text: str, lang: str) -> str:
    """``prior_message`` in ``lang``."""
    shown = prior_message(text)
    return shown.render(lang) if isinstance(shown, Message) else shown


def _mid(result: dict) -> Message:
    """The MID in words: a ratio, percentage points of a risk difference, or the outcome's own unit."""
    if is_ratio(result):
        return msg("a %(measure)s of %(mid)s", measure=result["measure"], mid=f"{result['mid']:g}")
    if result.get("measure") == "RD":
        return msg("%(value)s percentage points", value=f"{result['mid'] * 100:g}")
    return _with_unit(f"{result['mid']:g}", result["unit"])


def _bayes(result: dict) -> Message | None:
    """The Bayesian probabilities in words, when the result has them."""
    if result.get("p_mid") is None or result.get("post_ci_lb") is None:
        return None
    label = term(result["outcome"])
    if result.get("measure") in BINARY_NAMES:
        label = msg("the share of patients reaching '%(label)s'", label=label)
    values = {
        "prior": prior_message(result["tau_prior"]), "median": fmt(result["post_median"]),
        "level": level_label(result), "lb": fmt(result["post_ci_lb"]), "ub": fmt(result["post_ci_ub"]),
        "label": label, "p_any": percent(result["p_benefit"]), "mid": _mid(result),
        "p_mid": percent(result["p_mid"]),
    }  # fmt: skip
    if result.get("better", "lower") == "lower":
        return msg("Bayesian analysis (prior on heterogeneity: %(prior)s): median %(median)s, %(level)s%% "
                   "credible interval %(lb)s to %(ub)s; probability that cell therapy lowers %(label)s at "
                   "all: %(p_any)s; by at least %(mid)s: %(p_mid)s.", **values)  # fmt: skip
    return msg("Bayesian analysis (prior on heterogeneity: %(prior)s): median %(median)s, %(level)s%% "
               "credible interval %(lb)s to %(ub)s; probability that cell therapy raises %(label)s at all: "
               "%(p_any)s; by at least %(mid)s: %(p_mid)s.", **values)  # fmt: skip


#: A spread of P(>= MID) across the priors above this many percentage points, or one that straddles 50 %,
#: means the prior, not the data, decides the answer (a reading rule of stemdm, stated in the sentence).
PRIOR_DECIDES_SPREAD = 0.2


def prior_sensitivity_messages(reading: dict) -> list[Message]:
    """The prior-sensitivity table in words: the range of P(benefit) and P(>= MID) across the priors on the
    heterogeneity, whether the credible interval's exclusion of no effect or P(>= MID) crossing 50 % depends
    on the prior, and whether the data updated the tau prior. The first message is the sentence; each
    further one a clause that brings its own separator."""
    rows = reading["rows"]
    benefit = [r["p_benefit"] for r in rows]
    mid = [r["p_mid"] for r in rows]
    crosses_half = min(mid) < 0.5 < max(mid)
    decides = (
        max(mid) - min(mid) > PRIOR_DECIDES_SPREAD or crosses_half or reading.get("ci_exclusion_depends")
    )
    reading_words = (msg("with this few trials the prior, not the data, decides the answer") if decides
                     else msg("the answer does not hinge on the choice among these priors"))  # fmt: skip
    out = [msg(
        "Under %(n)s priors on the heterogeneity (%(priors)s) the probability of any benefit ranges from "
        "%(b1)s to %(b2)s and of at least the MID from %(m1)s to %(m2)s: %(reading)s",
        n=len(rows), priors=[prior_message(r["tau_prior"]) for r in rows], b1=percent(min(benefit)),
        b2=percent(max(benefit)), m1=percent(min(mid)), m2=percent(max(mid)), reading=reading_words,
    )]  # fmt: skip
    if reading.get("ci_exclusion_depends"):
        out.append(msg("; whether the credible interval excludes no effect depends on the prior"))
    if crosses_half:
        out.append(msg("; whether P(>= MID) exceeds 50% depends on the prior"))
    if reading.get("tau_not_updated"):
        out.append(
            msg("; the posterior of the heterogeneity is essentially its prior: the data do not inform it")
        )
    return out


def prior_sensitivity_sentences(reading: dict) -> dict[str, str]:
    """``prior_sensitivity_messages`` rendered in English and Chinese."""
    parts = prior_sensitivity_messages(reading)
    return {lang: "".join(p.render(lang) for p in parts) + end for lang, end in (("en", "."), ("zh", "。"))}


def _p(p: float | None) -> Message | str:
    if p is None:
        return msg("not available")
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def sentences(results: list[dict]) -> list[dict]:
    """English and Chinese sentences for every pooled result (rendered from the same messages)."""
    return [
        {
            "outcome": r["outcome"],
            "timepoint_months": r["timepoint_months"],
            "subgroup": r["subgroup"],
            "en": english(r),
            "zh": chinese(r),
        }
        for r in results
    ]

"""Words that reach pages and reports as data values rather than literal strings (outcome ids, diabetes
types, cell sources, routes, statistics, roles, audit actions, record fields): every one needs a catalog
entry, so the catalog tool adds them all and the catalog test checks them all."""

from __future__ import annotations

import typing

from stemdm.evidence import vocab
from stemdm.evidence.records import Measurement

#: vocabularies whose values are shown translated
_LITERALS = (
    vocab.ArmRole, vocab.CellSource, vocab.CellType, vocab.ControlType, vocab.DiabetesType, vocab.Route,
    vocab.Statistic, vocab.ValueType, vocab.Blinding, vocab.Donor,
)  # fmt: skip
ROLES = ("admin", "reviewer", "viewer")
ACTIONS = (
    "insert", "update", "delete", "extract", "edit", "edit_after_unblinding", "reconcile", "reconcile_failed",
    "reconcile_repaired", "add_user", "new_token", "passwd", "revoke_token",
    "deactivate",
)  # fmt: skip
CONVERSIONS = ("mean and SD",)
#: job states, comparison outcomes and next-trial targets shown in the run pages
RUNS = (
    "queued", "running", "done", "failed", "cancelled", "added", "removed", "changed", "certainty",
    "estimate", "k", "pooled effect", "prediction-interval limit", "minimal important difference",
)  # fmt: skip


#: report vocabulary: certainty, subgroup variables, sensitivity analyses, GRADE domains, data kinds, safety
#: events, protocol settings, and the constant reasons an analysis is not done
REPORT = (
    "high", "moderate", "low", "very low", "overall", "cell_source", "diabetes_type", "donor", "dose_band",
    "dose meta-regression", "route", "excluding high risk of bias", "excluding unlabelled ±", "model DL",
    "model FE", "leave-one-out", "imprecision", "inconsistency", "indirectness", "publication bias",
    "risk of bias", "arm-level", "contrast", "counts", "death", "discontinuation_ae", "infusion_reaction",
    "serious_adverse_event", "serious_hypoglycaemia", "treatment_related_sae", "treatment_related_ae",
    "any_adverse_event", "lower", "higher", "either", "randomized", "largest", "yes", "included", "excluded",
    "uncertain", "MD, between arm", "MD, pre post", "RD, between arm", "RR, between arm", "SMD, between arm",
    "SMD, mixed", "SMD, pre post", "no eligible trial reports it in this window",
    "no eligible trial reports usable numbers in this window", "1-2 million/kg", "inclusion status",
    "cell type", "end of follow-up", "UCB", "WJ-MSC", "between_arm", "pre_post", "mixed",
)  # fmt: skip


#: the bundled protocol's question (src/stemdm/review/data/default_protocol.toml): shown translated like data
#: values; an uploaded protocol's own text is shown as written
BUNDLED_QUESTION = (
    "MSC therapy for diabetes: re-analysis of randomized trials",
    "Adults and adolescents with type 1 or type 2 diabetes",
    "Mesenchymal stem/stromal cells (any source, dose, route), alone or with other cells",
    "Placebo, sham or standard care without cells",
    "HbA1c, fasting and postprandial glucose, fasting and stimulated C-peptide, daily insulin dose, "
    "HOMA-beta, HOMA-IR, adverse events",
)

#: simulator endpoints not in the evidence vocabulary, arms, pathways and phenotypes drawn in its figures
SIMULATION = (
    "cpep_index", "insulinogenic_index", "therapy", "MSC IV", "MSC intra-arterial", "exosome",
    "PSC-islet (encapsulated)", "fasting C-peptide", "HOMA-IR", "inflammatory tone", "duration (years)",
)  # fmt: skip
#: names drawn in forest plots (meta.plots.MEASURE_NAMES, the model)
FIGURES = (
    "Mean Difference", "Std. Mean Difference", "Ratio of Means", "Risk Ratio", "Odds Ratio",
    "Risk Difference", "Effect", "Fixed", "Random",
)  # fmt: skip


#: how a number was derived (evidence.derive, dispersion, units): method ids and fixed references
DERIVATIONS = (
    "pm_as_sd", "sd_from_se", "sd_from_ci", "sd_from_diff_ci", "sd_from_t", "sd_from_p",
    "mean_sd_from_quantiles", "change_sd", "correlation_from_sds", "pooled_correlation", "combine_arms",
    "identity", "unit:glucose",
    "unit:c_peptide", "unit:hba1c", "unit:insulin_dose", "user choice: unlabelled ± read as SD",
    "glucose molar mass 180.16 g/mol: 1 mmol/L = 18.016 mg/dL",
    "C-peptide molar mass 3020.3 g/mol: 1 ng/mL = 0.33109 nmol/L",
    "IFCC-NGSP master equation, Hoelzel et al. 2004 (Clin Chem 50:166)",
    "IU/day = IU/kg/day x body weight (kg)",
)  # fmt: skip


def bundled_caveat_texts() -> list[str]:
    """The curated dataset's caveats (evidence/data/caveats.json): shown in the reader's language."""
    from stemdm.evidence.bundled import bundled_caveats

    return [caveat["text"] for caveat in bundled_caveats()]


def all_terms() -> list[str]:
    """Every data value that is translated where shown."""
    found: list[str] = list(vocab.OUTCOMES)
    for literal in _LITERALS:
        found += [str(v) for v in typing.get_args(literal)]
    found += list(Measurement.model_fields)
    found += [
        *vocab.FLAGS,
        "possibly_se",
        "not stated",
        "not rated",
        "cell-therapy",
        "mean difference",
        "standardized mean difference",
        "risk ratio",
        "odds ratio",
        "risk difference",
    ]
    found += [
        *ROLES,
        *ACTIONS,
        *CONVERSIONS,
        *RUNS,
        *REPORT,
        *SIMULATION,
        *FIGURES,
        *BUNDLED_QUESTION,
        *DERIVATIONS,
    ]
    found += bundled_caveat_texts()
    return sorted(set(found))

"""Evidence records (pydantic): the single source of truth for the schema of trials, arms, outcome
measurements, adverse events and published meta-analysis estimates.

Records hold numbers exactly as reported (with the verbatim text in ``*_as_reported`` fields) and every
record carries its source. All record types are flat (scalars and lists of strings), so the same model
drives the CSV templates, the Excel sheets, JSON and the database tables.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from stemdm.evidence.plausibility import MAX_MAGNITUDE, MAX_PARTICIPANTS, MAX_WEEKS, implausible
from stemdm.evidence.vocab import (
    CONTRAST_STATISTICS,
    CONTRAST_UNITS,
    CORRECTABLE_KINDS,
    EVENT_TYPES,
    FLAGS,
    OUTCOMES,
    RATIO_MEASURES,
    STATISTIC_FIELDS,
    STATISTICS,
    ArmRole,
    ArmsDesign,
    Blinding,
    CellSource,
    CellType,
    Comparison,
    ContrastMeasure,
    ContrastStatistic,
    ControlType,
    CorrectionStatus,
    DiabetesType,
    Donor,
    DoseUnit,
    Inclusion,
    Measure,
    Randomized,
    RobJudgement,
    Route,
    Statistic,
    ValueType,
    allowed_units,
)
from stemdm.sanitize import CONTROL_CHARACTERS

Identifier = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.\-]+$")]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
#: Events or dropouts: 0 to MAX_PARTICIPANTS; Participants: n of an arm, 1 to MAX_PARTICIPANTS.
Count = Annotated[int, Field(ge=0, le=MAX_PARTICIPANTS)]
Participants = Annotated[int, Field(ge=1, le=MAX_PARTICIPANTS)]
Weeks = Annotated[float, Field(ge=0, le=MAX_WEEKS, allow_inf_nan=False)]
Estimate = Annotated[float, Field(ge=-MAX_MAGNITUDE, le=MAX_MAGNITUDE, allow_inf_nan=False)]
Text = Annotated[str, Field(min_length=1)]
#: Longest free text a field may hold (a whole abstract fits).
MAX_TEXT = 20_000


class Record(BaseModel):
    """Common behaviour: strict field set, a natural key, a description of each field for templates."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)

    #: Fields that identify a record; re-importing a record with the same key updates it.
    natural_key_fields: ClassVar[tuple[str, ...]] = ()
    #: Table/sheet/file name of the record type.
    kind: ClassVar[str] = ""

    @model_validator(mode="after")
    def _plain_text(self) -> Record:
        """Text fields hold printable text only: a NUL or other control character (which PostgreSQL refuses
        and SQLite stores) or a runaway length is refused the same way on every back end."""
        for name in type(self).model_fields:
            value = getattr(self, name)
            for item in value if isinstance(value, list) else [value]:
                if not isinstance(item, str):
                    continue
                found = CONTROL_CHARACTERS.search(item)
                if found:
                    raise ValueError(
                        f"{name}: contains the control character U+{ord(found.group()):04X} at position "
                        f"{found.start()}; remove it"
                    )
                if len(item) > MAX_TEXT:
                    raise ValueError(f"{name}: {len(item):,} characters; at most {MAX_TEXT:,}")
        return self

    def with_changes(self, **changes: Any) -> Record:
        """A validated copy with ``changes`` (pydantic's ``model_copy`` would skip validation)."""
        return type(self).model_validate(self.model_dump() | changes)

    def natural_key(self) -> str:
        parts = []
        for name in self.natural_key_fields:
            value = getattr(self, name)
            parts.append(format_key_part(value))
        return "/".join(parts)


def format_key_part(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _check_outcome(outcome_id: str) -> str:
    if outcome_id not in OUTCOMES:
        raise ValueError(f"unknown outcome id {outcome_id!r}; allowed: {', '.join(OUTCOMES)}")
    return outcome_id


def _check_flags(flags: list[str]) -> list[str]:
    unknown = [f for f in flags if f not in FLAGS]
    if unknown:
        raise ValueError(f"unknown flag(s) {unknown}; allowed: {sorted(FLAGS)}")
    return sorted(set(flags))


#: Coded fields checked against the vocabularies wherever they appear.
OutcomeId = Annotated[str, Field(min_length=1), AfterValidator(_check_outcome)]
Flags = Annotated[list[str], AfterValidator(_check_flags)]


class Trial(Record):
    """A randomized (or candidate) trial: citation, design, population, cell product, control, follow-up,
    risk of bias and inclusion. Doses: ``dose_per_infusion`` in ``dose_unit`` (cells/kg or cells).
    """

    kind: ClassVar[str] = "trials"
    natural_key_fields: ClassVar[tuple[str, ...]] = ("trial_id",)

    trial_id: Identifier
    first_author: str | None = None
    year: Annotated[int, Field(ge=1950, le=2100)]
    citation: Text
    doi: str | None = None
    pmid: str | None = None
    registry_ids: list[str] = Field(default_factory=list)
    registry_note: str | None = None
    country: Text
    randomized: Randomized
    blinding: Blinding = "not_reported"
    arms_design: ArmsDesign = "parallel"
    design_as_reported: Text
    diabetes_type: DiabetesType
    population: str | None = None
    cell_source: CellSource
    cell_type: CellType
    donor: Donor = "not_reported"
    product_as_reported: Text
    dose_per_infusion: Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)] | None = None
    dose_unit: DoseUnit | None = None
    dose_as_reported: str | None = None
    route: Route = "not_reported"
    route_as_reported: str | None = None
    n_infusions: Annotated[int, Field(ge=1, le=1000)] | None = None
    infusion_interval_weeks: Weeks | None = None
    control_type: ControlType
    control_as_reported: str | None = None
    follow_up_weeks: Weeks | None = None
    follow_up_as_reported: str | None = None
    rob_randomization: RobJudgement | None = None
    rob_deviations: RobJudgement | None = None
    rob_missing_data: RobJudgement | None = None
    rob_measurement: RobJudgement | None = None
    rob_selection: RobJudgement | None = None
    rob_overall: RobJudgement | None = None
    rob_source: str | None = None
    inclusion_status: Inclusion
    inclusion_reason: Text
    seed_review_status: str | None = None
    overlaps_with: list[str] = Field(default_factory=list)
    source_url: Text
    notes: str | None = None

    @model_validator(mode="after")
    def _dose_has_unit(self) -> Trial:
        if self.dose_per_infusion is not None and self.dose_unit is None:
            raise ValueError("dose_unit: a dose needs its unit (cells/kg or cells)")
        return self


class Arm(Record):
    """One arm of a trial with its randomized n (``all`` = the whole trial, for numbers not split by arm)."""

    kind: ClassVar[str] = "arms"
    natural_key_fields: ClassVar[tuple[str, ...]] = ("trial_id", "arm_id")

    trial_id: Identifier
    arm_id: Identifier
    role: ArmRole
    label: Text
    n_randomized: Participants | None = None
    n_dropouts: Count | None = None
    n_as_reported: str | None = None
    dose_per_infusion: Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)] | None = None
    dose_unit: DoseUnit | None = None
    #: The cell product of this arm where it differs from the trial's (e.g. a BM-MNC arm in an MSC trial).
    cell_type: CellType | None = None
    #: The arm this one is a part of (e.g. one dose arm of a pooled cell-therapy arm): never counted twice.
    part_of: Identifier | None = None

    @model_validator(mode="after")
    def _dropouts_within_n(self) -> Arm:
        if self.part_of == self.arm_id:
            raise ValueError("part_of: an arm cannot be part of itself")
        if (
            self.n_dropouts is not None
            and self.n_randomized is not None
            and self.n_dropouts > self.n_randomized
        ):
            raise ValueError(f"n_dropouts: {self.n_dropouts} dropouts exceed {self.n_randomized} randomized")
        return self


class Measurement(Record):
    """One outcome number of one arm at one time, as reported.

    ``statistic`` says which of the value fields hold the report (see ``vocab.STATISTICS``); ``unit`` is a
    coded unit (``vocab.UNITS_BY_DIMENSION``) and ``unit_as_reported`` the verbatim text. Timepoints are in
    weeks from randomization (``timepoint_label`` keeps the report's wording)."""

    kind: ClassVar[str] = "measurements"
    natural_key_fields: ClassVar[tuple[str, ...]] = (
        "trial_id",
        "outcome_id",
        "timepoint_weeks",
        "arm_id",
        "value_type",
        "unit",
        "derived",
    )

    trial_id: Identifier
    outcome_id: OutcomeId
    timepoint_weeks: Weeks
    timepoint_label: Text
    arm_id: Identifier
    n: Participants | None = None
    value_type: ValueType
    statistic: Statistic
    mean: Finite | None = None
    sd: NonNegative | None = None
    se: NonNegative | None = None
    ci_lb: Finite | None = None
    ci_ub: Finite | None = None
    ci_level: Annotated[float, Field(gt=0, lt=100)] = 95.0
    pm: NonNegative | None = None
    median: Finite | None = None
    q1: Finite | None = None
    q3: Finite | None = None
    minimum: Finite | None = None
    maximum: Finite | None = None
    events: Count | None = None
    proportion: Annotated[float, Field(ge=0, le=100)] | None = None
    unit: Text
    unit_as_reported: str | None = None
    as_reported: str | None = None
    flags: Flags = Field(default_factory=list)
    derived: bool = False
    derivation: str | None = None
    source_url: Text
    locator: str | None = None
    notes: str | None = None

    @model_validator(mode="after")
    def _statistic_consistent(self) -> Measurement:
        required = STATISTICS[self.statistic]
        missing = [name for name in required if getattr(self, name) is None]
        if missing:
            raise ValueError(f"{', '.join(missing)}: required when statistic is {self.statistic}")
        extra = [
            name for name in STATISTIC_FIELDS if name not in required and getattr(self, name) is not None
        ]
        if extra and not self.derived:
            raise ValueError(f"{', '.join(extra)}: not part of statistic {self.statistic} (leave empty)")
        self._check_unit()
        self._check_order()
        problem = implausible(
            self.outcome_id, self.unit, self.value_type, {n: getattr(self, n) for n in STATISTIC_FIELDS}
        )
        if problem:
            raise ValueError(problem)
        if self.statistic == "mean_pm" and "pm_unlabelled" not in self.flags:
            raise ValueError("flags: a mean ± x report needs the pm_unlabelled flag")
        if self.derived and not self.derivation:
            raise ValueError("derivation: a derived number must record its method and inputs")
        return self

    def _check_unit(self) -> None:
        spec = OUTCOMES[self.outcome_id]
        if self.statistic in ("count", "proportion") and spec.kind != "binary":
            raise ValueError(
                f"statistic: {self.statistic} needs a binary outcome, {self.outcome_id} is continuous"
            )
        units = allowed_units(self.outcome_id, self.statistic)
        if self.unit not in units:
            raise ValueError(f"unit: {self.unit!r} is not a unit of {self.outcome_id} ({', '.join(units)})")

    def _check_order(self) -> None:
        if self.ci_lb is not None and self.ci_ub is not None and self.ci_lb > self.ci_ub:
            raise ValueError(f"ci_lb: lower limit {self.ci_lb} above upper limit {self.ci_ub}")
        ordered = [(n, getattr(self, n)) for n in ("minimum", "q1", "median", "q3", "maximum")]
        present = [(n, v) for n, v in ordered if v is not None]
        for (name_a, a), (name_b, b) in zip(present, present[1:], strict=False):
            if a > b:
                raise ValueError(f"{name_b}: {name_a} {a} exceeds {name_b} {b}")
        if self.events is not None and self.n is not None and self.events > self.n:
            raise ValueError(f"events: {self.events} events exceed n = {self.n}")


class AdverseEvent(Record):
    """Patients with an adverse event of one type in one arm (events of n at risk)."""

    kind: ClassVar[str] = "adverse_events"
    natural_key_fields: ClassVar[tuple[str, ...]] = ("trial_id", "arm_id", "event_type", "timepoint_weeks")

    trial_id: Identifier
    arm_id: Identifier
    event_type: Text
    event_as_reported: Text
    events: Count
    n_at_risk: Participants
    timepoint_weeks: Weeks
    timepoint_label: Text
    flags: Flags = Field(default_factory=list)
    source_url: Text
    locator: str | None = None
    notes: str | None = None

    @field_validator("event_type")
    @classmethod
    def _known_event(cls, value: str) -> str:
        if value not in EVENT_TYPES:
            raise ValueError(f"unknown event type {value!r}; allowed: {', '.join(EVENT_TYPES)}")
        return value

    @model_validator(mode="after")
    def _events_within_n(self) -> AdverseEvent:
        if self.events > self.n_at_risk:
            raise ValueError(f"events: {self.events} events exceed n_at_risk = {self.n_at_risk}")
        return self


class PublishedEstimate(Record):
    """One pooled estimate of a published meta-analysis, as printed (for the umbrella comparison)."""

    kind: ClassVar[str] = "published_estimates"
    natural_key_fields: ClassVar[tuple[str, ...]] = (
        "review_id",
        "outcome_id",
        "subgroup",
        "comparison",
        "timepoint_label",
        "measure",
    )

    review_id: Identifier
    citation: Text
    doi: str | None = None
    search_to: str | None = None
    scope: Text
    comparison: Comparison
    outcome_id: OutcomeId
    outcome_as_reported: Text
    subgroup: str = "overall"
    timepoint_months: Annotated[float, Field(ge=0, le=600, allow_inf_nan=False)] | None = None
    timepoint_label: str = "not stated"
    measure: Measure
    estimate: Estimate
    ci_lb: Estimate
    ci_ub: Estimate
    p_value: Annotated[float, Field(ge=0, le=1)] | None = None
    p_value_as_reported: str | None = None
    i2_percent: Annotated[float, Field(ge=0, le=100)] | None = None
    k: Annotated[int, Field(ge=1, le=100_000)] | None = None
    n: Participants | None = None
    unit_note: str | None = None
    source_url: Text | None = None
    locator: str | None = None
    notes: str | None = None

    @model_validator(mode="after")
    def _estimate_inside_ci(self) -> PublishedEstimate:
        if not self.ci_lb <= self.estimate <= self.ci_ub:
            raise ValueError(f"estimate: {self.estimate} lies outside its CI [{self.ci_lb}, {self.ci_ub}]")
        if self.measure in ("RR", "OR") and self.ci_lb <= 0:
            raise ValueError(f"ci_lb: a ratio ({self.measure}) must be positive")
        return self


class Contrast(Record):
    """A between-group effect as a publication prints it ("generic inverse variance" data): the estimate for
    ``arm_id`` vs ``comparator_arm_id`` with an SE, a CI, an exact p-value or a t statistic, for trials that
    give no usable arm-level numbers. Differences (MD, SMD) are in ``unit`` (SMD: 'SD'); ratios (RR, OR) are
    printed as ratios and analysed on the log scale; logRR/logOR are printed log ratios. An SE of a ratio is
    the SE of its log. The SE an analysis needs is derived from what is reported, per the Cochrane Handbook
    (Higgins et al. 2023) sections 6.3.1-6.3.2 and 6.5.2.3 (``stemdm.evidence.contrasts``). When the curators
    computed the estimate itself (e.g. the difference of two printed mean changes), ``estimate_derived`` is
    true and ``derivation`` says how."""

    kind: ClassVar[str] = "contrasts"
    natural_key_fields: ClassVar[tuple[str, ...]] = (
        "trial_id",
        "outcome_id",
        "timepoint_weeks",
        "arm_id",
        "comparator_arm_id",
        "measure",
        "value_type",
    )

    trial_id: Identifier
    outcome_id: OutcomeId
    timepoint_weeks: Weeks
    timepoint_label: Text
    arm_id: Identifier
    comparator_arm_id: Identifier
    measure: ContrastMeasure
    value_type: ValueType = "final"
    statistic: ContrastStatistic
    estimate: Estimate
    se: Annotated[float, Field(gt=0, le=MAX_MAGNITUDE, allow_inf_nan=False)] | None = None
    ci_lb: Estimate | None = None
    ci_ub: Estimate | None = None
    ci_level: Annotated[float, Field(gt=0, lt=100)] = 95.0
    p_value: Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)] | None = None
    t_value: Estimate | None = None
    df: Annotated[int, Field(ge=1, le=2 * MAX_PARTICIPANTS)] | None = None
    n1: Participants | None = None
    n2: Participants | None = None
    unit: Text
    unit_as_reported: str | None = None
    as_reported: Text
    flags: Flags = Field(default_factory=list)
    estimate_derived: bool = False
    derivation: str | None = None
    source_url: Text
    locator: str | None = None
    notes: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Contrast:
        required = CONTRAST_STATISTICS[self.statistic]
        missing = [name for name in required if getattr(self, name) is None]
        if missing:
            raise ValueError(f"{', '.join(missing)}: required when statistic is {self.statistic}")
        if self.arm_id == self.comparator_arm_id:
            raise ValueError("comparator_arm_id: a contrast needs two different arms")
        self._check_unit()
        self._check_ci()
        if self.statistic in ("estimate_p", "estimate_t") and self._analysis_estimate() == 0:
            raise ValueError(
                f"estimate: a null estimate with a {self.statistic.split('_')[1]} value gives no SE "
                "(Cochrane Handbook 6.3.2); report its SE or CI"
            )
        if self.estimate_derived and not self.derivation:
            raise ValueError("derivation: an estimate computed by the curators must record how")
        return self

    def _analysis_estimate(self) -> float:
        if self.measure in RATIO_MEASURES:
            return math.log(self.estimate)
        return self.estimate

    def _check_unit(self) -> None:
        expected = CONTRAST_UNITS.get(self.measure)
        if expected is not None and self.unit not in expected:
            raise ValueError(f"unit: a {self.measure} is in {' or '.join(expected)}, not {self.unit!r}")
        if self.measure == "SMD" and OUTCOMES[self.outcome_id].kind == "binary":
            raise ValueError(f"measure: an SMD needs a continuous outcome, {self.outcome_id} is binary")
        if (
            self.measure in ("RR", "OR", "logRR", "logOR", "RD")
            and OUTCOMES[self.outcome_id].kind != "binary"
        ):
            raise ValueError(
                f"measure: a {self.measure} needs a binary outcome, {self.outcome_id} is continuous"
            )
        if self.measure == "RD":
            limit = 100.0 if self.unit == "percentage points" else 1.0
            for name in ("estimate", "ci_lb", "ci_ub"):
                value = getattr(self, name)
                if value is not None and abs(value) > limit:
                    raise ValueError(f"{name}: a risk difference lies within ±{limit:g} {self.unit}")
        if self.measure == "MD":
            units = allowed_units(self.outcome_id, "mean_sd")
            if OUTCOMES[self.outcome_id].kind != "continuous":
                raise ValueError(f"measure: an MD needs a continuous outcome, {self.outcome_id} is binary")
            if self.unit not in units:
                raise ValueError(
                    f"unit: {self.unit!r} is not a unit of {self.outcome_id} ({', '.join(units)})"
                )
            values = {"mean": self.estimate, "ci_lb": self.ci_lb, "ci_ub": self.ci_ub, "se": self.se}
            problem = implausible(self.outcome_id, self.unit, "change", values)
            if problem:
                raise ValueError(problem.replace("change value", "difference"))

    def _check_ci(self) -> None:
        if self.measure in RATIO_MEASURES:
            for name in ("estimate", "ci_lb", "ci_ub"):
                value = getattr(self, name)
                if value is not None and value <= 0:
                    raise ValueError(f"{name}: a ratio ({self.measure}) must be positive, got {value:g}")
        if self.ci_lb is None or self.ci_ub is None:
            if (self.ci_lb is None) != (self.ci_ub is None):
                raise ValueError("ci_lb, ci_ub: give both confidence limits or neither")
            return
        if not self.ci_lb < self.ci_ub:
            raise ValueError(f"ci_lb: lower limit {self.ci_lb:g} is not below upper limit {self.ci_ub:g}")
        if not self.ci_lb <= self.estimate <= self.ci_ub:
            raise ValueError(
                f"estimate: {self.estimate:g} lies outside its CI [{self.ci_lb:g}, {self.ci_ub:g}]"
            )


class Correction(Record):
    """A possible error in a record, found by a later curation pass: flagged and shown to every reader, never
    a silent overwrite. ``field`` names a field of ``record_kind``; ``outcome_id`` narrows it to one outcome's
    records; ``bundled_value`` is what the record says, ``reported_value`` what the later source says."""

    kind: ClassVar[str] = "corrections"
    natural_key_fields: ClassVar[tuple[str, ...]] = ("trial_id", "record_kind", "field", "outcome_id")

    trial_id: Identifier
    record_kind: Annotated[str, Field(min_length=1)]
    field: Annotated[str, Field(min_length=1)]
    outcome_id: OutcomeId | None = None
    bundled_value: str | None = None
    reported_value: Text
    status: CorrectionStatus = "flagged"
    source_url: Text
    locator: str | None = None
    notes: str | None = None

    @model_validator(mode="after")
    def _known_field(self) -> Correction:
        if self.record_kind not in CORRECTABLE_KINDS:
            raise ValueError(f"record_kind: {self.record_kind!r}; one of {', '.join(CORRECTABLE_KINDS)}")
        model = RECORD_BY_KIND[self.record_kind]
        if self.field not in model.model_fields:
            raise ValueError(f"field: {self.record_kind} records have no field {self.field!r}")
        return self


#: What the less obvious fields hold (units, conventions).
FIELD_NOTES: dict[str, str] = {
    "trial_id": "stable id, letters/digits/_.-",
    "registry_ids": "trial registrations (NCT..., IRCT...)",
    "registry_note": "registry text as found, incl. disagreements with the paper",
    "design_as_reported": "verbatim design text",
    "product_as_reported": "verbatim cell product text",
    "dose_per_infusion": "cells per kg body weight or cells per infusion, per dose_unit",
    "infusion_interval_weeks": "weeks between infusions",
    "follow_up_weeks": "weeks from randomization to the last visit",
    "rob_overall": "RoB 2 overall judgement (domains: rob_randomization ... rob_selection)",
    "inclusion_status": "eligibility for the bundled review (RCT of cell therapy vs non-cell control)",
    "seed_review_status": "likelihood of being one of Kashbour 2025's 13 RCTs, as curated",
    "overlaps_with": "trials that may share participants (never pool both)",
    "n_randomized": "patients randomized to the arm",
    "part_of": "the arm this one is part of (e.g. one dose of a pooled cell arm); never counted twice",
    "n_dropouts": "patients lost before the outcome (enables the strict n check)",
    "timepoint_weeks": "weeks from randomization (0 = baseline)",
    "timepoint_label": "time as the source words it",
    "n": "patients analysed for this number (blank: not stated)",
    "value_type": "final value or change from baseline",
    "pm": "x of 'mean ± x' when the source does not say SD or SE",
    "proportion": "percent of patients (0-100)",
    "unit": "coded unit; 'as printed' = not convertible",
    "unit_as_reported": "unit text as printed",
    "as_reported": "the number(s) as printed",
    "derived": "true when stemdm computed the number",
    "derivation": "JSON: method, inputs, reference, result",
    "locator": "where in the source (table, section)",
    "n_at_risk": "patients at risk in the arm",
    "comparison": "between arms, pre/post, or mixed",
    "subgroup": "subgroup of the published estimate ('overall' when none)",
    "p_value_as_reported": "p as printed (may be a bound, e.g. <0.0001)",
    "comparator_arm_id": "the arm the contrast compares against (usually the control arm)",
    "estimate": "between-group estimate as printed (ratios as ratios; logRR/logOR as logs)",
    "p_value": "exact two-sided p of the contrast (a bound such as <0.01 gives no SE)",
    "t_value": "t statistic of the contrast",
    "df": "degrees of freedom of t (blank: n1 + n2 - 2 when both n are known)",
    "n1": "patients analysed in arm_id",
    "n2": "patients analysed in comparator_arm_id",
    "estimate_derived": "true when the curators computed the estimate from printed arm numbers",
    "record_kind": "record type the correction concerns",
    "field": "field of that record type",
    "bundled_value": "what the bundled record says",
    "reported_value": "what the later source says",
    "status": "flagged (shown, not applied), applied or rejected",
}


#: Record types in dependency order (trials before what refers to them).
RECORD_TYPES: tuple[type[Record], ...] = (
    Trial,
    Arm,
    Measurement,
    AdverseEvent,
    PublishedEstimate,
    Contrast,
    Correction,
)
RECORD_BY_KIND: dict[str, type[Record]] = {r.kind: r for r in RECORD_TYPES}


def list_fields(model: type[Record]) -> set[str]:
    """Names of a model's list-of-string fields (``;``-separated in CSV and Excel)."""
    return {
        name
        for name, info in model.model_fields.items()
        if getattr(info.annotation, "__origin__", None) is list
    }

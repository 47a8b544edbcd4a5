"""The review protocol: a TOML file read into pydantic models (question, inclusion, outcomes, timepoint
windows, subgroups, model, safety, sensitivity analyses, small-study tests, next-trial settings).

The bundled default (``data/default_protocol.toml``) reproduces the seed review's question. Errors name the
protocol field: an unknown outcome, overlapping windows, a subgroup variable the data do not have.
"""

from __future__ import annotations

import math
import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from stemdm.evidence.errors import ConversionError
from stemdm.evidence.records import Trial
from stemdm.evidence.vocab import EVENT_TYPES, OUTCOMES, CellType, ControlType, Randomized, allowed_units
from stemdm.evidence.vocab import Inclusion as InclusionStatus
from stemdm.evidence.windows import TimeWindow, check_windows
from stemdm.meta.priors import parse_mu_prior, parse_tau_prior

#: Subgroup variables derived by the review from trial fields (not stored on the trial).
DERIVED_SUBGROUPS = ("dose_band",)


class ProtocolError(ValueError):
    """A protocol that cannot be run; the message names the field."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Question(Strict):
    population: str
    intervention: str
    comparator: str
    outcomes: str


class Inclusion(Strict):
    """Which trials enter: each list holds values of the evidence vocabulary (an unknown value would match no
    trial and silently pool nothing, so it is refused)."""

    randomized: list[Randomized] = Field(["yes"], min_length=1)
    inclusion_status: list[InclusionStatus] = Field(["included"], min_length=1)
    cell_types: list[CellType] = Field(min_length=1)
    control_types: list[ControlType] = Field(["placebo", "sham", "standard_care"], min_length=1)
    overlap_policy: Literal["largest"] = "largest"


class DataRules(Strict):
    pm_as: Literal["sd", "se", "exclude"] = "sd"
    n_fallback: Literal["randomized", "none"] = "randomized"
    mean_method: Literal["luo2018", "wan2014"] = "luo2018"
    sd_method: Literal["shi2020", "wan2014"] = "shi2020"


class Window(Strict):
    months: float = Field(gt=0, le=600, allow_inf_nan=False)
    lo_weeks: float = Field(ge=0, le=2600, allow_inf_nan=False)
    hi_weeks: float = Field(ge=0, le=2600, allow_inf_nan=False)

    def window(self) -> TimeWindow:
        return TimeWindow(self.months, self.lo_weeks, self.hi_weeks)


class OutcomeRule(Strict):
    """One outcome to analyse: its unit, which direction is benefit, the measure, which scores, and the
    minimal important difference (MID).

    Continuous outcomes: MD (MID in ``unit``) or SMD (MID in SD units). Binary outcomes (e.g. responders):
    unit 'patients', measure RR or OR (MID a ratio above 1, e.g. 1.25 = a 25 % relative change on the side of
    benefit; pooled on the log scale) or RD (MID a risk difference between 0 and 1)."""

    id: str
    unit: str
    better: Literal["lower", "higher"]
    measure: Literal["MD", "SMD", "RR", "OR", "RD"] = "MD"
    scores: Literal["final", "change", "either"] = "either"
    mid: float = Field(gt=0, le=1e6, allow_inf_nan=False)
    #: Bayesian pooling: the prior on the between-trial SD of true effects, on the analysis scale (``unit``;
    #: SD units for an SMD; log ratio for RR/OR), with the reasoning; None: [model.bayes] default_tau_prior.
    tau_prior: str | None = None
    tau_prior_why: str | None = None

    @field_validator("tau_prior")
    @classmethod
    def _tau_prior(cls, value: str | None) -> str | None:
        if value is not None:
            parse_tau_prior(value)
        return value

    @field_validator("id")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in OUTCOMES:
            raise ValueError(f"unknown outcome {value!r}; known: {', '.join(OUTCOMES)}")
        return value

    @property
    def is_binary(self) -> bool:
        return OUTCOMES[self.id].kind == "binary"

    @property
    def is_ratio(self) -> bool:
        return self.measure in ("RR", "OR")

    @property
    def analysis_mid(self) -> float:
        """The MID on the analysis scale (log for ratios), as a positive number."""
        return math.log(self.mid) if self.is_ratio else self.mid

    @model_validator(mode="after")
    def _unit_and_scores(self) -> OutcomeRule:
        if self.is_binary:
            return self._binary_rules()
        if self.measure not in ("MD", "SMD"):
            raise ValueError(
                f"measure {self.measure} needs a binary outcome; {self.id} is continuous (MD or SMD)"
            )
        units = allowed_units(self.id, "mean_sd")
        if self.unit not in units:
            raise ValueError(f"unit {self.unit!r} is not a unit of {self.id} ({', '.join(units)})")
        if self.measure == "SMD" and self.scores == "either":
            raise ValueError(
                "an SMD may not mix final values and change scores (Cochrane Handbook 10.5.2): "
                "set scores to 'final' or 'change'"
            )
        return self

    def _binary_rules(self) -> OutcomeRule:
        if self.measure not in ("RR", "OR", "RD"):
            raise ValueError(
                f"measure {self.measure} needs a continuous outcome; {self.id} is binary (RR, OR, RD)"
            )
        if self.unit != "patients":
            raise ValueError(f"unit {self.unit!r}: a binary outcome counts 'patients'")
        if self.is_ratio and not self.mid > 1:
            raise ValueError(f"mid {self.mid:g}: for a {self.measure} give a ratio above 1 (e.g. 1.25)")
        if self.measure == "RD" and not self.mid < 1:
            raise ValueError(f"mid {self.mid:g}: a risk difference MID lies between 0 and 1")
        return self


class Subgroups(Strict):
    variables: list[str] = []


class BayesModel(Strict):
    """Bayesian pooling beside the frequentist model (stemdm.meta.bayes): ``default_tau_prior`` for outcomes
    without their own ``tau_prior``; ``mu_prior`` on the overall effect (None: uniform)."""

    default_tau_prior: str = "halfnormal(0.5)"
    mu_prior: str | None = None

    @field_validator("default_tau_prior")
    @classmethod
    def _tau_prior(cls, value: str) -> str:
        parse_tau_prior(value)
        return value

    @field_validator("mu_prior")
    @classmethod
    def _mu_prior(cls, value: str | None) -> str | None:
        parse_mu_prior(value)
        return value


Estimator = Literal["FE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM"]  # stemdm.meta.core.ESTIMATORS


class Model(Strict):
    method: Estimator = "REML"
    test: Literal["z", "knha", "adhoc"] = "knha"
    level: float = Field(95, gt=50, lt=100)
    sensitivity_methods: list[Estimator] = ["FE", "DL"]
    bayes: BayesModel = BayesModel()


class Safety(Strict):
    event_types: list[str] = list(EVENT_TYPES)

    @field_validator("event_types")
    @classmethod
    def _known(cls, values: list[str]) -> list[str]:
        unknown = [v for v in values if v not in EVENT_TYPES]
        if unknown:
            raise ValueError(f"unknown event type(s) {unknown}; known: {', '.join(EVENT_TYPES)}")
        return values


class Sensitivity(Strict):
    leave_one_out: bool = True
    exclude_high_rob: bool = True
    exclude_pm_unlabelled: bool = True


class SmallStudy(Strict):
    min_k: int = Field(10, ge=3)


class NextTrial(Strict):
    """Sample sizes of the next trial: two-sided ``alpha`` and each ``power`` (a probability, 0.5-0.999)."""

    alpha: float = Field(0.05, ge=1e-6, lt=0.5)
    power: list[Annotated[float, Field(ge=0.5, le=0.999)]] = Field([0.8, 0.9], min_length=1)


class Protocol(Strict):
    title: str
    question: Question
    inclusion: Inclusion
    data: DataRules = DataRules()
    timepoints: list[Window]
    outcomes: list[OutcomeRule]
    subgroups: Subgroups = Subgroups()
    model: Model = Model()
    safety: Safety = Safety()
    sensitivity: Sensitivity = Sensitivity()
    small_study: SmallStudy = SmallStudy()
    next_trial: NextTrial = NextTrial()

    @model_validator(mode="after")
    def _windows_and_outcomes(self) -> Protocol:
        try:
            check_windows([w.window() for w in self.timepoints])
        except ConversionError as error:
            raise ValueError(f"timepoints: {error}") from None
        ids = [o.id for o in self.outcomes]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"outcomes: {', '.join(duplicates)} listed twice")
        return self

    def windows(self) -> list[TimeWindow]:
        return [w.window() for w in self.timepoints]

    def check_subgroups(self) -> None:
        """Refuse a subgroup variable that is neither a trial field nor a derived one."""
        known = set(Trial.model_fields) | set(DERIVED_SUBGROUPS)
        unknown = [v for v in self.subgroups.variables if v not in known]
        if unknown:
            raise ProtocolError(
                f"subgroups.variables: {unknown} not in the data; use trial fields such as "
                f"diabetes_type, cell_source, route, donor, or {', '.join(DERIVED_SUBGROUPS)}"
            )


def default_protocol_path() -> Path:
    return Path(str(resources.files("stemdm.review") / "data" / "default_protocol.toml"))


MAX_PROTOCOL_BYTES = 1_000_000


def _read_toml(path: Path) -> dict:
    """The TOML document at ``path``, or a ProtocolError saying why it cannot be read."""
    try:
        if path.is_dir():
            raise ProtocolError(f"{path}: is a folder, not a protocol file")
        if path.exists() and path.stat().st_size > MAX_PROTOCOL_BYTES:
            raise ProtocolError(f"{path}: larger than {MAX_PROTOCOL_BYTES:,} bytes; not a protocol")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProtocolError(f"no such protocol file: {path}") from None
    except UnicodeDecodeError as error:
        raise ProtocolError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except OSError as error:
        raise ProtocolError(f"{path}: cannot read: {error.strerror or error}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ProtocolError(f"{path}: not valid TOML: {error}") from None
    except RecursionError:
        raise ProtocolError(f"{path}: nested too deeply to be a protocol") from None


def load_protocol(path: Path | None = None) -> Protocol:
    """Read and check a protocol (the bundled default when ``path`` is None)."""
    path = path or default_protocol_path()
    return protocol_from_dict(_read_toml(path), str(path))


def protocol_from_text(text: str, where: str = "protocol") -> Protocol:
    """A protocol from TOML text (an upload), with the messages ``load_protocol`` gives for a file."""
    if len(text.encode("utf-8")) > MAX_PROTOCOL_BYTES:
        raise ProtocolError(f"{where}: larger than {MAX_PROTOCOL_BYTES:,} bytes; not a protocol")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ProtocolError(f"{where}: not valid TOML: {error}") from None
    except RecursionError:
        raise ProtocolError(f"{where}: nested too deeply to be a protocol") from None
    return protocol_from_dict(raw, where)


def protocol_from_dict(raw: object, where: str = "protocol") -> Protocol:
    """A protocol from parsed TOML or JSON, checked; every problem named by its field."""
    path = where
    try:
        protocol = Protocol.model_validate(raw)
    except RecursionError:
        raise ProtocolError(f"{path}: nested too deeply to be a protocol") from None
    except ValidationError as error:
        lines = []
        for item in error.errors():
            where = ".".join(str(part) for part in item["loc"])
            message = item["msg"].removeprefix("Value error, ")
            lines.append(f"{where}: {message}" if where else message)
        raise ProtocolError(f"{path}: " + "; ".join(lines)) from None
    protocol.check_subgroups()
    return protocol

"""Import of RevMan study-level data: RevMan 5 files (.rm5, XML) and Cochrane data-package CSV exports.

RevMan holds per-study arm data (continuous: mean, SD, N; dichotomous: events, N) under outcome names, with
neither units nor timepoints, so a mapping file (TOML) says what each RevMan outcome is::

    [defaults]
    diabetes_type = "T2DM"          # for trials the store does not hold yet
    experimental_arm = "msc"        # arm ids used for RevMan's experimental / control columns
    control_arm = "control"

    [[outcome]]
    name = "HbA1c at 12 months"     # RevMan outcome (analysis) name, exactly
    outcome_id = "hba1c"            # or event_type = "serious_adverse_event" for safety outcomes
    timepoint_weeks = 52
    unit = "%"
    value_type = "final"            # final or change

    [[study]]                       # optional: RevMan study name -> trial id already in the store
    name = "Zang 2022"
    trial_id = "Zang2022"

Outcomes without a mapping are reported, never guessed. Studies not mapped become new trials with every
design field "not reported" (a reviewer completes them in the CSV/Excel template).
"""

from __future__ import annotations

import csv
import io
import re
import tomllib
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stemdm.evidence.errors import EvidenceError, Problem
from stemdm.evidence.formats import EvidenceBundle, check_regular_file, parse_rows, read_text


@dataclass(frozen=True)
class StudyRow:
    """One study's data in one RevMan outcome: arm 1 is experimental, arm 2 control (RevMan's order)."""

    outcome: str
    study: str
    year: str | None
    kind: str  # "continuous" or "dichotomous"
    values: dict[str, float | None]  # mean_1, sd_1, total_1, mean_2, ... or events_1, total_1, ...
    line: int | None = None


def _number(text: Any) -> float | None:
    if text is None:
        return None
    text = str(text).strip()
    if text == "" or text.upper() == "NA":
        return None
    try:
        return float(text)
    except ValueError:
        return None


def read_rm5(path: Path) -> list[StudyRow]:
    """Study rows of a RevMan 5 XML file (CONT_DATA and DICH_DATA under their outcomes and subgroups)."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as error:
        raise EvidenceError(
            [Problem("file", None, str(path), "xml", None, f"not a readable .rm5 file: {error}")]
        ) from None
    studies = {s.get("ID"): (s.get("NAME") or s.get("ID"), s.get("YEAR")) for s in root.iter("STUDY")}
    rows = []
    for tag, kind, fields in (
        ("CONT_OUTCOME", "continuous", ("MEAN", "SD", "TOTAL")),
        ("DICH_OUTCOME", "dichotomous", ("EVENTS", "TOTAL")),
    ):
        for outcome in root.iter(tag):
            name = (outcome.findtext("NAME") or "").strip()
            data_tag = tag.replace("OUTCOME", "DATA")
            for data in outcome.iter(data_tag):
                study_id = data.get("STUDY_ID")
                study_name, year = studies.get(study_id, (study_id, None))
                values = {
                    f"{f.lower()}_{arm}": _number(data.get(f"{f}_{arm}")) for f in fields for arm in (1, 2)
                }
                rows.append(StudyRow(name, study_name, year, kind, values))
    return rows


_DATA_PACKAGE = {  # normalized column name -> field
    "analysis name": "outcome",
    "study": "study",
    "study year": "year",
    "experimental cases": "events_1",
    "experimental n": "total_1",
    "control cases": "events_2",
    "control n": "total_2",
    "experimental mean": "mean_1",
    "experimental sd": "sd_1",
    "control mean": "mean_2",
    "control sd": "sd_2",
}


def read_data_package_csv(path: Path) -> list[StudyRow]:
    """Study rows of a Cochrane data-package CSV (columns such as 'Analysis name', 'Study',
    'Experimental mean',
    'Experimental SD', 'Experimental N', 'Control cases'; dots or spaces, any case)."""
    text, _warnings = read_text(path)
    with io.StringIO(text, newline="") as handle:
        reader = csv.DictReader(handle)
        names = reader.fieldnames or []
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise EvidenceError(
                [Problem("file", None, str(path), "columns", repeated, "column(s) appear more than once")]
            )
        columns = {
            name: _DATA_PACKAGE.get(re.sub(r"[._]+", " ", name).strip().lower())
            for name in reader.fieldnames or []
        }
        if not {"outcome", "study", "total_1", "total_2"} <= set(columns.values()):
            raise EvidenceError(
                [
                    Problem(
                        "file",
                        None,
                        str(path),
                        "columns",
                        reader.fieldnames,
                        "not a Cochrane data-package CSV: need 'Analysis name', 'Study', "
                        "'Experimental N' and 'Control N'",
                    )
                ]
            )
        rows = []
        for row in reader:
            cells = {columns[name]: value for name, value in row.items() if columns.get(name)}
            is_dich = _number(cells.get("events_1")) is not None or _number(cells.get("events_2")) is not None
            fields = ("events", "total") if is_dich else ("mean", "sd", "total")
            values = {f"{f}_{arm}": _number(cells.get(f"{f}_{arm}")) for f in fields for arm in (1, 2)}
            rows.append(
                StudyRow(
                    cells["outcome"].strip(),
                    cells["study"].strip(),
                    cells.get("year"),
                    "dichotomous" if is_dich else "continuous",
                    values,
                    reader.line_num,
                )
            )
        return rows


def read_mapping(path: Path) -> dict[str, Any]:
    try:
        check_regular_file(path)
        mapping = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as error:
        raise EvidenceError(
            [Problem("mapping", None, str(path), "toml", None, f"cannot read mapping: {error}")]
        ) from None
    return _checked_mapping(mapping, path)


#: what each part of a mapping file holds: a table of text values, or a list of such tables
_MAPPING_SHAPE = {"defaults": dict, "outcome": list, "study": list}
#: the keys each part may hold (a misspelt key would otherwise be ignored and its default used silently)
_MAPPING_KEYS = {
    "defaults": {"diabetes_type", "experimental_arm", "control_arm"},
    "outcome": {
        "name",
        "outcome_id",
        "event_type",
        "timepoint_weeks",
        "timepoint_label",
        "unit",
        "value_type",
    },
    "study": {"name", "trial_id"},
}


def _checked_mapping(mapping: dict[str, Any], path: Path) -> dict[str, Any]:
    """The mapping if its parts have the shapes and keys the module docstring shows, else every misfit named
    (a misspelt key would otherwise be ignored and its default used silently)."""
    problems = []
    for part, value in mapping.items():
        if part not in _MAPPING_SHAPE:
            problems.append(
                _mapping_problem(path, None, part, f"unknown part; use {', '.join(_MAPPING_SHAPE)}")
            )
        elif not isinstance(value, _MAPPING_SHAPE[part]):
            shape = "a [defaults] table" if part == "defaults" else f"a list of [[{part}]] tables"
            problems.append(_mapping_problem(path, None, part, f"must be {shape}"))
        else:
            entries = [value] if part == "defaults" else value
            for i, entry in enumerate(entries, start=1):
                problems += _entry_problems(path, part, i, entry)
    if problems:
        raise EvidenceError(problems, f"mapping {path}")
    return mapping


def _entry_problems(path: Path, part: str, i: int, entry: Any) -> list[Problem]:
    if not isinstance(entry, dict):
        return [_mapping_problem(path, i, part, f"[[{part}]] entry {i} must be a table")]
    allowed = _MAPPING_KEYS[part]
    found = [_mapping_problem(path, i, f"{part}.{k}", f"unknown key; use {', '.join(sorted(allowed))}")
             for k in sorted(set(entry) - allowed)]  # fmt: skip
    if part != "defaults" and not isinstance(entry.get("name"), str):
        found.append(_mapping_problem(path, i, f"{part}.name", f"[[{part}]] entry {i} needs a name (text)"))
    weeks = entry.get("timepoint_weeks", 0)
    if part == "outcome" and (isinstance(weeks, bool) or not isinstance(weeks, int | float)):
        found.append(
            _mapping_problem(path, i, "outcome.timepoint_weeks", f"must be a number of weeks, not {weeks!r}")
        )
    return found


def _mapping_problem(path: Path, entry: int | None, field: str, why: str) -> Problem:
    return Problem("mapping", entry, str(path), field, None, why)


def _trial_id(study: str) -> str:
    """A trial id from a RevMan study name ("Smith 2001a" -> "Smith2001a")."""
    return re.sub(r"[^A-Za-z0-9]+", "", study) or "study"


def revman_to_bundle(
    rows: list[StudyRow], mapping: dict[str, Any], source: str, known_trials: set[str]
) -> tuple[EvidenceBundle, list[Problem]]:
    """Records from RevMan study rows under ``mapping`` (see module docstring)."""
    defaults = mapping.get("defaults", {})
    outcomes = {o.get("name"): o for o in mapping.get("outcome", [])}
    studies = {s.get("name"): s.get("trial_id") for s in mapping.get("study", [])}
    arms = (defaults.get("experimental_arm", "experimental"), defaults.get("control_arm", "control"))
    raw: dict[str, list[dict[str, Any]]] = {
        "trials": [],
        "arms": [],
        "measurements": [],
        "adverse_events": [],
    }
    problems: list[Problem] = []
    new_trials: set[str] = set()
    for row in rows:
        spec = outcomes.get(row.outcome)
        if spec is None:
            problems.append(
                Problem(
                    "revman",
                    row.line,
                    f"{row.outcome}/{row.study}",
                    "outcome",
                    row.outcome,
                    "RevMan outcome not in the mapping file; add an [[outcome]] entry",
                )
            )
            continue
        trial_id = studies.get(row.study) or _trial_id(row.study)
        if trial_id not in known_trials and trial_id not in new_trials:
            new_trials.add(trial_id)
            raw["trials"].append(_stub_trial(trial_id, row, defaults, source))
            for arm_id, role in zip(arms, ("experimental", "control"), strict=True):
                raw["arms"].append(
                    {
                        "trial_id": trial_id,
                        "arm_id": arm_id,
                        "role": role,
                        "label": f"RevMan group {1 if role == 'experimental' else 2}",
                    }
                )
        for number, arm_id in ((1, arms[0]), (2, arms[1])):
            raw[_kind(spec)].append(_arm_record(row, spec, trial_id, arm_id, number, source))
    bundle = EvidenceBundle()
    for kind, items in raw.items():
        records, found = parse_rows(kind, items)
        problems += found
        for line, record in records:
            bundle.add(record, line)
    return bundle, problems


def _kind(spec: dict[str, Any]) -> str:
    return "adverse_events" if "event_type" in spec else "measurements"


def _stub_trial(trial_id: str, row: StudyRow, defaults: dict[str, Any], source: str) -> dict[str, Any]:
    year = re.search(r"(19|20)\d{2}", f"{row.year or ''} {row.study}")
    return {
        "trial_id": trial_id,
        "year": year.group(0) if year else None,
        "citation": row.study,
        "country": "not reported",
        "randomized": "unclear",
        "design_as_reported": "imported from RevMan; design not in the file",
        "diabetes_type": defaults.get("diabetes_type"),
        "cell_source": "not_reported",
        "cell_type": "not_reported",
        "product_as_reported": "not in the RevMan file",
        "control_type": "not_reported",
        "inclusion_status": "uncertain",
        "inclusion_reason": "imported from RevMan; eligibility not yet assessed",
        "source_url": source,
    }


def _arm_record(
    row: StudyRow, spec: dict[str, Any], trial_id: str, arm_id: str, number: int, source: str
) -> dict[str, Any]:
    values = row.values
    label = f"{spec.get('timepoint_label') or str(spec.get('timepoint_weeks')) + ' weeks'}"
    common = {
        "trial_id": trial_id,
        "arm_id": arm_id,
        "timepoint_weeks": spec.get("timepoint_weeks"),
        "timepoint_label": label,
        "source_url": source,
        "locator": f"RevMan outcome '{row.outcome}'",
    }
    if "event_type" in spec:
        return common | {
            "event_type": spec["event_type"],
            "event_as_reported": row.outcome,
            "events": _int(values.get(f"events_{number}")),
            "n_at_risk": _int(values.get(f"total_{number}")),
        }
    record = common | {
        "outcome_id": spec.get("outcome_id"),
        "value_type": spec.get("value_type", "final"),
        "unit": spec.get("unit"),
        "unit_as_reported": spec.get("unit"),
        "n": _int(values.get(f"total_{number}")),
    }
    if row.kind == "continuous":
        return record | {
            "statistic": "mean_sd",
            "mean": values.get(f"mean_{number}"),
            "sd": values.get(f"sd_{number}"),
        }
    return record | {"statistic": "count", "events": _int(values.get(f"events_{number}")), "unit": "patients"}


def _int(value: float | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


def read_revman(
    path: Path, mapping_path: Path, known_trials: set[str]
) -> tuple[EvidenceBundle, list[Problem]]:
    """Read a .rm5 file or a data-package CSV with its mapping into records (see module docstring)."""
    rows = read_rm5(path) if path.suffix.lower() == ".rm5" else read_data_package_csv(path)
    if not rows:
        raise EvidenceError([Problem("file", None, str(path), "data", None, "no study data found")])
    return revman_to_bundle(rows, read_mapping(mapping_path), f"RevMan file {path.name}", known_trials)


__all__ = ["StudyRow", "read_data_package_csv", "read_mapping", "read_revman", "read_rm5", "revman_to_bundle"]

"""Reading and writing evidence records: CSV templates (one file per record type, with a header comment on
fields, units and allowed values), JSON (one document) and Excel (.xlsx, one sheet per record type).

Every reader returns an :class:`EvidenceBundle` and the problems it found, each naming the file row and field;
nothing is dropped silently. Floats are written in their shortest round-trip form, so export -> import ->
export reproduces the file byte for byte.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import stat
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from stemdm import NOT_MEDICAL_ADVICE, __version__
from stemdm.evidence.errors import EvidenceError, Problem
from stemdm.evidence.records import FIELD_NOTES, RECORD_BY_KIND, RECORD_TYPES, Record, list_fields
from stemdm.evidence.vocab import EVENT_TYPES, FLAGS, OUTCOMES, STATISTICS, allowed_units
from stemdm.sanitize import csv_cell, csv_uncell

SCHEMA_VERSION = 1
LIST_SEPARATOR = ";"


@dataclass
class EvidenceBundle:
    """Records of every type, keyed by record kind (``trials``, ``arms``, ``measurements``, ...)."""

    records: dict[str, list[Record]] = field(default_factory=lambda: {r.kind: [] for r in RECORD_TYPES})
    #: file row of each record read from a file, by id(record) (for messages that name the row)
    rows: dict[int, int] = field(default_factory=dict)

    def __getitem__(self, kind: str) -> list[Record]:
        return self.records[kind]

    def add(self, record: Record, row: int | None = None) -> None:
        self.records[record.kind].append(record)
        if row is not None:
            self.rows[id(record)] = row

    def row_of(self, record: Record) -> int | None:
        return self.rows.get(id(record))

    def all(self) -> list[Record]:
        return [record for model in RECORD_TYPES for record in self.records[model.kind]]

    def count(self) -> dict[str, int]:
        return {kind: len(items) for kind, items in self.records.items()}

    def extend(self, other: EvidenceBundle) -> None:
        for kind, items in other.records.items():
            self.records[kind].extend(items)
        self.rows.update(other.rows)

    def sorted(self) -> EvidenceBundle:
        """A copy with each record type in natural-key order (stable exports)."""
        out = EvidenceBundle()
        for kind, items in self.records.items():
            out.records[kind] = sorted(items, key=lambda r: r.natural_key())
        return out


# ----------------------------------------------------------------------------------------------------------
# Cells <-> values
# ----------------------------------------------------------------------------------------------------------


def to_cell(value: Any) -> str:
    """A field value as CSV text: '' for None, true/false, shortest round-trip float, ';'-joined lists."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return f"{LIST_SEPARATOR} ".join(str(v) for v in value)
    return str(value)


def _csv_text(value: Any) -> str:
    """A CSV cell: text is neutralised against formula injection (numbers are left alone: '-0.5' is data)."""
    cell = to_cell(value)
    return csv_cell(cell) if isinstance(value, str | list) else cell


def _from_cells(model: type[Record], row: dict[str, Any]) -> dict[str, Any]:
    """Raw cells -> field values for pydantic: blanks become absent (defaults apply), lists split."""
    lists = list_fields(model)
    data: dict[str, Any] = {}
    for name, raw in row.items():
        if name is None:
            continue
        value = raw.strip() if isinstance(raw, str) else raw
        if value is None or value == "":
            continue
        if name in lists and isinstance(value, str):
            value = [part.strip() for part in value.split(LIST_SEPARATOR) if part.strip()]
        data[name] = value
    return data


def parse_rows(
    kind: str, rows: list[dict[str, Any]], first_row: int = 1, row_numbers: list[int] | None = None
) -> tuple[list[tuple[int, Record]], list[Problem]]:
    """Validate raw rows of one record kind; returns (row number, record) of the valid rows and a problem per
    invalid field."""
    if kind not in RECORD_BY_KIND:
        raise EvidenceError(
            [
                Problem(
                    "file",
                    None,
                    "-",
                    "kind",
                    kind,
                    f"unknown record type; one of {', '.join(RECORD_BY_KIND)}",
                )
            ]
        )
    model = RECORD_BY_KIND[kind]
    records: list[tuple[int, Record]] = []
    problems: list[Problem] = []
    known = set(model.model_fields)
    for offset, row in enumerate(rows):
        row_number = row_numbers[offset] if row_numbers else first_row + offset
        unknown = [name for name in row if name is not None and name not in known]
        key = _row_key(model, row)
        if unknown:
            problems.append(
                Problem(
                    kind,
                    row_number,
                    key,
                    unknown[0],
                    None,
                    f"unknown column(s) {unknown}; expected {sorted(known)}",
                )
            )
            continue
        try:
            records.append((row_number, model.model_validate(_from_cells(model, row))))
        except ValidationError as error:
            problems.extend(_problems_from_validation(kind, row_number, key, row, error))
    return records, problems


def _row_key(model: type[Record], row: dict[str, Any]) -> str:
    return "/".join(str(row.get(name) or "-").strip() for name in model.natural_key_fields)


def _problems_from_validation(kind: str, row: int, key: str, raw: dict[str, Any], error: ValidationError):
    for item in error.errors():
        location = item.get("loc") or ()
        message = str(item.get("msg", "invalid"))
        name = str(location[0]) if location else ""
        if not name and ":" in message:
            # model-level checks say "field: why"
            prefix, _, rest = message.removeprefix("Value error, ").partition(":")
            name, message = prefix.strip().split(",")[0], rest.strip()
        else:
            message = message.removeprefix("Value error, ")
        yield Problem(kind, row, key, name or "(row)", raw.get(name), message)


# ----------------------------------------------------------------------------------------------------------
# CSV
# ----------------------------------------------------------------------------------------------------------


def _allowed_text(model: type[Record], name: str) -> str:
    """What a field holds and the values it allows (template header comments and the schema doc)."""
    allowed = _allowed_values(model, name)
    return "; ".join(x for x in (FIELD_NOTES.get(name, ""), allowed) if x)


def _units_text() -> str:
    per_outcome = [
        f"{o.id}: {', '.join(allowed_units(o.id, 'mean_sd'))}"
        for o in OUTCOMES.values()
        if o.kind == "continuous"
    ]
    return "per outcome: " + "; ".join(per_outcome) + "; counts: patients; proportions: %"


def _allowed_values(model: type[Record], name: str) -> str:
    if name == "unit" and model.kind == "measurements":
        return _units_text()
    if name == "outcome_id":
        return "one of " + ", ".join(OUTCOMES)
    if name == "flags":
        return "';'-separated, any of " + ", ".join(FLAGS)
    if name == "event_type":
        return "one of " + ", ".join(EVENT_TYPES)
    if name == "statistic":
        return "; ".join(f"{stat} needs {'+'.join(req)}" for stat, req in STATISTICS.items())
    annotation = model.model_fields[name].annotation
    literal_values = _literal_values(annotation)
    if literal_values:
        return "one of " + ", ".join(str(v) for v in literal_values)
    return ""


def _literal_values(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) is typing.Literal:
        return typing.get_args(annotation)
    values: tuple[Any, ...] = ()
    for arg in typing.get_args(annotation):
        values += _literal_values(arg)
    return values


def template_header(model: type[Record]) -> str:
    """The comment block at the top of a CSV template: one line per field with its allowed values."""
    lines = [
        f"# stemdm evidence template: {model.kind} (schema {SCHEMA_VERSION}, stemdm {__version__})",
        f"# {(model.__doc__ or '').strip().splitlines()[0]}",
        "# Blank cell = not reported (never zero). Lists are ';'-separated. Lines with # are comments.",
        "# Text cells starting with = + - @ tab or CR are written with a leading ' so that no spreadsheet "
        "runs them as formulas; stemdm removes that ' again on import.",
        f"# Natural key (a re-import updates the record with it): {', '.join(model.natural_key_fields)}",
    ]
    for name, info in model.model_fields.items():
        required = "required" if info.is_required() else "optional"
        allowed = _allowed_text(model, name)
        lines.append(f"#   {name} ({required}){': ' + allowed if allowed else ''}")
    lines.append(f"# {NOT_MEDICAL_ADVICE}")
    return "\n".join(lines) + "\n"


def write_csv(records: list[Record], model: type[Record], path: Path) -> None:
    """Write one record type as a CSV template with its header comment."""
    buffer = io.StringIO()
    buffer.write(template_header(model))
    writer = csv.DictWriter(buffer, fieldnames=list(model.model_fields), lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({name: _csv_text(getattr(record, name)) for name in model.model_fields})
    path.write_text(buffer.getvalue(), encoding="utf-8")


def kind_of_csv(path: Path, text: str) -> str:
    """Record kind of a CSV file: from its template comment, else from its file name."""
    for line in text.splitlines():
        if line.startswith("# stemdm evidence template:"):
            return line.split(":", 1)[1].split("(")[0].strip()
        if not line.startswith("#"):
            break
    stem = path.stem.lower()
    if stem in RECORD_BY_KIND:
        return stem
    raise EvidenceError(
        [
            Problem(
                "file",
                None,
                str(path),
                "name",
                path.name,
                f"cannot tell the record type; name the file one of "
                f"{', '.join(k + '.csv' for k in RECORD_BY_KIND)} or keep the template comment",
            )
        ]
    )


#: the problem field of a file, sheet or key an import did not read (a warning; an error with --strict)
NOT_READ = "not_read"
#: CJK Unified Ideographs: text that decodes as GB18030 and holds some is taken as Chinese, not mojibake
_CJK = re.compile(r"[\u4e00-\u9fff]")


def check_regular_file(path: Path) -> None:
    """Refuse a FIFO, device or socket before opening it (reading one could wait forever)."""
    try:
        mode = path.stat().st_mode
    except OSError as error:
        raise _file_error(path, "path", f"cannot read: {error.strerror or error}") from None
    if not stat.S_ISREG(mode):
        raise _file_error(path, "path", "not a regular file (a pipe, device or socket); give a file")


def read_text(path: Path) -> tuple[str, list[Problem]]:
    """A text file's content: UTF-8 (with or without a BOM), UTF-16 with its BOM, or GB18030/GBK as Chinese
    tools (CNKI, Wanfang, Excel in a Chinese locale) often save, said in a warning; anything else is refused
    with what to do."""
    check_regular_file(path)
    raw = path.read_bytes()
    for bom, codec in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                       (codecs.BOM_UTF16_BE, "utf-16")):  # fmt: skip
        if raw.startswith(bom):
            try:
                return raw.decode(codec), []
            except UnicodeDecodeError as error:
                raise _file_error(path, "encoding", f"damaged {codec} text at byte {error.start}") from None
    try:
        return raw.decode("utf-8"), []
    except UnicodeDecodeError as error:
        first_bad = error.start
    try:
        text = raw.decode("gb18030")
    except UnicodeDecodeError:
        text = ""
    if _looks_chinese(text):
        return text, [
            Problem("file", None, str(path), "encoding", "GB18030",
                    "read as GB18030/GBK (not UTF-8); check the Chinese text, or save the file as UTF-8",
                    "warning")
        ]  # fmt: skip
    raise _file_error(
        path, "encoding", f"not UTF-8 text (byte {first_bad}); save the file as UTF-8 (Excel: CSV UTF-8)"
    )


def _looks_chinese(text: str) -> bool:
    """Whether GB18030-decoded text reads as Chinese rather than mojibake: Chinese words are runs of two or
    more ideographs, while Latin-1 text read as GB18030 turns each accented letter and the next one into a
    lone ideograph between Latin letters ("Zürich" -> "Z黵ich")."""
    ideographs = _CJK.findall(text)
    if not ideographs:
        return False
    in_runs = sum(len(run) for run in re.findall(r"[\u4e00-\u9fff]{2,}", text))
    return in_runs >= 0.8 * len(ideographs)


def not_read(path: Path, what: str, name: str, why: str) -> Problem:
    return Problem("file", None, str(path), NOT_READ, name, f"{what} not read: {why}", "warning")


def read_csv(path: Path) -> tuple[EvidenceBundle, list[Problem]]:
    """Read one CSV template (or a directory of them)."""
    if path.is_dir():
        bundle, problems = EvidenceBundle(), []
        files = [path / f"{kind}.csv" for kind in RECORD_BY_KIND if (path / f"{kind}.csv").is_file()]
        names = ", ".join(f"{kind}.csv" for kind in RECORD_BY_KIND)
        for other in sorted(set(path.iterdir()) - set(files)):
            if not other.name.startswith("."):
                problems.append(
                    not_read(other, "file", other.name, f"not named after a record type ({names})")
                )
        if not files:
            raise _file_error(path, "folder", f"no evidence files in this folder (expected any of {names})")
        for file in files:
            part, part_problems = read_csv(file)
            bundle.extend(part)
            problems.extend(part_problems)
        return bundle, problems
    text, problems = read_text(path)
    if "\x00" in text:
        raise _file_error(path, "file", "contains NUL bytes: not a text CSV file")
    if not text.strip():
        raise _file_error(path, "file", "empty: no header row and no records")
    kind = kind_of_csv(path, text)
    lines = text.splitlines(keepends=True)
    skipped = 0
    while skipped < len(lines) and lines[skipped].startswith("#"):
        skipped += 1
    reader = csv.DictReader(io.StringIO("".join(lines[skipped:])))
    rows, line_numbers = [], []
    try:
        for row in reader:  # line numbers of the file, counting the comment block
            if any((value or "").strip() for value in row.values() if isinstance(value, str)):
                rows.append({k: csv_uncell(v) if isinstance(v, str) else v for k, v in row.items()})
                line_numbers.append(reader.line_num + skipped)
    except csv.Error as error:
        raise _file_error(path, "csv", f"line {reader.line_num + skipped}: {error}") from None
    if reader.fieldnames and len(set(reader.fieldnames)) < len(reader.fieldnames):
        repeated = sorted({n for n in reader.fieldnames if reader.fieldnames.count(n) > 1})
        raise _file_error(path, "header", f"column(s) {repeated} appear more than once")
    if not reader.fieldnames:
        raise _file_error(path, "header", "no header row (only comments): nothing to read")
    records, found = parse_rows(kind, rows, row_numbers=line_numbers)
    problems += found
    bundle = EvidenceBundle()
    for row, record in records:
        bundle.add(record, row)
    return bundle, problems


def write_csv_dir(bundle: EvidenceBundle, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for model in RECORD_TYPES:
        path = directory / f"{model.kind}.csv"
        write_csv(bundle[model.kind], model, path)
        paths.append(path)
    return paths


# ----------------------------------------------------------------------------------------------------------
# JSON
# ----------------------------------------------------------------------------------------------------------


def bundle_to_json(bundle: EvidenceBundle) -> str:
    document = {
        "schema": "stemdm-evidence",
        "schema_version": SCHEMA_VERSION,
        "stemdm_version": __version__,
        "disclaimer": NOT_MEDICAL_ADVICE,
    }
    for model in RECORD_TYPES:
        document[model.kind] = [record.model_dump(mode="json") for record in bundle[model.kind]]
    return json.dumps(document, indent=1, ensure_ascii=False, sort_keys=False) + "\n"


def read_json(path: Path) -> tuple[EvidenceBundle, list[Problem]]:
    text, problems = read_text(path)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise _file_error(path, "json", f"not valid JSON: {error}") from None
    except RecursionError:
        raise _file_error(path, "json", "nested too deeply to be an evidence document") from None
    if not isinstance(document, dict) or document.get("schema") != "stemdm-evidence":
        raise _file_error(
            path, "schema", 'not a stemdm evidence document (missing "schema": "stemdm-evidence")'
        )
    bundle = EvidenceBundle()
    known = {"schema", "schema_version", "stemdm_version", "disclaimer", *RECORD_BY_KIND}
    for key in sorted(set(document) - known):
        problems.append(not_read(path, "key", key, f"not a record type ({', '.join(RECORD_BY_KIND)})"))
    for model in RECORD_TYPES:
        rows = document.get(model.kind, [])
        if not isinstance(rows, list):
            raise _file_error(
                path, model.kind, f'"{model.kind}" must be a list of records, not {type(rows).__name__}'
            )
        bad = [i + 1 for i, row in enumerate(rows) if not isinstance(row, dict)]
        if bad:
            raise _file_error(path, model.kind, f'"{model.kind}" item(s) {bad[:5]} are not objects')
        nested = [i + 1 for i, row in enumerate(rows) if any(isinstance(v, dict) for v in row.values())]
        if nested:
            raise _file_error(path, model.kind, f'"{model.kind}" item(s) {nested[:5]} hold nested objects')
        records, found = parse_rows(model.kind, rows)
        problems.extend(found)
        for row, record in records:
            bundle.add(record, row)
    return bundle, problems


def _file_error(path: Path, field: str, why: str) -> EvidenceError:
    return EvidenceError([Problem("file", None, str(path), field, None, why)])


# ----------------------------------------------------------------------------------------------------------
# Excel
# ----------------------------------------------------------------------------------------------------------


def write_xlsx(bundle: EvidenceBundle, path: Path) -> None:
    """One sheet per record type (header row = field names) and a README sheet with the field guide."""
    from openpyxl import Workbook

    workbook = Workbook()
    readme = workbook.active
    readme.title = "README"
    for model in RECORD_TYPES:
        for line in template_header(model).splitlines():
            readme.append([line.lstrip("# ")])
        readme.append([""])
    for model in RECORD_TYPES:
        sheet = workbook.create_sheet(model.kind)
        names = list(model.model_fields)
        sheet.append(names)
        for row, record in enumerate(bundle[model.kind], start=2):
            for column, name in enumerate(names, start=1):
                _write_cell(sheet, row, column, _xlsx_value(getattr(record, name)))
    workbook.save(path)


def _write_cell(sheet, row: int, column: int, value: Any) -> None:
    cell = sheet.cell(row=row, column=column, value=value)
    if isinstance(value, str) and value.startswith("="):
        cell.data_type = "s"  # text, not a formula: openpyxl reads a leading '=' as one


def _xlsx_value(value: Any) -> Any:
    if isinstance(value, list):
        return to_cell(value) or None
    return value


def read_xlsx(path: Path) -> tuple[EvidenceBundle, list[Problem]]:
    from openpyxl import load_workbook

    check_regular_file(path)
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises several types for a damaged or foreign file
        raise EvidenceError(
            [Problem("file", None, str(path), "xlsx", None, f"cannot open workbook: {error}")]
        ) from None
    bundle, problems = EvidenceBundle(), []
    sheets = [name for name in workbook.sheetnames if name in RECORD_BY_KIND]
    for other in workbook.sheetnames:
        if other not in RECORD_BY_KIND and other != "README":
            problems.append(
                not_read(path, "sheet", other, f"not named after a record type ({', '.join(RECORD_BY_KIND)})")
            )
    if not sheets:
        raise EvidenceError(
            [
                Problem(
                    "file",
                    None,
                    str(path),
                    "sheets",
                    workbook.sheetnames,
                    f"no sheet named after a record type ({', '.join(RECORD_BY_KIND)})",
                )
            ]
        )
    for name in sheets:
        rows = list(workbook[name].iter_rows(values_only=True))
        if not rows:
            continue
        header = [str(cell).strip() if cell is not None else None for cell in rows[0]]
        repeated = sorted({n for n in header if n is not None and header.count(n) > 1})
        if repeated:
            raise _file_error(path, name, f"sheet {name}: column(s) {repeated} appear more than once")
        data = [
            dict(zip(header, _text_cells(row), strict=False))
            for row in rows[1:]
            if any(cell not in (None, "") for cell in row)
        ]
        records, found = parse_rows(name, data, first_row=2)
        problems.extend(found)
        for row, record in records:
            bundle.add(record, row)
    workbook.close()
    return bundle, problems


def _text_cells(row: tuple[Any, ...]) -> list[Any]:
    return [cell.strip() if isinstance(cell, str) else cell for cell in row]


# ----------------------------------------------------------------------------------------------------------
# Dispatch
# ----------------------------------------------------------------------------------------------------------


def read_any(path: Path) -> tuple[EvidenceBundle, list[Problem]]:
    """Read a CSV file or directory of CSV files, a JSON document or an Excel workbook."""
    if not path.exists():
        raise EvidenceError(
            [Problem("file", None, str(path), "path", str(path), "no such file or directory")]
        )
    suffix = path.suffix.lower()
    if path.is_dir() or suffix == ".csv":
        return read_csv(path)
    if suffix == ".json":
        return read_json(path)
    if suffix in (".xlsx", ".xlsm"):
        return read_xlsx(path)
    raise EvidenceError(
        [
            Problem(
                "file",
                None,
                str(path),
                "format",
                suffix,
                "unknown format; use .csv (or a folder of them), .json or .xlsx "
                "(RevMan files: .rm5 or a data-package .csv via --revman)",
            )
        ]
    )


def write_any(bundle: EvidenceBundle, path: Path, fmt: str) -> list[Path]:
    """Write ``bundle`` as ``fmt`` (csv: a directory; json, xlsx: a file). Returns the paths written."""
    bundle = bundle.sorted()
    if fmt == "csv":
        return write_csv_dir(bundle, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        path.write_text(bundle_to_json(bundle), encoding="utf-8")
    elif fmt == "xlsx":
        write_xlsx(bundle, path)
    else:
        raise ValueError(f"unknown format {fmt!r}; one of csv, json, xlsx")
    return [path]

"""Problems found in evidence records, and the error that carries all of them at once."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or worth a warning) in one row: where, which field, what value, and why."""

    record_type: str
    row: int | None  # 1-based data row in the file (None: not from a file)
    key: str  # the record's natural key, e.g. "Zang2022/hba1c/52w/msc"
    field: str
    value: Any
    why: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = f"{self.record_type} row {self.row}" if self.row is not None else self.record_type
        value = "" if self.value is None else f" = {self.value!r}"
        return f"{self.severity}: {where} [{self.key}] field '{self.field}'{value}: {self.why}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def validation_problems(record_type: str, row: int | None, key: str, error: Any) -> list[Problem]:
    """One problem per error of a pydantic ``ValidationError`` of a record (model-level checks say
    "field: why")."""
    problems = []
    for item in error.errors():
        message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        field = str(item["loc"][0]) if item.get("loc") else message.partition(":")[0]
        problems.append(Problem(record_type, row, key, field, None, message))
    return problems


class EvidenceError(ValueError):
    """Raised when records fail validation; ``problems`` lists every problem found (errors and warnings)."""

    def __init__(self, problems: list[Problem], context: str = "") -> None:
        self.problems = problems
        errors = [p for p in problems if p.severity == "error"]
        head = f"{context}: " if context else ""
        lines = "\n".join(f"  {p}" for p in errors[:50])
        more = f"\n  ... and {len(errors) - 50} more" if len(errors) > 50 else ""
        super().__init__(f"{head}{len(errors)} problem(s); nothing was changed\n{lines}{more}")

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


class ConversionError(ValueError):
    """A conversion cannot be done with what was given (e.g. IU/kg/day without a body weight). Its argument
    may be a translatable message (``stemdm.i18n.messages``); ``reason`` keeps it."""

    @property
    def reason(self) -> str:
        """The reason as given (a message stays a message; ``str(error)`` would give its English only)."""
        return self.args[0] if self.args and isinstance(self.args[0], str) else str(self)

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
    "insert", "update", "extract", "edit", "reconcile", "reconcile_failed", "add_user", "new_token",
    "deactivate",
)  # fmt: skip
CONVERSIONS = ("mean and SD",)
#: job states, comparison outcomes and next-trial targets shown in the run pages
RUNS = (
    "queued", "running", "done", "failed", "added", "removed", "changed", "certainty", "estimate", "k",
    "pooled effect", "prediction-interval limit", "minimal important difference",
)  # fmt: skip


def all_terms() -> list[str]:
    """Every data value that is translated where shown."""
    found: list[str] = list(vocab.OUTCOMES)
    for literal in _LITERALS:
        found += [str(v) for v in typing.get_args(literal)]
    found += list(Measurement.model_fields)
    found += [*ROLES, *ACTIONS, *CONVERSIONS, *RUNS]
    return sorted(set(found))

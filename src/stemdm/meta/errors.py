"""Errors raised on bad input, each naming the study (row) and the field at fault."""

from __future__ import annotations


class MetaInputError(ValueError):
    """Input that cannot be analysed.

    ``study`` is the study label (or row number) and ``field`` the column at fault, when known,
    so that a reviewer can go straight to the cell to fix.
    """

    def __init__(self, message: str, *, study: str | None = None, field: str | None = None):
        self.study = study
        self.field = field
        where = []
        if study is not None:
            where.append(f"study {study}")
        if field is not None:
            where.append(f"field '{field}'")
        prefix = f"[{', '.join(where)}] " if where else ""
        super().__init__(prefix + message)


class ConvergenceError(RuntimeError):
    """An iterative estimator found no solution; never papered over with a number."""

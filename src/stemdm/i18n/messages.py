"""Sentences built from data as messages: a message id (the English text with ``%(name)s`` placeholders,
which is also the gettext msgid of the catalogs) and named parameters, kept as data until output and rendered
in the reader's language through the catalogs.

- ``msg(id, **params)`` makes a :class:`Message`. It *is* a ``str`` (its English rendering), so JSON, logs and
  code that only needs English keep working; ``render(lang)`` gives any language.
- Parameters are numbers or text shown as they are (trial ids, formatted numbers), ``term(value)`` (a data
  value translated through the catalog: outcome ids, arm roles, statistics), or other messages (rendered in
  the same language, so clauses nest).
- ``clauses(parts)`` joins messages as one sentence of clauses ("a; b" in English, "a；b" in Chinese).
- ``verbatim(text)`` is text from a source or a user shown exactly as written (a quote, an error from a
  library): never translated, and the report marks it as such.

Extraction: ``tools/update_catalogs.py`` collects every ``msg("...")`` literal like ``_("...")``; the catalog
test then fails until each has its Chinese with the same placeholders.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: how clauses of one sentence are joined, per language
CLAUSE_SEPARATORS = {"en": "; ", "zh": "；"}


def _gettext(lang: str):
    from stemdm.i18n import translations

    return translations(lang).gettext


class Message(str):
    """A translatable sentence: ``str(message)`` is its English; ``render(lang)`` its text in ``lang``."""

    msgid: str
    params: Mapping[str, Any]

    def __new__(cls, msgid: str, params: Mapping[str, Any] | None = None) -> Message:
        params = dict(params or {})
        self = super().__new__(cls, _render(msgid, params, "en"))
        self.msgid = msgid
        self.params = params
        return self

    def render(self, lang: str) -> str:
        return _render(self.msgid, self.params, lang)

    def __reduce__(self):  # pickled through worker processes: rebuilt from id and parameters
        return (Message, (self.msgid, dict(self.params)))

    def to_data(self) -> dict[str, Any]:
        """The message as data: id and parameters (nested messages as data too)."""
        return {"id": self.msgid, "params": {k: _as_data(v) for k, v in self.params.items()}}


class Clauses(str):
    """Several messages read as one sentence of clauses."""

    parts: tuple[str, ...]

    def __new__(cls, parts: Iterable[str]) -> Clauses:
        parts = tuple(parts)
        self = super().__new__(cls, CLAUSE_SEPARATORS["en"].join(_in(p, "en") for p in parts))
        self.parts = parts
        return self

    def render(self, lang: str) -> str:
        return CLAUSE_SEPARATORS[lang].join(_in(part, lang) for part in self.parts)

    def __reduce__(self):
        return (Clauses, (self.parts,))

    def to_data(self) -> dict[str, Any]:
        return {"clauses": [_as_data(p) for p in self.parts]}


class Verbatim(str):
    """Text shown exactly as written in every language (a quote from a source, a library's error)."""

    def render(self, lang: str) -> str:
        return str(self)

    def __reduce__(self):
        return (Verbatim, (str(self),))


def msg(msgid: str, **params: Any) -> Message:
    """A message with named parameters (see the module docstring)."""
    return Message(msgid, params)


def term(value: object) -> Message:
    """A data value (an outcome id, an arm role, a statistic...) shown through the term catalog."""
    return Message(str(value))


def clauses(parts: Iterable[str]) -> Clauses:
    return Clauses(parts)


def verbatim(text: object) -> Verbatim:
    return Verbatim(str(text))


def render(text: object, lang: str) -> str:
    """Any text in ``lang``: messages rendered, a catalog entry translated, other text as it is."""
    return _in(text, lang)


def translatable(text: object) -> bool:
    """Whether ``text`` is a message (or clauses of messages) rather than plain text."""
    return isinstance(text, (Message, Clauses))


def _in(value: object, lang: str) -> str:
    if isinstance(value, (Message, Clauses, Verbatim)):
        return value.render(lang)
    if isinstance(value, str):
        return _gettext(lang)(value)
    return str(value)


def _render(msgid: str, params: Mapping[str, Any], lang: str) -> str:
    template = _gettext(lang)(msgid)  # English too: its catalog names data values (hba1c -> HbA1c)
    if not params:
        return template
    values = {}
    for key, value in params.items():
        if isinstance(value, (Message, Clauses, Verbatim)):
            values[key] = value.render(lang)
        elif isinstance(value, (list, tuple)):
            values[key] = _list_separator(lang).join(
                v.render(lang) if hasattr(v, "render") else str(v) for v in value
            )
        else:
            values[key] = value
    return template % values


def _list_separator(lang: str) -> str:
    return "、" if lang == "zh" else ", "


def _as_data(value: Any) -> Any:
    if isinstance(value, (Message, Clauses)):
        return value.to_data()
    if isinstance(value, (list, tuple)):
        return [_as_data(v) for v in value]
    return value if isinstance(value, (int, float)) or value is None else str(value)

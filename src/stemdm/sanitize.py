"""Text from data or users is hostile: one place for how stemdm neutralises it on every way out.

- HTML: Jinja autoescape does the escaping; :func:`safe_url` decides which links may become ``href`` (http and
  https only; ``javascript:``, ``data:``, ``file:`` and the rest stay plain text).
- Terminals: :func:`term` escapes rich markup (``[red]``, ``[link=...]``, ``[/]``) and removes control
  characters (ANSI escapes, NUL, bell) so a label can neither style, link nor crash the output.
- CSV: :func:`csv_cell` prefixes cells a spreadsheet would run as a formula (leading ``= + - @``, tab, CR)
  with an apostrophe (OWASP, "CSV Injection"); :func:`csv_uncell` undoes it on import, so export -> import
  round-trips.
- Secrets: :func:`redact_url` hides the password of a database URL, in the user-info part and in query
  parameters such as ``?password=``.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from rich.markup import escape

#: Characters no evidence text may hold: C0 controls except tab, LF and CR; DEL; C1 controls.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_TERMINAL_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

#: First characters that make a spreadsheet read a cell as a formula (and tab/CR, which some strip first).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
CSV_ESCAPE = "'"

_SECRET_PARAMETERS = re.compile(r"(?i)((?:^|[?&;])(?:password|passwd|pwd|secret|token|sslpassword)=)[^&;#]*")


def safe_url(url: object) -> str:
    """``url`` when it is an absolute http(s) URL with a host, else ``""`` (never link it)."""
    text = str(url or "").strip()
    if CONTROL_CHARACTERS.search(text) or any(c in text for c in " <>\"'`"):
        return ""
    try:
        parts = urlsplit(text)
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return ""
    return text


def term(text: object) -> str:
    """``text`` safe to hand to rich: markup escaped, control characters (ANSI escapes among them) removed."""
    return escape(_TERMINAL_CONTROLS.sub("", str(text)))


def csv_cell(text: str) -> str:
    """A text cell that no spreadsheet runs as a formula: ``'`` before a leading ``= + - @`` tab or CR (and
    before a leading ``'`` that would otherwise be read back as this escape)."""
    if text.startswith(FORMULA_TRIGGERS) or (
        text.startswith(CSV_ESCAPE) and text[1:2] in (*FORMULA_TRIGGERS, CSV_ESCAPE)
    ):
        return CSV_ESCAPE + text
    return text


def csv_uncell(text: str) -> str:
    """The inverse of :func:`csv_cell` (a cell read from a stemdm CSV export)."""
    if text.startswith(CSV_ESCAPE) and text[1:2] in (*FORMULA_TRIGGERS, CSV_ESCAPE) and len(text) > 1:
        return text[1:]
    return text


def redact_url(url: object) -> str:
    """A database URL without its password: ``scheme://user:***@host/db``; secret query parameters become
    ``***`` too. A plain path (SQLite) is returned as it is."""
    text = str(url)
    if "://" not in text:
        return text
    scheme, rest = text.split("://", 1)
    if "@" in rest:  # the last '@' ends the user info, even when the password holds '@', '/' or '?'
        credentials, after = rest.rsplit("@", 1)
        user = re.split(r"[:/?]", credentials, maxsplit=1)[0]
        rest = f"{user}:***@{after}" if credentials != user else rest
    return scheme + "://" + _SECRET_PARAMETERS.sub(r"\1***", rest)


def redact_text(text: str, url: object) -> str:
    """``text`` (a driver's message, say) with every fragment of ``url``'s password replaced by ``***``."""
    secrets = _secrets_of(str(url))
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 3:
            text = text.replace(secret, "***")
    return text


def _secrets_of(url: str) -> set[str]:
    """Password fragments of ``url``: the user-info password (split at '@' too) and secret parameters."""
    found: set[str] = set()
    if "://" in url:
        rest = url.split("://", 1)[1]
        if "@" in rest:
            credentials = rest.rsplit("@", 1)[0]
            if ":" in credentials:
                password = credentials.split(":", 1)[1]
                found.add(password)
                found.update(part for part in re.split(r"[@/]", password) if part)
    for match in re.finditer(r"(?i)(?:password|passwd|pwd|secret|token|sslpassword)=([^&;#]*)", url):
        found.add(match.group(1))
    return found

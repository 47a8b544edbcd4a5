"""The bundled curated dataset inside a store: which version of it a store follows, and bringing the store
to the version this stemdm ships.

A store made from the bundled dataset records the bundle's version (the package version and a SHA-256 of
the files in ``stemdm/evidence/data``) in the ``store_state`` table. When a store is opened by a stemdm
whose bundle differs, :func:`follow_bundle` brings the store's *bundled* records to the current bundle in
one transaction under the store's write lock, through the ordinary import path (validation, upserts, one
audit row per change, source ``bundled:stemdm-<version>``):

- a record is *bundled* when the last audit row that wrote it has a ``bundled:`` source; every other
  record (web reconciliations, user imports) is the user's and is never changed or removed;
- new bundled records are inserted, changed ones updated, and bundled records the current bundle no
  longer has are removed (audit action ``delete``), unless a user record still refers to them;
- when the bundle and a user record disagree on the same natural key, the user's record wins and the
  conflict is reported;
- if the result would not validate, nothing is written and the problems are reported: the store keeps
  the evidence it had, and says so.

A store that holds records but was never made from the bundle (``Store.open(bootstrap=False)`` and own
imports) is left alone. A store recorded at a newer stemdm than this one is not taken back.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, insert, select, update
from sqlalchemy.engine import Connection

from stemdm import __version__
from stemdm.evidence.errors import EvidenceError, Problem
from stemdm.evidence.formats import EvidenceBundle, read_csv
from stemdm.evidence.records import Record

#: the audit source of every change the bundled dataset makes
BUNDLED_SOURCE = f"bundled:stemdm-{__version__}"
BUNDLED_PREFIX = "bundled:"


def bundled_dir() -> Path:
    return Path(str(resources.files("stemdm.evidence") / "data"))


def load_bundled() -> EvidenceBundle:
    """The curated dataset shipped with the package (see data/SOURCES.md)."""
    bundle, problems = read_csv(bundled_dir())
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise EvidenceError(errors, "bundled dataset")
    return bundle


def bundled_caveats() -> list[dict[str, Any]]:
    """The curated dataset's caveats (shared/evidence/README.md), each with the trials it concerns."""
    return json.loads((bundled_dir() / "caveats.json").read_text(encoding="utf-8"))


#: the store's own settings (schema 0004_store_state): one row per key
state_metadata = MetaData()
state_table = Table(
    "store_state",
    state_metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


@functools.cache
def bundle_sha256() -> str:
    """SHA-256 of the bundled data files (names and bytes, in name order): the bundle's content version."""
    digest = hashlib.sha256()
    for path in sorted(p for p in bundled_dir().iterdir() if p.is_file()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def bundle_version() -> str:
    """This stemdm's bundled dataset, e.g. ``0.2.0 (data 1a2b3c4d5e6f)``."""
    return f"{__version__} (data {bundle_sha256()[:12]})"


def read_state(connection: Connection) -> dict[str, str]:
    """The store's settings; ``<key>@`` holds when each was last written."""
    state = {}
    for row in connection.execute(select(state_table)):
        state[row.key], state[f"{row.key}@"] = row.value, str(row.updated_at)[:19]
    return state


def write_state(connection: Connection, values: dict[str, str]) -> None:
    now = datetime.now(UTC)
    present = {row.key for row in connection.execute(select(state_table.c.key))}
    for key, value in values.items():
        if key in present:
            statement = (
                update(state_table).where(state_table.c.key == key).values(value=value, updated_at=now)
            )
        else:
            statement = insert(state_table).values(key=key, value=value, updated_at=now)
        connection.execute(statement)


def version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


@dataclass
class BundledUpdate:
    """What :func:`follow_bundle` did to a store (``store.bundled_update``)."""

    version: str
    previous: str | None  # the version the store followed; None: a new store; "unrecorded": made before 0.2.0
    added: Counter = field(default_factory=Counter)
    changed: Counter = field(default_factory=Counter)
    removed: Counter = field(default_factory=Counter)
    conflicts: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    applied: bool = True
    newer: bool = False  # the store follows a newer stemdm's bundle: left as it is

    @property
    def changes(self) -> int:
        return sum(self.added.values()) + sum(self.changed.values()) + sum(self.removed.values())

    def summary(self, lang: str = "en") -> str | None:
        """One line for the terminal in ``lang`` (en, zh); None when there is nothing to tell (a new store,
        nothing changed)."""
        words = _WORDS[lang if lang in _WORDS else "en"]
        if self.newer:
            return words["newer"].format(previous=self.previous, current=__version__)
        if not self.applied:
            return words["not_applied"].format(version=self.version, n=len(self.problems))
        if self.previous is None or (not self.changes and not self.conflicts):
            return None
        parts = [
            words[verb].format(
                items=words["list"].join(_count(n, kind, lang) for kind, n in _in_record_order(counts))
            )
            for verb, counts in (("added", self.added), ("changed", self.changed), ("removed", self.removed))
            if counts
        ]
        if self.conflicts:
            parts.append(words["conflicts"].format(n=len(self.conflicts)))
        version = (
            self.version.replace(" (data ", "（数据 ").replace(")", "）") if lang == "zh" else self.version
        )
        return words["updated"].format(version=version) + words["parts"].join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version, "previous": self.previous, "applied": self.applied, "newer": self.newer,
            "added": dict(self.added), "changed": dict(self.changed), "removed": dict(self.removed),
            "conflicts": self.conflicts, "problems": [p.to_dict() for p in self.problems],
        }  # fmt: skip


#: record kinds in words: English singular and plural, Chinese with its measure word
_NOUNS = {
    "trials": ("trial", "trials", "项试验"), "arms": ("arm", "arms", "个组"),
    "measurements": ("measurement", "measurements", "条测量数据"),
    "adverse_events": ("adverse event", "adverse events", "条不良事件记录"),
    "published_estimates": ("published estimate", "published estimates", "条已发表的合并估计"),
    "contrasts": ("contrast", "contrasts", "条组间比较"),
    "corrections": ("correction", "corrections", "条更正"),
}  # fmt: skip
_WORDS = {
    "en": {
        "updated": "bundled evidence updated to {version}: ", "parts": "; ", "list": ", ",
        "added": "{items} added", "changed": "{items} changed", "removed": "{items} removed",
        "conflicts": "{n} conflict(s) with your own records, kept as yours",
        "not_applied": "bundled evidence NOT updated to {version}: {n} problem(s) with the records in the "
        "store; the review runs on the evidence the store already had (stemdm evidence status)",
        "newer": "evidence store follows the bundled evidence of stemdm {previous}, newer than this stemdm "
        "({current}): left as it is",
    },
    "zh": {
        "updated": "内置证据已更新至 {version}：", "parts": "；", "list": "、",
        "added": "新增 {items}", "changed": "修改 {items}", "removed": "移除 {items}",
        "conflicts": "{n} 处与您自己的记录冲突，保留您的记录",
        "not_applied": "内置证据未更新至 {version}：证据库中的记录有 {n} 个问题；"
        "系统评价仍基于证据库原有的证据（stemdm evidence status）",
        "newer": "证据库采用的是 stemdm {previous} 的内置证据，比当前 stemdm（{current}）更新：保持不变",
    },
}  # fmt: skip


def _count(n: int, kind: str, lang: str = "en") -> str:
    singular, plural, chinese = _NOUNS.get(kind, (kind, kind, kind))
    if lang == "zh":
        return f"{n} {chinese}"
    return f"{n} {singular if n == 1 else plural}"


def _in_record_order(counts: Counter) -> list[tuple[str, int]]:
    order = list(_NOUNS)
    return sorted(counts.items(), key=lambda item: order.index(item[0]) if item[0] in order else len(order))


def plan_update(
    bundle: EvidenceBundle,
    existing: EvidenceBundle,
    owners: dict[tuple[str, str], str],
    report: BundledUpdate,
) -> tuple[EvidenceBundle, list[Record]]:
    """The bundled records to insert or update (unchanged ones are left alone by the import) and the bundled
    records to remove; collisions with user records go to ``report.conflicts``."""
    stored = {(r.kind, r.natural_key()): r for r in existing.all()}
    incoming = EvidenceBundle()
    for record in bundle.all():
        key = (record.kind, record.natural_key())
        old = stored.get(key)
        if old is not None and not owners.get(key, "").startswith(BUNDLED_PREFIX):
            if _dump(old) != _dump(record):
                report.conflicts.append(
                    f"{record.kind} {key[1]}: your record ({owners.get(key, 'no audit row')}) kept; "
                    "the bundled one differs"
                )
            continue
        incoming.add(record)
    wanted = {(r.kind, r.natural_key()) for r in bundle.all()}
    candidates = [
        r for key, r in stored.items() if key not in wanted and owners.get(key, "").startswith(BUNDLED_PREFIX)
    ]
    keep = _referenced(candidates, existing, incoming)
    for record in keep:
        report.conflicts.append(
            f"{record.kind} {record.natural_key()}: no longer in the bundle, "
            "kept because your records refer to it"
        )
    return incoming, [r for r in candidates if r not in keep]


def _referenced(candidates: list[Record], existing: EvidenceBundle, incoming: EvidenceBundle) -> list[Record]:
    """Removal candidates (trials, arms) that a record staying in the store refers to, directly or through
    another kept record (an arm kept for a user's measurement keeps its trial; a kept trial keeps its
    arms)."""
    kept: list[Record] = []
    while True:
        leaving = {(r.kind, r.natural_key()) for r in candidates if r not in kept}
        staying = [r for r in existing.all() if (r.kind, r.natural_key()) not in leaving] + incoming.all()
        trial_refs = {getattr(r, "trial_id", None) for r in staying if r.kind != "trials"}
        arm_refs = {
            (getattr(r, "trial_id", None), getattr(r, name, None))
            for r in staying
            for name in ("arm_id", "comparator_arm_id", "part_of")
            if r.kind != "arms" or name == "part_of"
        }
        kept_trials = {r.trial_id for r in kept if r.kind == "trials"}
        more = [
            r for r in candidates if r not in kept and (
                (r.kind == "trials" and r.trial_id in trial_refs)
                or (r.kind == "arms" and ((r.trial_id, r.arm_id) in arm_refs or r.trial_id in kept_trials))
            )
        ]  # fmt: skip
        if not more:
            return kept
        kept += more


def _dump(record: Record) -> str:
    return json.dumps(record.model_dump(mode="json"), sort_keys=True)


def pending(state: dict[str, str], made_from_bundle: bool, empty: bool) -> str:
    """Whether a store follows this stemdm's bundle: ``current``, ``older`` (brought up to date on the next
    ordinary open; a new, empty store too), ``newer`` (a later stemdm's: left alone) or ``none`` (the user's
    own store, never made from the bundle). ``state``: its settings; ``made_from_bundle``: some record was
    last written by the bundle; ``empty``: no import yet. The one rule ``Store.follow_bundle`` and
    ``stemdm evidence status`` both apply."""
    if state.get("bundled_sha256") == bundle_sha256():
        return "current"
    if "bundled_stemdm" in state and version_tuple(state["bundled_stemdm"]) > version_tuple(__version__):
        return "newer"
    return "older" if "bundled_sha256" in state or made_from_bundle or empty else "none"

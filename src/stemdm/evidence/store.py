"""The evidence store: SQLAlchemy 2 tables derived from the record models, SQLite by default and PostgreSQL
by URL, with transactional, idempotent imports and an audit trail.

- The database to use: ``url`` argument, else the ``STEMDM_DB`` environment variable, else a per-user SQLite
  file (``$XDG_DATA_HOME/stemdm/evidence.sqlite``, default ``~/.local/share/stemdm/evidence.sqlite``). A plain
  path is read as a SQLite file.
- One table per record type, one column per record field (lists as JSON), plus ``natural_key`` (unique).
- An import validates everything first (fields, references, n, follow-up, duplicates) and reports every
  problem at once; with any error nothing is written. Otherwise one transaction inserts new records, updates
  changed ones and leaves identical ones alone, writing one audit row per inserted record and per changed
  field.
- On first use an empty store is loaded with the bundled curated dataset.

Concurrency: every write (schema set-up, first-use load, import) runs in one transaction that first
takes the store's write lock (PostgreSQL: a transaction-level advisory lock; SQLite: ``BEGIN IMMEDIATE``),
then reads the current records, validates and writes. Two imports of the same trial are therefore
serialized: the second compares against what the first wrote, so no update is lost and each audit row's old
value is the previous row's new value. SQLite runs in WAL mode with a busy timeout, so readers never wait
for a writer and writers wait their turn (up to ``BUSY_TIMEOUT_S``) instead of failing with "database is
locked".
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import types
import typing
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from stemdm import __version__
from stemdm.evidence.bundled import (
    BUNDLED_PREFIX,
    BUNDLED_SOURCE,
    BundledUpdate,
    bundle_sha256,
    bundle_version,
    load_bundled,
    pending,
    plan_update,
    read_state,
    write_state,
)
from stemdm.evidence.errors import EvidenceError, Problem, validation_problems
from stemdm.evidence.formats import EvidenceBundle
from stemdm.evidence.records import RECORD_TYPES, Record
from stemdm.evidence.validate import check_bundle
from stemdm.paths import xdg_data_home
from stemdm.sanitize import redact_text, redact_url

#: Seconds a SQLite writer waits for another writer before giving up with a message.
BUSY_TIMEOUT_S = 60
#: Key of the PostgreSQL advisory lock that serializes writers ("stemdm" in ASCII).
PG_WRITE_LOCK = 0x7374656D646D

metadata = MetaData()


def _column_type(annotation: Any):
    """SQL column type of a pydantic field annotation (Optional and Literal unwrapped). An optional number
    declared through an Annotated alias (``Finite | None``) falls through to Text, as in every store made so
    far (the migration baseline keeps it; ``_as_stored`` types the values on reading)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        inner = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return _column_type(inner[0])
    if origin is typing.Literal:
        return String(64)
    if origin is list:
        return JSON
    if annotation is bool:
        return Boolean
    if annotation is int:
        return Integer
    if annotation is float:
        return Float(precision=53)
    return Text


def _record_table(model: type[Record]) -> Table:
    columns = [
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("natural_key", String(400), nullable=False, unique=True),
    ]
    for name, info in model.model_fields.items():
        columns.append(Column(name, _column_type(info.annotation), nullable=not info.is_required()))
    return Table(model.kind, metadata, *columns)


RECORD_TABLES: dict[str, Table] = {model.kind: _record_table(model) for model in RECORD_TYPES}

imports_table = Table(
    "imports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("source", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("inserted", Integer, nullable=False),
    Column("updated", Integer, nullable=False),
    Column("unchanged", Integer, nullable=False),
    Column("stemdm_version", String(32), nullable=False),
)

audit_table = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("import_id", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("source", Text, nullable=False),
    Column("record_type", String(64), nullable=False),
    Column("natural_key", String(400), nullable=False),
    Column("action", String(16), nullable=False),
    Column("field", String(64)),
    Column("old_value", Text),
    Column("new_value", Text),
)


def _missing_columns(connection: Connection) -> dict[str, list[Column]]:
    """Columns the record models have that an existing store's tables lack, by table."""
    inspector = inspect(connection)
    tables = set(inspector.get_table_names())
    missing = {}
    for name, table in metadata.tables.items():
        if name in tables:
            present = {column["name"] for column in inspector.get_columns(name)}
            absent = [column for column in table.columns if column.name not in present]
            if absent:
                missing[name] = absent
    return missing


def evidence_tables_missing_parts(connection: Connection) -> bool:
    """Whether a store made before migrations lacks a table or column of the migration baseline."""
    existing = set(inspect(connection).get_table_names())
    return not existing >= set(metadata.tables) or bool(_missing_columns(connection))


def repair_legacy(connection: Connection) -> None:
    """Bring a store made by stemdm 0.1.0 before migrations (tables, no ``alembic_version``) to the
    migration baseline: the tables and nullable columns that version added on open (additive only). Existing
    rows read the new fields as not reported. Later changes are Alembic migrations (``stemdm.db``)."""
    if not evidence_tables_missing_parts(connection):
        return
    metadata.create_all(connection)
    quote = connection.dialect.identifier_preparer.quote
    for table, columns in _missing_columns(connection).items():
        for column in columns:
            kind = column.type.compile(dialect=connection.dialect)
            connection.exec_driver_sql(f"ALTER TABLE {quote(table)} ADD COLUMN {quote(column.name)} {kind}")


def default_url() -> str:
    """``STEMDM_DB`` when set, else the per-user SQLite file."""
    env = os.environ.get("STEMDM_DB")
    if env:
        return env
    return str(xdg_data_home() / "stemdm" / "evidence.sqlite")


def normalize_url(url: str | os.PathLike | None) -> str:
    """A SQLAlchemy URL from a URL or a file path (SQLite); the PostgreSQL driver defaults to psycopg 3."""
    text = str(url) if url is not None else default_url()
    if "://" not in text:
        try:
            path = Path(text).expanduser().resolve()
        except RuntimeError as error:  # '~name' for a user that does not exist
            raise ValueError(f"{text}: {error}") from None
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            raise IsADirectoryError(f"{path} is a folder; give a file for the SQLite store")
        return f"sqlite:///{path}"
    if text.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + text.split("://", 1)[1]
    return text


#: The URL without its password, in the user info or in query parameters (messages, audit source).
redact = redact_url


def _make_engine(url: str) -> Engine:
    """An engine whose writers take the store's write lock (see the module docstring)."""
    if not url.startswith("sqlite"):
        return create_engine(url, future=True, pool_pre_ping=True)
    engine = create_engine(url, future=True, connect_args={"timeout": BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _sqlite_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # BEGIN is emitted below, so a writer can say IMMEDIATE
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(connection: Connection) -> None:
        writing = connection.get_execution_options().get("stemdm_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")

    return engine


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that holds the database's write lock from its first statement (PostgreSQL: advisory
    lock; SQLite: BEGIN IMMEDIATE). Every writer (imports, the workbench) uses it: a SQLite transaction that
    read first and then tried to write would fail at once with "database is locked" when another writer is
    active, instead of waiting its turn."""
    with engine.connect() as connection:
        connection.execution_options(stemdm_write=True)
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_WRITE_LOCK})
            yield connection


@dataclass
class ImportReport:
    """What an import did: counts per action, the warnings found, the import id (None: nothing to do)."""

    source: str
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    import_id: int | None = None
    warnings: list[Problem] = field(default_factory=list)
    inserted_by_kind: Counter = field(default_factory=Counter)
    updated_by_kind: Counter = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "import_id": self.import_id,
            "warnings": [w.to_dict() for w in self.warnings],
        }


def _fingerprint(bundle: EvidenceBundle) -> str:
    payload = json.dumps(
        {
            kind: sorted(json.dumps(r.model_dump(mode="json"), sort_keys=True) for r in records)
            for kind, records in bundle.records.items()
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _json_value(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


class Store:
    """An evidence store at ``url`` (see module docstring). Use :meth:`open` to get one ready to use."""

    def __init__(self, url: str | os.PathLike | None = None) -> None:
        shown = redact_url(url if url is not None else default_url())
        self._snapshot: tuple[int | None, EvidenceBundle] | None = None
        self._snapshot_lock = threading.Lock()
        self.bundled_update = None  # set by open(): what bringing the store to the bundled dataset did
        try:
            self.url = normalize_url(url)
            self.engine: Engine = _make_engine(self.url)
            self._create_schema()
        except (SQLAlchemyError, ModuleNotFoundError, OSError, ValueError) as error:
            raise EvidenceError(
                [
                    Problem(
                        "store", None, shown, "url", shown, f"cannot open the database: {self._short(error)}"
                    )
                ]
            ) from None

    @classmethod
    def open(cls, url: str | os.PathLike | None = None, *, bootstrap: bool = True) -> Store:
        """Open (creating if needed) the store. With ``bootstrap``, a new store is loaded with the bundled
        dataset, and a store made from an older bundle is brought to this stemdm's (``evidence.bundled``:
        bundled records only, user records win; once, even when several processes open it at the same
        moment). What that did is in ``store.bundled_update`` (None: nothing to do)."""
        store = cls(url)
        if bootstrap:
            try:
                store.bundled_update = store.follow_bundle()
            except SQLAlchemyError as error:
                raise EvidenceError(
                    [Problem("store", None, redact_url(store.url), "bundled", None,
                             f"bundled evidence not loaded (rolled back): {store._short(error)}")]
                ) from None  # fmt: skip
        return store

    def is_empty(self) -> bool:
        with self.engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(imports_table)).scalar_one() == 0

    def _create_schema(self) -> None:
        """Migrate the store to the newest schema version under the write lock (once, however many processes
        race; ``stemdm.db.migrate``); a store already at the newest version is opened without taking the
        lock, so opening never waits for a writer."""
        from stemdm.db.migrate import is_current, upgrade

        with self.engine.connect() as connection:
            if is_current(connection):
                return
        with self._writing() as connection:
            if not is_current(connection):  # another process may have migrated it meanwhile
                upgrade(connection, repair_legacy)

    def _writing(self):
        """A transaction holding the store's write lock (advisory lock / BEGIN IMMEDIATE)."""
        return write_transaction(self.engine)

    def _short(self, error: BaseException) -> str:
        """The first line of a driver's message, without any fragment of the URL's password."""
        message = str(error).strip()
        first = message.splitlines()[0] if message else type(error).__name__
        url = getattr(self, "url", None)
        return redact_text(first, url)[:300] if url else first[:300]

    # -- reading -------------------------------------------------------------------------------------------

    def load(self, *, strict: bool = True) -> EvidenceBundle:
        """Every record in the store, in natural-key order (one consistent snapshot).

        A record stored before the current rules (a range, a control character) no longer validates:
        ``strict`` raises :class:`EvidenceError` naming each such record; ``strict=False`` returns them as
        stored, so that they can be exported, corrected and re-imported."""
        with self.engine.connect() as connection, connection.begin():
            bundle, problems = _load(connection)
        if problems and strict:
            raise EvidenceError(
                problems, "stored records fail the current rules (export them, correct, re-import)"
            )
        return bundle

    def snapshot(self) -> EvidenceBundle:
        """``load(strict=False)``, reused while the store is unchanged: every write adds audit rows, so the
        newest audit id is the store's version (one cheap query instead of re-validating every record; a
        server answering many reads at once needs it). The bundle is shared: do not modify it."""
        with self.engine.connect() as connection:
            version = connection.execute(select(func.max(audit_table.c.id))).scalar()
        with self._snapshot_lock:
            cached = self._snapshot
        if cached is not None and cached[0] == version:
            return cached[1]
        bundle = self.load(strict=False)
        with self._snapshot_lock:
            self._snapshot = (version, bundle)
        return bundle

    def history(self, limit: int | None = None, since_import: int | None = None) -> list[dict[str, Any]]:
        """Audit rows, newest first: when, source, record, action, field, old and new values."""
        query = select(audit_table).order_by(audit_table.c.id.desc())
        if since_import is not None:
            query = query.where(audit_table.c.import_id > since_import)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as connection:
            return [dict(row) for row in connection.execute(query).mappings()]

    def imports(self) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            return [
                dict(row)
                for row in connection.execute(select(imports_table).order_by(imports_table.c.id)).mappings()
            ]

    def last_writers(self, connection: Connection | None = None) -> dict[tuple[str, str], str]:
        """The source of the last audit row that wrote each record present, by (record type, natural key):
        ``bundled:...`` marks a bundled record, anything else is the user's (``evidence.bundled``)."""
        latest = (
            select(func.max(audit_table.c.id).label("id"))
            .group_by(audit_table.c.record_type, audit_table.c.natural_key)
            .subquery()
        )
        query = select(
            audit_table.c.record_type, audit_table.c.natural_key, audit_table.c.source, audit_table.c.action
        ).join(latest, audit_table.c.id == latest.c.id)
        if connection is None:
            with self.engine.connect() as own:
                rows = own.execute(query).all()
        else:
            rows = connection.execute(query).all()
        return {(r.record_type, r.natural_key): r.source for r in rows if r.action != "delete"}

    def status(self) -> dict[str, Any]:
        """What ``stemdm evidence status`` shows: the store (password hidden), its schema version, the
        bundled dataset it follows, records per type (bundled / yours) and the last change."""
        from stemdm.db.migrate import current_revision, head_revision

        counts = self.load(strict=False).count()
        with self.engine.connect() as connection:
            state = read_state(connection)
            revision = current_revision(connection)
        owners = self.last_writers()
        last = next(iter(self.history(limit=1)), None)
        bundled = Counter(
            kind for (kind, _key), source in owners.items() if source.startswith(BUNDLED_PREFIX)
        )
        made_from_bundle = bool(bundled)
        newest = head_revision()
        return {
            "store": redact_url(self.url),
            "schema": {"revision": revision, "newest": newest, "current": revision == newest},
            "bundled": {
                "follows": state.get("bundled_version"),
                "this_stemdm": bundle_version(),
                "status": pending(state, made_from_bundle, self.is_empty()),
                "recorded_at": state.get("bundled_version@"),
            },
            "records": {
                kind: {"total": n, "bundled": bundled.get(kind, 0), "yours": n - bundled.get(kind, 0)}
                for kind, n in counts.items()
            },
            "last_change": None if last is None else {
                "at": str(last["at"]), "source": last["source"], "record_type": last["record_type"],
                "natural_key": last["natural_key"], "action": last["action"],
            },
        }  # fmt: skip

    # -- writing -------------------------------------------------------------------------------------------

    def import_bundle(
        self,
        bundle: EvidenceBundle,
        source: str,
        problems: list[Problem] | None = None,
    ) -> ImportReport:
        """Validate and import ``bundle`` in one locked transaction (see the module docstring): the store is
        read, checked against and written under the same lock, so a concurrent import is never lost.
        ``problems`` are those the reader already found (they count too). Raises :class:`EvidenceError`
        listing every error, having changed nothing."""
        try:
            with self._writing() as connection:
                return self.import_within(connection, bundle, source, problems)
        except SQLAlchemyError as error:
            raise EvidenceError(
                [
                    Problem(
                        "store", None, redact_url(self.url), "database", None,
                        f"import rolled back: {self._short(error)}",
                    )
                ]
            ) from None  # fmt: skip

    def import_within(
        self,
        connection: Connection,
        bundle: EvidenceBundle,
        source: str,
        problems: list[Problem] | None = None,
    ) -> ImportReport:
        """:meth:`import_bundle` inside a transaction the caller holds with the write lock
        (``write_transaction`` on this database): a workbench reconciliation claims its slot and imports the
        value in one transaction, so a crash can never leave one without the other."""
        problems = list(problems or [])
        report = ImportReport(source)
        source = redact_url(source)
        existing, _stale = _load(connection)  # stale records may be corrected by this import
        problems += check_bundle(bundle, existing)
        if any(p.severity == "error" for p in problems):
            raise EvidenceError(problems, f"import of {source}")
        report.warnings = [p for p in problems if p.severity == "warning"]
        stored = {kind: {r.natural_key(): r for r in recs} for kind, recs in existing.records.items()}
        self._write(connection, bundle, stored, report, source)
        return report

    def follow_bundle(self) -> BundledUpdate | None:
        """Bring the store to this stemdm's bundled dataset (``evidence.bundled``: bundled records only, user
        records win, one locked transaction through the import path). None: it already follows it, or was
        never made from the bundle."""
        with self.engine.connect() as connection:
            if read_state(connection).get("bundled_sha256") == bundle_sha256():
                return None  # the usual case: one query, no lock
        with self._writing() as connection:
            return self._follow_locked(connection)

    def _follow_locked(self, connection: Connection) -> BundledUpdate | None:
        state = read_state(connection)
        owners = self.last_writers(connection)
        made_from_bundle = any(source.startswith(BUNDLED_PREFIX) for source in owners.values())
        status = pending(state, made_from_bundle, empty=not _count_imports(connection))
        if status in ("current", "none"):
            return None  # brought here meanwhile by another process, or the user's own store
        previous = state.get("bundled_version") or ("unrecorded" if made_from_bundle else None)
        report = BundledUpdate(bundle_version(), previous)
        if status == "newer":
            report.newer, report.previous = True, state["bundled_stemdm"]
            return report
        existing, _stale = _load(connection)
        incoming, removals = plan_update(load_bundled(), existing, owners, report)
        remaining = _without(existing, removals)
        report.problems = [p for p in check_bundle(incoming, remaining) if p.severity == "error"]
        if report.problems:
            report.applied = False
            return report
        stored = {kind: {r.natural_key(): r for r in recs} for kind, recs in remaining.records.items()}
        written = ImportReport(BUNDLED_SOURCE)
        self._write(connection, incoming, stored, written, BUNDLED_SOURCE, removals)
        report.added, report.changed = written.inserted_by_kind, written.updated_by_kind
        report.removed = Counter(record.kind for record in removals)
        write_state(
            connection,
            {
                "bundled_sha256": bundle_sha256(),
                "bundled_version": bundle_version(),
                "bundled_stemdm": __version__,
            },
        )
        return report

    def _write(
        self,
        connection: Connection,
        bundle: EvidenceBundle,
        stored: dict,
        report: ImportReport,
        source: str,
        removals: list[Record] = (),
    ) -> None:
        now = datetime.now(UTC)
        import_id = connection.execute(
            insert(imports_table).values(
                at=now, source=source, sha256=_fingerprint(bundle), inserted=0, updated=0, unchanged=0,
                stemdm_version=__version__,
            )
        ).inserted_primary_key[0]  # fmt: skip
        for record in bundle.all():
            self._upsert(connection, record, stored[record.kind], report, import_id, now, source)
        for record in removals:
            self._delete(connection, record, import_id, now, source)
            report.deleted += 1
        if report.inserted or report.updated or report.deleted:
            connection.execute(
                update(imports_table)
                .where(imports_table.c.id == import_id)
                .values(inserted=report.inserted, updated=report.updated, unchanged=report.unchanged)
            )
            report.import_id = import_id
        else:
            connection.execute(imports_table.delete().where(imports_table.c.id == import_id))

    def _delete(self, connection, record: Record, import_id: int, now: datetime, source: str) -> None:
        table, key = RECORD_TABLES[record.kind], record.natural_key()
        connection.execute(table.delete().where(table.c.natural_key == key))
        connection.execute(
            insert(audit_table).values(
                import_id=import_id, at=now, source=source, record_type=record.kind, natural_key=key,
                action="delete", field=None, old_value=_json_value(record.model_dump(mode="json")),
                new_value=None,
            )
        )  # fmt: skip

    def _upsert(
        self,
        connection,
        record: Record,
        stored: dict[str, Record],
        report: ImportReport,
        import_id: int,
        now: datetime,
        source: str,
    ) -> None:
        table = RECORD_TABLES[record.kind]
        key = record.natural_key()
        new = record.model_dump(mode="json")
        audit = {
            "import_id": import_id,
            "at": now,
            "source": source,
            "record_type": record.kind,
            "natural_key": key,
        }
        old_record = stored.get(key)
        if old_record is None:
            connection.execute(insert(table).values(natural_key=key, **new))
            connection.execute(
                insert(audit_table).values(
                    **audit, action="insert", field=None, old_value=None, new_value=_json_value(new)
                )
            )
            report.inserted += 1
            report.inserted_by_kind[record.kind] += 1
            return
        old = old_record.model_dump(mode="json")
        changed = {name: value for name, value in new.items() if old.get(name) != value}
        if not changed:
            report.unchanged += 1
            return
        connection.execute(update(table).where(table.c.natural_key == key).values(**changed))
        for name, value in changed.items():
            connection.execute(
                insert(audit_table).values(
                    **audit,
                    action="update",
                    field=name,
                    old_value=_json_value(old.get(name)),
                    new_value=_json_value(value),
                )
            )
        report.updated += 1
        report.updated_by_kind[record.kind] += 1


def _load(connection: Connection) -> tuple[EvidenceBundle, list[Problem]]:
    """The stored records, and a problem for each one the current record rules refuse (kept as stored)."""
    bundle, problems = EvidenceBundle(), []
    for model in RECORD_TYPES:
        table = RECORD_TABLES[model.kind]
        for row in connection.execute(select(table).order_by(table.c.natural_key)).mappings():
            data = {name: row[name] for name in model.model_fields if row[name] is not None}
            try:
                bundle.add(model.model_validate(data))
            except ValidationError as error:
                bundle.add(model.model_construct(**_as_stored(model, data)))
                problems += validation_problems(model.kind, None, row["natural_key"], error)
    return bundle, problems


def _as_stored(model: type[Record], data: dict[str, Any]) -> dict[str, Any]:
    """Field values typed as the model declares them, without its checks (numbers in optional fields sit in
    TEXT columns of stores made so far: see ``_column_type``)."""
    typed = {}
    for name, value in data.items():
        kind = _base_type(model.model_fields[name].annotation)
        try:
            typed[name] = kind(value) if kind in (int, float) and isinstance(value, str) else value
        except ValueError:
            typed[name] = value
    return typed


def _base_type(annotation: Any) -> Any:
    """int, float, str, bool or list behind Optional / Annotated."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return _base_type(next(a for a in typing.get_args(annotation) if a is not type(None)))
    if origin is typing.Annotated:
        return _base_type(typing.get_args(annotation)[0])
    return origin or annotation


def _count_imports(connection: Connection) -> int:
    return connection.execute(select(func.count()).select_from(imports_table)).scalar_one()


def _without(bundle: EvidenceBundle, removals: list[Record]) -> EvidenceBundle:
    gone = {(r.kind, r.natural_key()) for r in removals}
    out = EvidenceBundle()
    for record in bundle.all():
        if (record.kind, record.natural_key()) not in gone:
            out.add(record)
    return out

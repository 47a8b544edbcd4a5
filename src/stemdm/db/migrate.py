"""Schema versions of the shared database, by Alembic migrations shipped in the package
(``stemdm/db/migrations/versions``).

- ``upgrade(connection)`` brings a store to the newest version inside the caller's transaction, which holds
  the store's write lock (``Store._writing``): two processes opening a new store at once migrate it once.
- A store made before migrations existed (stemdm 0.1.0: tables but no ``alembic_version``) first gets any
  table or column that version added later (additive only, as 0.1.0 did on open), is then stamped at the
  baseline ``0001_evidence`` and upgraded from there: nothing in it is lost.
- A change to a record model or a table needs a new migration in ``versions/``; a test compares the migrated
  schema with the models, so a forgotten migration fails ``make test``.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

BASELINE = "0001_evidence"


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("stemdm.db") / "migrations"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest schema version this stemdm knows."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None  # the package ships at least the baseline
    return head


def current_revision(connection: Connection) -> str | None:
    """The store's schema version (None: new, or made before migrations existed)."""
    return MigrationContext.configure(connection).get_current_revision()


def is_current(connection: Connection) -> bool:
    return current_revision(connection) == head_revision()


def upgrade(connection: Connection, repair_legacy: Callable[[Connection], None]) -> str:
    """Migrate the store on ``connection`` (inside the caller's locked transaction) to the newest version;
    ``repair_legacy`` completes a store made before migrations to the baseline (the evidence store passes
    its own, so this module does not depend on it). Returns the version it is at."""
    tables = set(inspect(connection).get_table_names())
    if current_revision(connection) is None and "imports" in tables:
        # made by stemdm 0.1.0 before migrations: complete it to the baseline, then stamp it there
        repair_legacy(connection)
        command.stamp(_config(connection), BASELINE)
    command.upgrade(_config(connection), "head")
    return head_revision()

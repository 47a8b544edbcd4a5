"""Schema migrations (issue 11): a new store is built by the migrations alone and matches the models; a
store made by stemdm 0.1.0 before migrations existed upgrades without losing a record (SQLite and, when a
server is given, PostgreSQL)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, inspect, text

from stemdm.db.migrate import BASELINE, current_revision, head_revision
from stemdm.evidence.bundled import load_bundled, state_metadata
from stemdm.evidence.store import Store
from stemdm.evidence.store import metadata as evidence_metadata
from stemdm.web.tables import metadata as web_metadata


def _models() -> MetaData:
    combined = MetaData()
    tables = [
        *evidence_metadata.tables.values(),
        *state_metadata.tables.values(),
        *web_metadata.tables.values(),
    ]
    for table in tables:
        table.to_metadata(combined)
    return combined


def test_migrated_schema_matches_the_models(store_url):
    """A table or column added to a model without a migration shows up here as a difference."""
    store = Store.open(store_url, bootstrap=False)
    with store.engine.connect() as connection:
        assert current_revision(connection) == head_revision()
        differences = compare_metadata(MigrationContext.configure(connection), _models())
    assert differences == []


def test_a_store_made_before_migrations_upgrades_without_loss(store_url):
    """stemdm 0.1.0 made its tables from the models on open (no alembic_version). Such a store, holding the
    bundled evidence, is stamped at the baseline and upgraded: every record is still there and the web
    tables exist."""
    bundle = load_bundled()
    store = Store.open(store_url, bootstrap=False)
    store.import_bundle(bundle, "as made by 0.1.0")
    with store.engine.begin() as connection:  # back to what 0.1.0 left: no version table, no web tables
        for name in [*web_metadata.tables, *state_metadata.tables, "alembic_version"]:
            connection.execute(text(f'DROP TABLE "{name}" CASCADE' if connection.dialect.name == "postgresql"
                                    else f'DROP TABLE "{name}"'))  # fmt: skip
    store.engine.dispose()
    with Store(store_url).engine.connect() as connection:
        assert current_revision(connection) == head_revision() != BASELINE
        assert set(web_metadata.tables) <= set(inspect(connection).get_table_names())
    again = Store.open(store_url).load()
    for kind, records in bundle.records.items():
        assert sorted(r.natural_key() for r in again[kind]) == sorted(r.natural_key() for r in records), kind

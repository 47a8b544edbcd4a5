"""Alembic environment: migrations run on the connection ``stemdm.db.migrate`` hands over (already inside
the store's write-locked transaction), never on a URL of their own."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=context.config.attributes.get("metadata"))
with context.begin_transaction():
    context.run_migrations()

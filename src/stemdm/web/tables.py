"""Tables of the web workbench, in the same database as the evidence store (migration ``0002_web``).

- ``users``: accounts with a role (admin, reviewer, viewer) and an Argon2 password hash.
- ``api_tokens``: SHA-256 of each API token (the token itself is shown once, never stored).
- ``login_failures``: failed sign-ins by account and client, for throttling across server processes.
- ``extractions``: one reviewer's entry of one measurement (the record's fields as JSON), keyed by the
  measurement's natural key (its "slot"); ``version`` rises with each save (optimistic concurrency).
- ``reconciliations``: the value accepted for a slot after double extraction, and the import that put it in
  the evidence base.
- ``web_audit``: every change made through the workbench: who, when, what, before and after.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

ROLES = ("admin", "reviewer", "viewer")

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True)),  # 0005: None = made before tokens expired
    Column("revoked_at", DateTime(timezone=True)),  # 0005
)

#: server-side sign-in sessions (migration 0005_sessions): the cookie holds a random id whose SHA-256 is
#: kept here, so that sign-out, a password change or a deactivation ends every copy of the cookie
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_sha256", String(64), nullable=False, unique=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),  # absolute: never extended
    Column("ended_at", DateTime(timezone=True)),
    Column("ended_why", String(32)),
    Index("ix_web_sessions_user", "user_id"),
)

login_failures = Table(
    "login_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account", String(64), nullable=False),
    Column("client", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_login_failures_account_at", "account", "at"),
    Index("ix_login_failures_client_at", "client", "at"),
)

extractions = Table(
    "extractions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("trial_id", Text, nullable=False),
    Column("slot", String(400), nullable=False),
    Column("reviewer_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("record", Text, nullable=False),
    Column("conversions", Text),
    Column("version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("slot", "reviewer_id", name="uq_extractions_slot_reviewer"),
    Index("ix_extractions_trial", "trial_id"),
)

reconciliations = Table(
    "reconciliations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("trial_id", Text, nullable=False),
    Column("slot", String(400), nullable=False, unique=True),
    Column("reconciler_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("chosen_extraction_id", Integer, ForeignKey("extractions.id")),
    Column("record", Text, nullable=False),
    Column("import_id", Integer),
    Column("version", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

web_audit = Table(
    "web_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("user_name", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("object_type", String(32), nullable=False),
    Column("object_id", Text, nullable=False),
    Column("field", String(64)),
    Column("before", Text),
    Column("after", Text),
)

#: background runs started from the workbench or the API: reviews and in-silico trials (migration 0003_jobs)
jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # review | simulation
    Column("status", String(16), nullable=False),  # queued | running | done | failed | cancelled
    Column("progress", Float, nullable=False),  # 0-1
    Column("params", Text, nullable=False),  # the protocol or design, as JSON
    Column("lang", String(8), nullable=False),
    Column("data_version", Integer),  # the evidence store's newest audit id when the run started
    Column("result", Text),  # the JSON the CLI's --json prints
    Column("error", Text),
    Column("created_by", Integer, ForeignKey("users.id"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("run_key", String(32)),  # 0005: the run's folder (ids can repeat after a restore)
    Column("heartbeat_at", DateTime(timezone=True)),  # 0005: last sign of life of its worker
    Index("ix_jobs_kind_created", "kind", "created_at"),
    UniqueConstraint("run_key", name="uq_jobs_run_key"),
)

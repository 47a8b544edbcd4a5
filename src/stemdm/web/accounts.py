"""Accounts, API tokens, sign-in throttling and the server's secret key.

- Passwords are hashed with Argon2 (pwdlib's recommended settings); a password is never stored or printed.
- An API token is 32 random bytes (URL-safe text) shown once; the database keeps its SHA-256 only, so a
  stolen database does not yield working tokens.
- Sign-in failures are counted in the database (so every server process sees them): more than
  ``MAX_FAILURES`` in ``WINDOW_S`` seconds for one account, or from one client, refuses further attempts
  with HTTP 429 until the window has passed.
- The secret key that signs session cookies is generated on first run into the data directory (mode 0600),
  never in the repository.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pwdlib import PasswordHash
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from stemdm.evidence.store import write_transaction
from stemdm.paths import data_dir
from stemdm.web.tables import ROLES, api_tokens, login_failures, users, web_audit

MAX_FAILURES = 10
WINDOW_S = 60
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MIN_PASSWORD = 10

_hasher = PasswordHash.recommended()


class AccountError(ValueError):
    """A refused account operation, with a message that names the field."""


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str

    def can_write(self) -> bool:
        return self.role in ("admin", "reviewer")


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name or ""):
        raise AccountError(
            "name: 1-64 characters, letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return name


def add_user(engine: Engine, name: str, role: str, password: str, by: str = "cli") -> User:
    """Create an account; the password (at least ``MIN_PASSWORD`` characters) is stored as an Argon2 hash."""
    check_name(name)
    if role not in ROLES:
        raise AccountError(f"role: {role!r}; use one of {', '.join(ROLES)}")
    if len(password or "") < MIN_PASSWORD:
        raise AccountError(f"password: at least {MIN_PASSWORD} characters")
    now = datetime.now(UTC)
    try:
        with write_transaction(engine) as connection:
            user_id = connection.execute(
                insert(users).values(
                    name=name, role=role, password_hash=_hasher.hash(password), active=True, created_at=now
                )
            ).inserted_primary_key[0]
            connection.execute(
                insert(web_audit).values(
                    at=now, user_name=by, action="add_user", object_type="user", object_id=name,
                    field="role", before=None, after=role,
                )
            )  # fmt: skip
    except IntegrityError:
        raise AccountError(f"name: an account named {name!r} already exists") from None
    return User(user_id, name, role)


def find_user(engine: Engine, name: str) -> User | None:
    with engine.connect() as connection:
        row = connection.execute(select(users).where(users.c.name == name, users.c.active)).mappings().first()
    return None if row is None else User(row["id"], row["name"], row["role"])


def user_by_id(engine: Engine, user_id: int) -> User | None:
    with engine.connect() as connection:
        row = (
            connection.execute(select(users).where(users.c.id == user_id, users.c.active)).mappings().first()
        )
    return None if row is None else User(row["id"], row["name"], row["role"])


def verify_password(engine: Engine, name: str, password: str) -> User | None:
    """The account when the password is right, else None (the same work either way: no timing oracle on
    whether the account exists)."""
    with engine.connect() as connection:
        row = connection.execute(select(users).where(users.c.name == name, users.c.active)).mappings().first()
    if row is None:
        _hasher.verify(password or "", _DUMMY_HASH)
        return None
    if not _hasher.verify(password or "", row["password_hash"]):
        return None
    return User(row["id"], row["name"], row["role"])


_DUMMY_HASH = _hasher.hash("not a password of anyone")


def new_token(engine: Engine, name: str) -> str:
    """A new API token for the account (printed once; only its SHA-256 is kept)."""
    user = find_user(engine, name)
    if user is None:
        raise AccountError(f"name: no active account named {name!r}")
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with write_transaction(engine) as connection:
        connection.execute(
            insert(api_tokens).values(user_id=user.id, token_sha256=_sha256(token), created_at=now)
        )
        connection.execute(
            insert(web_audit).values(
                at=now, user_name="cli", action="new_token", object_type="user", object_id=name,
                field=None, before=None, after=None,
            )
        )  # fmt: skip
    return token


def user_for_token(engine: Engine, token: str) -> User | None:
    with engine.connect() as connection:
        row = (
            connection.execute(
                select(users)
                .join(api_tokens, api_tokens.c.user_id == users.c.id)
                .where(api_tokens.c.token_sha256 == _sha256(token), users.c.active)
            )
            .mappings()
            .first()
        )
    return None if row is None else User(row["id"], row["name"], row["role"])


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# -- throttling ------------------------------------------------------------------------


def throttled(engine: Engine, account: str, client: str) -> bool:
    """Whether this account or this client has used up its failed sign-ins in the current window."""
    since = datetime.now(UTC) - timedelta(seconds=WINDOW_S)
    with engine.connect() as connection:
        by_account = connection.execute(
            select(func.count()).where(login_failures.c.account == account[:64], login_failures.c.at > since)
        ).scalar_one()
        by_client = connection.execute(
            select(func.count()).where(login_failures.c.client == client[:64], login_failures.c.at > since)
        ).scalar_one()
    return by_account >= MAX_FAILURES or by_client >= MAX_FAILURES


def record_failure(engine: Engine, account: str, client: str) -> None:
    now = datetime.now(UTC)
    with write_transaction(engine) as connection:
        connection.execute(insert(login_failures).values(account=account[:64], client=client[:64], at=now))
        # failures older than a day say nothing any more
        connection.execute(delete(login_failures).where(login_failures.c.at < now - timedelta(days=1)))


def deactivate(engine: Engine, name: str, by: str = "cli") -> None:
    with write_transaction(engine) as connection:
        done = connection.execute(update(users).where(users.c.name == name).values(active=False)).rowcount
        if not done:
            raise AccountError(f"name: no account named {name!r}")
        connection.execute(
            insert(web_audit).values(
                at=datetime.now(UTC), user_name=by, action="deactivate", object_type="user", object_id=name,
                field="active", before="true", after="false",
            )
        )  # fmt: skip


# -- the secret key ------------------------------------------------------------------------


def secret_key(directory: Path | None = None) -> str:
    """The server's signing key: read from ``secret_key`` in the data directory, created there on first run
    (readable by its owner only). Several server processes share the file."""
    folder = directory or data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "secret_key"
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_text(encoding="ascii").strip()
        if len(key) < 32:
            raise AccountError(
                f"{path}: the secret key is too short; delete the file to make a new one"
            ) from None
        return key
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(secrets.token_urlsafe(48))
    return path.read_text(encoding="ascii").strip()

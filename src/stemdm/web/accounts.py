"""Accounts, API tokens, sign-in throttling and the server's secret key.

- Passwords are hashed with Argon2 (pwdlib's recommended settings); a password is never stored or printed.
- An API token is 32 random bytes (URL-safe text) shown once; the database keeps its SHA-256 only, so a
  stolen database does not yield working tokens.
- Passwords follow OWASP ASVS 4.0 2.1: 12 to 128 characters, refused when common or guessable (zxcvbn's
  30,000 common passwords, dictionaries and patterns: score below 2 of 4) or containing the account name.
- Sign-in sessions are server-side (``web_sessions``): the cookie holds a random id, and sign-out, a
  password change or a deactivation ends every copy of it; a session lasts ``SESSION_HOURS`` from sign-in,
  never extended (ASVS 3.3.1, 3.3.2).
- API tokens expire (``TOKEN_DAYS`` by default) and can be revoked.
- Sign-in failures are counted in the database (so every server process sees them). Refused with HTTP 429
  for the window: ``MAX_FAILURES`` for one account *from one client*, or ``MAX_CLIENT_FAILURES`` from one
  client over all accounts. Failures on an account from many clients only slow its sign-in down
  (``slowdown_s``), so nobody can lock a user out (ASVS 2.2.1). The client address is the peer's, or the
  forwarded one only from proxies named with ``stemdm serve --forwarded-allow-ips``.
- The secret key that signs session cookies is generated on first run into the data directory (mode 0600),
  never in the repository.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import stat
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pwdlib import PasswordHash
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from stemdm.evidence.store import write_transaction
from stemdm.paths import data_dir
from stemdm.web.tables import ROLES, api_tokens, login_failures, users, web_audit, web_sessions

MAX_FAILURES = 10
MAX_CLIENT_FAILURES = 30
WINDOW_S = 60
#: the longest slow-down of a sign-in to an account under attack from many clients (seconds)
MAX_SLOWDOWN_S = 3.0
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MIN_PASSWORD = 12
MAX_PASSWORD = 128
#: hours a sign-in session lasts, from sign-in (absolute)
SESSION_HOURS = 8
#: days an API token lasts unless ``--days`` says otherwise
TOKEN_DAYS = 90

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
    """Create an account; the password (``check_password``) is stored as an Argon2 hash."""
    check_name(name)
    if role not in ROLES:
        raise AccountError(f"role: {role!r}; use one of {', '.join(ROLES)}")
    check_password(password, name)
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


def check_password(password: str, name: str = "") -> str:
    """The password if OWASP ASVS 2.1 allows it (12-128 characters, not common or guessable by zxcvbn,
    not containing the account name), else :class:`AccountError` saying why."""
    from zxcvbn import zxcvbn

    password = password or ""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password: at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"password: at most {MAX_PASSWORD} characters")
    if name and name.lower() in password.lower():
        raise AccountError("password: must not contain the account name")
    verdict = zxcvbn(password[:100], user_inputs=[name, "stemdm"] if name else ["stemdm"])
    if verdict["score"] < 2:
        hint = verdict["feedback"].get("warning") or "it is a common or easily guessed password"
        raise AccountError(f"password: too easy to guess ({hint.rstrip('.')}); choose a longer passphrase")
    return password


def set_password(engine: Engine, name: str, password: str, by: str = "cli") -> None:
    """Change an account's password; every sign-in session of the account ends."""
    check_password(password, name)
    now = datetime.now(UTC)
    with write_transaction(engine) as connection:
        row = connection.execute(select(users.c.id).where(users.c.name == name)).first()
        if row is None:
            raise AccountError(f"name: no account named {name!r}")
        connection.execute(
            update(users).where(users.c.id == row.id).values(password_hash=_hasher.hash(password))
        )
        _end_sessions(connection, row.id, "password_changed", now)
        _audit_account(connection, now, by, "passwd", name, None, None, None)


def list_users(engine: Engine) -> list[dict]:
    """Every account: name, role, active, created, open sessions and live tokens (no secrets)."""
    now = datetime.now(UTC)
    with engine.connect() as connection:
        rows = connection.execute(select(users).order_by(users.c.name)).mappings().all()
        sessions = (
            connection.execute(select(web_sessions).where(web_sessions.c.ended_at.is_(None))).mappings().all()
        )
        tokens = (
            connection.execute(select(api_tokens).where(api_tokens.c.revoked_at.is_(None))).mappings().all()
        )
    out = []
    for row in rows:
        live = [t for t in tokens if t["user_id"] == row["id"] and not _expired(t["expires_at"], now)]
        open_ = [x for x in sessions if x["user_id"] == row["id"] and not _expired(x["expires_at"], now)]
        out.append({"name": row["name"], "role": row["role"], "active": bool(row["active"]),
                    "created_at": str(row["created_at"])[:19], "sessions": len(open_),
                    "tokens": len(live)})  # fmt: skip
    return out


def find_user(engine: Engine, name: str) -> User | None:
    with engine.connect() as connection:
        row = connection.execute(select(users).where(users.c.name == name, users.c.active)).mappings().first()
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


def new_token(engine: Engine, name: str, days: int = TOKEN_DAYS) -> str:
    """A new API token for the account, valid ``days`` days (printed once; only its SHA-256 is kept)."""
    user = find_user(engine, name)
    if user is None:
        raise AccountError(f"name: no active account named {name!r}")
    if not 1 <= days <= 3660:
        raise AccountError("--days: 1 to 3660")
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with write_transaction(engine) as connection:
        connection.execute(
            insert(api_tokens).values(
                user_id=user.id,
                token_sha256=_sha256(token),
                created_at=now,
                expires_at=now + timedelta(days=days),
            )
        )
        _audit_account(
            connection,
            now,
            "cli",
            "new_token",
            name,
            "expires_at",
            None,
            str(now + timedelta(days=days))[:19],
        )
    return token


def tokens_of(engine: Engine, name: str) -> list[dict]:
    """The account's tokens: id, created, expires, revoked (never the token)."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(api_tokens).join(users, users.c.id == api_tokens.c.user_id).where(users.c.name == name)
            .order_by(api_tokens.c.id)
        ).mappings().all()  # fmt: skip
    return [{"id": r["id"], "created_at": str(r["created_at"])[:19],
             "expires_at": str(r["expires_at"] or "never")[:19],
             "revoked_at": None if r["revoked_at"] is None else str(r["revoked_at"])[:19]}
            for r in rows]  # fmt: skip


def revoke_token(engine: Engine, name: str, token_id: int | None = None, by: str = "cli") -> int:
    """Revoke one token of the account (``token_id``) or all of them; returns how many were revoked."""
    now = datetime.now(UTC)
    with write_transaction(engine) as connection:
        row = connection.execute(select(users.c.id).where(users.c.name == name)).first()
        if row is None:
            raise AccountError(f"name: no account named {name!r}")
        query = update(api_tokens).where(api_tokens.c.user_id == row.id, api_tokens.c.revoked_at.is_(None))
        if token_id is not None:
            query = query.where(api_tokens.c.id == token_id)
        done = connection.execute(query.values(revoked_at=now)).rowcount
        if token_id is not None and not done:
            raise AccountError(f"--id: {name} has no live token {token_id}")
        _audit_account(connection, now, by, "revoke_token", name, "token", str(token_id or "all"), None)
    return done


def user_for_token(engine: Engine, token: str) -> User | None:
    """The active account of a live (unexpired, unrevoked) token."""
    with engine.connect() as connection:
        row = connection.execute(
            select(users.c.id, users.c.name, users.c.role, api_tokens.c.expires_at)
            .join(api_tokens, api_tokens.c.user_id == users.c.id)
            .where(api_tokens.c.token_sha256 == _sha256(token), users.c.active,
                   api_tokens.c.revoked_at.is_(None))
        ).mappings().first()  # fmt: skip
    if row is None or _expired(row["expires_at"], datetime.now(UTC)):
        return None
    return User(row["id"], row["name"], row["role"])


# -- sign-in sessions ------------------------------------------------------------------------


def start_session(engine: Engine, user: User) -> str:
    """A new sign-in session for ``user``: the random id for the cookie (only its SHA-256 is kept)."""
    session_id = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with write_transaction(engine) as connection:
        connection.execute(
            insert(web_sessions).values(
                session_sha256=_sha256(session_id), user_id=user.id, created_at=now,
                expires_at=now + timedelta(hours=SESSION_HOURS),
            )
        )  # fmt: skip
        # sessions ended or expired more than a day ago say nothing any more
        connection.execute(delete(web_sessions).where(web_sessions.c.expires_at < now - timedelta(days=1)))
    return session_id


def session_user(engine: Engine, session_id: str | None) -> User | None:
    """The active account of a live session (not ended, not past its absolute lifetime), else None."""
    if not session_id:
        return None
    with engine.connect() as connection:
        row = connection.execute(
            select(users.c.id, users.c.name, users.c.role, web_sessions.c.expires_at)
            .join(web_sessions, web_sessions.c.user_id == users.c.id)
            .where(web_sessions.c.session_sha256 == _sha256(str(session_id)),
                   web_sessions.c.ended_at.is_(None), users.c.active)
        ).mappings().first()  # fmt: skip
    if row is None or _expired(row["expires_at"], datetime.now(UTC)):
        return None
    return User(row["id"], row["name"], row["role"])


def end_session(engine: Engine, session_id: str | None, why: str = "signed_out") -> None:
    if not session_id:
        return
    with write_transaction(engine) as connection:
        connection.execute(
            update(web_sessions)
            .where(
                web_sessions.c.session_sha256 == _sha256(str(session_id)), web_sessions.c.ended_at.is_(None)
            )
            .values(ended_at=datetime.now(UTC), ended_why=why)
        )


def _end_sessions(connection, user_id: int, why: str, now: datetime) -> None:
    connection.execute(
        update(web_sessions)
        .where(web_sessions.c.user_id == user_id, web_sessions.c.ended_at.is_(None))
        .values(ended_at=now, ended_why=why)
    )


def _expired(at: datetime | None, now: datetime) -> bool:
    """Whether ``at`` (None: never) is past; SQLite returns naive datetimes, which are UTC here."""
    if at is None:
        return False
    return (at if at.tzinfo else at.replace(tzinfo=UTC)) <= now


def _audit_account(connection, at, by: str, action: str, name: str, field, before, after) -> None:
    connection.execute(
        insert(web_audit).values(
            at=at, user_name=by, action=action, object_type="user", object_id=name, field=field,
            before=before, after=after,
        )
    )  # fmt: skip


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# -- throttling ------------------------------------------------------------------------


def throttled(engine: Engine, account: str, client: str) -> bool:
    """Whether this client has used up its failed sign-ins in the current window: ``MAX_FAILURES`` on this
    account, or ``MAX_CLIENT_FAILURES`` over all accounts. Other clients are never refused for it."""
    since = datetime.now(UTC) - timedelta(seconds=WINDOW_S)
    with engine.connect() as connection:
        pair = connection.execute(
            select(func.count()).where(
                login_failures.c.account == account[:64], login_failures.c.client == client[:64],
                login_failures.c.at > since,
            )
        ).scalar_one()  # fmt: skip
        by_client = connection.execute(
            select(func.count()).where(login_failures.c.client == client[:64], login_failures.c.at > since)
        ).scalar_one()
    return pair >= MAX_FAILURES or by_client >= MAX_CLIENT_FAILURES


def slowdown_s(engine: Engine, account: str) -> float:
    """Seconds to wait before answering a sign-in to ``account``: grows with its failures in the window from
    all clients (a distributed guess), at most ``MAX_SLOWDOWN_S``; never a refusal."""
    since = datetime.now(UTC) - timedelta(seconds=WINDOW_S)
    with engine.connect() as connection:
        failures = connection.execute(
            select(func.count()).where(login_failures.c.account == account[:64], login_failures.c.at > since)
        ).scalar_one()
    return 0.0 if failures < MAX_FAILURES else min(MAX_SLOWDOWN_S, 0.1 * (failures - MAX_FAILURES + 1))


def record_failure(engine: Engine, account: str, client: str) -> None:
    now = datetime.now(UTC)
    with write_transaction(engine) as connection:
        connection.execute(insert(login_failures).values(account=account[:64], client=client[:64], at=now))
        # failures older than a day say nothing any more
        connection.execute(delete(login_failures).where(login_failures.c.at < now - timedelta(days=1)))


def deactivate(engine: Engine, name: str, by: str = "cli") -> None:
    with write_transaction(engine) as connection:
        row = connection.execute(select(users.c.id).where(users.c.name == name)).first()
        if row is None:
            raise AccountError(f"name: no account named {name!r}")
        connection.execute(update(users).where(users.c.id == row.id).values(active=False))
        now = datetime.now(UTC)
        _end_sessions(connection, row.id, "deactivated", now)
        connection.execute(
            update(api_tokens).where(api_tokens.c.user_id == row.id, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )  # fmt: skip
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
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(OSError):  # the key and the runs' reports are the team's, not every local user's
        os.chmod(folder, 0o700)
    path = folder / "secret_key"
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise AccountError(
                f"{path}: readable by other users (mode {mode:o}); anyone who reads it can forge sign-ins. "
                f"Run: chmod 600 {path}"
            ) from None
        key = path.read_text(encoding="ascii").strip()
        if len(key) < 32:
            raise AccountError(
                f"{path}: the secret key is too short; delete the file to make a new one"
            ) from None
        return key
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(secrets.token_urlsafe(48))
    return path.read_text(encoding="ascii").strip()

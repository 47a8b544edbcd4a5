"""Sessions that end, accounts with a life cycle, passwords per OWASP ASVS 2.1 (issue 19), on SQLite and
PostgreSQL: a copy of the cookie taken before sign-out, a password change or a deactivation no longer works;
a session ends at its absolute lifetime whatever its use; tokens expire and can be revoked; the sign-in's
password hashing runs off the event loop."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from stemdm.cli import app as cli
from stemdm.web import accounts
from stemdm.web.tables import api_tokens, web_sessions
from tests.web.conftest import PASSWORDS, client_for, csrf_of


def _copy(client):
    """Another browser holding the same cookie (a copy taken from this one)."""
    from fastapi.testclient import TestClient

    twin = TestClient(client.app)
    twin.cookies.update(client.cookies)
    return twin


def test_sign_out_ends_every_copy_of_the_session(app):
    alice = client_for(app, "alice")
    stolen = _copy(alice)
    assert stolen.get("/trials", follow_redirects=False).status_code == 200
    page = alice.get("/trials").text
    assert (
        alice.post("/logout", data={"csrf_token": csrf_of(page)}, follow_redirects=False).status_code == 303
    )
    assert stolen.get("/trials", follow_redirects=False).status_code == 303  # to /login: the copy is dead
    assert alice.get("/trials", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("ended_by", ["password", "deactivation"])
def test_a_password_change_or_deactivation_ends_sessions(app, ended_by):
    bob = client_for(app, "bob")
    assert bob.get("/trials", follow_redirects=False).status_code == 200
    if ended_by == "password":
        accounts.set_password(app.state.engine, "bob", "a brand new sentence 2026")
    else:
        accounts.deactivate(app.state.engine, "bob")
    assert bob.get("/trials", follow_redirects=False).status_code == 303


def test_a_session_ends_at_its_absolute_lifetime(app):
    alice = client_for(app, "alice")
    with app.state.engine.begin() as connection:
        connection.execute(update(web_sessions).values(expires_at=web_sessions.c.created_at))  # 8 h later
    assert alice.get("/trials", follow_redirects=False).status_code == 303


def test_the_language_chosen_before_sign_in_is_kept(app):
    from fastapi.testclient import TestClient

    client = TestClient(app)
    page = client.get("/login?lang=zh")
    form = {"csrf_token": csrf_of(page.text), "name": "alice", "password": PASSWORDS["alice"]}
    assert client.post("/login", data=form).status_code == 200
    assert '<html lang="zh' in client.get("/trials").text


def test_passwords_follow_asvs(app):
    engine = app.state.engine
    for weak, why in (
        ("short-pw-1", "at least 12"),
        ("aaaaaaaaaaaa", "too easy to guess"),
        ("password1234", "too easy to guess"),
        ("qwertyuiop12", "too easy to guess"),
        ("x" * 129, "at most 128"),
        ("mei-is-my-name-2026", "account name"),
    ):
        with pytest.raises(accounts.AccountError, match=why):
            accounts.add_user(engine, "mei", "reviewer", weak)
    accounts.add_user(engine, "mei", "reviewer", "correct horse battery staple")


def test_tokens_expire_and_can_be_revoked(app):
    engine = app.state.engine
    token = accounts.new_token(engine, "alice", days=30)
    assert accounts.user_for_token(engine, token).name == "alice"
    with engine.begin() as connection:
        connection.execute(update(api_tokens).values(expires_at=api_tokens.c.created_at))
    assert accounts.user_for_token(engine, token) is None  # expired
    fresh = accounts.new_token(engine, "alice")
    assert accounts.revoke_token(engine, "alice") == 2  # every unrevoked token, the expired one too
    assert accounts.user_for_token(engine, fresh) is None


def test_sign_in_hashes_passwords_off_the_event_loop(app, monkeypatch):
    threads = []
    real = accounts.verify_password

    def spy(*args):
        threads.append(threading.current_thread().name)
        return real(*args)

    monkeypatch.setattr(accounts, "verify_password", spy)
    client_for(app, "alice")
    assert threads and all(name != "MainThread" and "loop" not in name.lower() for name in threads), threads


def test_users_commands(store_url, monkeypatch):
    runner = CliRunner()
    monkeypatch.setenv("STEMDM_PASSWORD", "quiet maple compass 83")
    assert runner.invoke(cli, ["users", "add", "mei", "--role", "admin", "--db", store_url]).exit_code == 0
    token = runner.invoke(cli, ["users", "token", "mei", "--days", "7", "--db", store_url])
    assert token.exit_code == 0 and "valid 7 days" in token.output
    listed = runner.invoke(cli, ["users", "list", "--db", store_url])
    assert "mei" in listed.output and "tokens 1" in listed.output and "quiet maple" not in listed.output
    assert "expires" in runner.invoke(cli, ["users", "tokens", "mei", "--db", store_url]).output
    assert "revoked 1" in runner.invoke(cli, ["users", "revoke", "mei", "--db", store_url]).output
    monkeypatch.setenv("STEMDM_PASSWORD", "password1234")
    weak = runner.invoke(cli, ["users", "passwd", "mei", "--db", store_url])
    assert weak.exit_code == 2 and "too easy to guess" in weak.output
    monkeypatch.setenv("STEMDM_PASSWORD", "another long phrase 4471")
    assert runner.invoke(cli, ["users", "passwd", "mei", "--db", store_url]).exit_code == 0
    assert "deactivated" in runner.invoke(cli, ["users", "deactivate", "mei", "--db", store_url]).output
    assert "deactivated" in runner.invoke(cli, ["users", "list", "--db", store_url]).output

"""``stemdm db upgrade``, ``stemdm users add|token``: passwords from STEMDM_PASSWORD, never printed; the
token on the last line; bad input exits 2 with a message naming the field."""

from __future__ import annotations

from typer.testing import CliRunner

from stemdm.cli import app
from stemdm.db.migrate import head_revision
from stemdm.evidence.store import Store
from stemdm.web import accounts

runner = CliRunner()


def test_users_and_tokens(tmp_path, monkeypatch):
    db = str(tmp_path / "team.sqlite")
    monkeypatch.setenv("STEMDM_DATA_DIR", str(tmp_path / "data"))
    upgraded = runner.invoke(app, ["db", "upgrade", "--db", db])
    assert upgraded.exit_code == 0 and head_revision() in upgraded.output
    monkeypatch.setenv("STEMDM_PASSWORD", "quiet maple compass 83")
    added = runner.invoke(app, ["users", "add", "mei", "--role", "admin", "--db", db])
    assert added.exit_code == 0 and "quiet maple compass 83" not in added.output
    token = runner.invoke(app, ["users", "token", "mei", "--db", db])
    assert token.exit_code == 0
    value = token.output.strip().splitlines()[-1]
    engine = Store.open(db).engine
    assert accounts.user_for_token(engine, value).name == "mei"
    assert accounts.verify_password(engine, "mei", "quiet maple compass 83").role == "admin"
    for args, field in (
        (["users", "add", "mei", "--db", db], "name"),  # exists
        (["users", "add", "li", "--role", "owner", "--db", db], "role"),
        (["users", "add", "<b>x</b>", "--db", db], "name"),
        (["users", "token", "nobody", "--db", db], "name"),
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and field in result.output, (args, result.output)
        assert "Traceback" not in result.output
    monkeypatch.setenv("STEMDM_PASSWORD", "short")
    short = runner.invoke(app, ["users", "add", "li", "--db", db])
    assert short.exit_code == 2 and "password" in short.output


def test_serve_refuses_a_bad_port(tmp_path):
    result = runner.invoke(app, ["serve", "--port", "70000", "--db", str(tmp_path / "x.sqlite")])
    assert result.exit_code == 2 and "--port" in result.output

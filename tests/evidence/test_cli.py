"""``stemdm evidence ...``: JSON, real coverage, exit code 2 with row/field messages, idempotent import."""

from __future__ import annotations

import json

from tests.evidence.helpers import small_bundle
from typer.testing import CliRunner

from stemdm.cli import app
from stemdm.evidence.formats import write_any

runner = CliRunner()


def run(*args):
    return runner.invoke(app, ["evidence", *args])


def test_list_json_carries_caveats_and_disclaimer():
    result = run("list", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert len(payload["trials"]) == 23  # 22 of the first curation pass + NCT00767260 (second pass)
    assert any("never pool both" in c["text"] for c in payload["caveats"])
    assert "Not medical advice" in payload["disclaimer"]
    assert run("list", "--type", "T1DM", "--json").output.count('"diabetes_type": "T1DM"') >= 10


def test_show_names_overlap_and_flags():
    payload = json.loads(run("show", "Zang2022", "--json").output)
    assert payload["trial"]["overlaps_with"] == ["Zang2023_SCTM"]
    assert any("never pool both" in w["why"] for w in payload["warnings"])
    assert all("pm_unlabelled" in m["flags"] for m in payload["measurements"] if m["statistic"] == "mean_pm")
    table = run("show", "Zang2022")
    assert table.exit_code == 0 and "7.52 ± 1.07" in table.output and "Not medical advice" in table.output
    missing = run("show", "Nobody1999")
    assert missing.exit_code == 2 and "no such trial" in missing.output


def test_coverage_shows_windows_and_flags():
    result = run("coverage")
    assert result.exit_code == 0
    assert "Zang2022" in result.output and "12 mo" in result.output and "pm_unlabelled" in result.output
    cells = json.loads(run("coverage", "--json", "--all").output)["coverage"]
    assert any(c["outcome_id"] == "tir" for c in cells)


def test_validate_and_import(tmp_path):
    good = tmp_path / "good"
    write_any(small_bundle(), good, "csv")
    assert run("validate", str(good)).exit_code == 0
    first = json.loads(run("import", str(good), "--json").output)
    assert first["inserted"] == 4
    again = json.loads(run("import", str(good), "--json").output)
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 4)
    history = json.loads(run("history", "--json").output)
    assert [i["source"] for i in history["imports"]][-1] == str(good)


def test_bad_file_exits_2_naming_row_and_field(tmp_path):
    bad = tmp_path / "bad"
    write_any(small_bundle(), bad, "csv")
    path = bad / "measurements.csv"
    text = path.read_text().replace(",mean_sd,7.1,1.0,", ",mean_sd,7.1,-1.0,")
    path.write_text(text)
    line = next(i for i, row in enumerate(text.splitlines(), start=1) if row.startswith("Test2024,"))
    for command in ("validate", "import"):
        result = run(command, str(bad))
        assert result.exit_code == 2
        assert f"measurements row {line}" in result.output and "'sd'" in result.output
        assert "Traceback" not in result.output
    assert json.loads(run("list", "--json").output)["trials"][0]["trial_id"] != "Test2024"


def test_missing_file_and_unknown_format(tmp_path):
    assert run("import", str(tmp_path / "none.csv")).exit_code == 2
    (tmp_path / "x.txt").write_text("hello")
    result = run("validate", str(tmp_path / "x.txt"))
    assert result.exit_code == 2 and "unknown format" in result.output
    assert run("export", "--format", "pdf").exit_code == 2


def test_export_and_template(tmp_path):
    for fmt in ("csv", "json", "xlsx"):
        out = tmp_path / ("e" if fmt == "csv" else f"e.{fmt}")
        assert run("export", "--format", fmt, "--out", str(out)).exit_code == 0
        assert out.exists()
    assert run("template", "--out", str(tmp_path / "t")).exit_code == 0
    header = (tmp_path / "t" / "measurements.csv").read_text()
    assert "outcome_id (required): one of hba1c" in header and "pm_unlabelled" in header

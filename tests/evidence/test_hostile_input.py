"""Values nothing can analyse and text no back end stores the same way are refused by the one validator (the
record models), naming the row and the field; CSV exports cannot run as spreadsheet formulas."""

from __future__ import annotations

import csv
import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from tests.evidence.helpers import MEASUREMENT, TRIAL, small_bundle
from typer.testing import CliRunner

from stemdm.cli import app
from stemdm.evidence.errors import EvidenceError
from stemdm.evidence.formats import read_any, write_any
from stemdm.evidence.plausibility import field_range, level_range
from stemdm.evidence.records import Measurement, Trial
from stemdm.evidence.store import Store
from stemdm.sanitize import FORMULA_TRIGGERS, csv_cell, csv_uncell

runner = CliRunner()


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"mean": 1e300}, "mean"),
        ({"mean": 71.0}, "mean"),  # HbA1c 71 %: a mmol/mol value entered as %
        ({"sd": 50.0}, "sd"),
        ({"value_type": "change", "mean": -40.0}, "mean"),
        ({"unit": "mmol/mol", "mean": 500.0}, "mean"),
        ({"n": 10**20}, "n"),
        ({"timepoint_weeks": 1e9}, "timepoint_weeks"),
    ],
)
def test_implausible_numbers_are_refused_naming_the_field(changes, field):
    with pytest.raises(ValidationError) as caught:
        Measurement(**(MEASUREMENT | changes))
    assert field in str(caught.value)


def test_plausible_numbers_pass():
    for changes in ({"mean": 3.0}, {"mean": 20.0}, {"value_type": "change", "mean": -5.0}, {"sd": 0.0}):
        Measurement(**(MEASUREMENT | changes))
    assert level_range("fbg", "mmol/L")[1] == pytest.approx(level_range("fbg", "mg/dL")[1] / 18.016, rel=0.01)
    assert field_range("hba1c", "%", "final", "ci_lb")[0] < 0  # a CI limit may pass the range


def test_import_of_1e300_fails_with_row_and_field(tmp_path):
    folder = tmp_path / "bundle"
    write_any(small_bundle(), folder, "csv")
    text = (folder / "measurements.csv").read_text()
    assert ",7.1," in text
    (folder / "measurements.csv").write_text(text.replace(",7.1,", ",1e300,"))
    result = runner.invoke(app, ["evidence", "import", str(folder), "--json"])
    assert result.exit_code == 2
    problems = json.loads(result.output)["problems"]
    assert any(p["field"] == "mean" and p["record_type"] == "measurements" and p["row"] for p in problems)


@pytest.mark.parametrize("bad", ["a\x00b", "a\x1b[31mred", "bell\x07", "\x85next"])
def test_control_characters_refused_on_every_back_end(store_url, bad):
    with pytest.raises(ValidationError, match="control character"):
        Trial(**(TRIAL | {"notes": bad}))
    store = Store.open(store_url, bootstrap=False)
    bundle = small_bundle()
    # a record built without validation (as a buggy caller might) is still refused by the import
    bundle["trials"][0] = Trial.model_construct(**(bundle["trials"][0].model_dump() | {"notes": bad}))
    with pytest.raises(EvidenceError):
        store.import_bundle(bundle, "nul.json")
    assert store.load().count()["trials"] == 0


def test_tab_and_newline_are_text():
    Trial(**(TRIAL | {"notes": "line one\nline two\tcolumn"}))


FORMULAS = ['=HYPERLINK("http://x","y")', "=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]


def test_csv_export_neutralises_formulas_and_round_trips(tmp_path):
    bundle = small_bundle()
    bundle["trials"][0] = bundle["trials"][0].with_changes(
        citation=FORMULAS[0], notes=FORMULAS[1], registry_ids=FORMULAS[2:5], population="'=quoted"
    )
    out = tmp_path / "export"
    write_any(bundle, out, "csv")
    text = (out / "trials.csv").read_text()
    assert "written with a leading '" in text  # the header comment says so
    data = "".join(line for line in text.splitlines(True) if not line.startswith("#"))
    rows = list(csv.reader(io.StringIO(data)))
    for row in rows[1:]:
        for cell in row:
            if cell.startswith(FORMULA_TRIGGERS):
                float(cell)  # only numbers (a negative mean) may start with '-'
    back, problems = read_any(out)
    assert problems == []
    assert back["trials"][0].model_dump() == bundle["trials"][0].model_dump()


@given(st.text(max_size=30))
def test_csv_cell_round_trips_and_is_never_a_formula(value):
    cell = csv_cell(value)
    assert csv_uncell(cell) == value
    assert not cell.startswith(FORMULA_TRIGGERS)


def test_store_with_records_from_before_the_rules(store_url, tmp_path):
    """A record stored before a rule existed (here: a mean of 1e300, written straight to the table) is
    named by every reading command (exit 2), can still be exported, and a corrected re-import repairs the
    store."""
    from sqlalchemy import update

    from stemdm.evidence.store import RECORD_TABLES

    store = Store.open(store_url, bootstrap=False)
    store.import_bundle(small_bundle(), "good.json")
    table = RECORD_TABLES["measurements"]
    with store.engine.begin() as connection:
        connection.execute(update(table).values(mean=1e300))
    with pytest.raises(EvidenceError, match="fail the current rules"):
        store.load()
    listed = runner.invoke(app, ["evidence", "list", "--db", store_url])
    assert listed.exit_code == 2 and "mean" in listed.output and "Test2024/hba1c" in listed.output
    out = tmp_path / "export.json"
    exported = runner.invoke(
        app, ["evidence", "export", "--format", "json", "--out", str(out), "--db", store_url]
    )
    assert exported.exit_code == 0, exported.output
    write_any(small_bundle(), out, "json")  # the corrected file
    fixed = runner.invoke(app, ["evidence", "import", str(out), "--db", store_url, "--json"])
    assert fixed.exit_code == 0, fixed.output
    assert json.loads(fixed.output)["updated"] == 1
    assert store.load()["measurements"][0].mean == 7.1

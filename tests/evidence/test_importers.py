"""Importers say what they did not read and read what Chinese tools save (issue 19): every file, sheet or
JSON key skipped is named (an error with --strict); duplicated columns, FIFOs, empty files and mistyped
RevMan mappings are refused with exit 2 naming the field; GB18030/GBK, UTF-16 and UTF-8 with a BOM are
read."""

from __future__ import annotations

import json
import os
import shutil
import threading

import pytest
from tests.evidence.helpers import small_bundle
from typer.testing import CliRunner

from stemdm.cli import app
from stemdm.evidence.formats import write_any

runner = CliRunner()


def _said(result) -> str:
    return " ".join(result.output.split())


@pytest.fixture
def folder(tmp_path):
    out = tmp_path / "evidence"
    write_any(small_bundle(), out, "csv")
    return out


@pytest.mark.parametrize("name", ["Measurements.csv", "measurment.csv", "notes.txt"])
def test_a_file_in_a_folder_that_is_not_read_is_named(folder, name):
    shutil.copyfile(folder / "measurements.csv", folder / name)
    result = runner.invoke(app, ["evidence", "validate", str(folder)])
    assert result.exit_code == 0 and "not read" in _said(result) and name in _said(result)
    strict = runner.invoke(app, ["evidence", "import", str(folder), "--strict"])
    assert strict.exit_code == 2 and name in _said(strict) and "nothing was changed" in _said(strict)


def test_a_sheet_and_a_json_key_not_read_are_named(tmp_path):
    from openpyxl import load_workbook

    book = tmp_path / "e.xlsx"
    write_any(small_bundle(), book, "xlsx")
    workbook = load_workbook(book)
    workbook.copy_worksheet(workbook["measurements"]).title = "Measurment"
    workbook.save(book)
    result = runner.invoke(app, ["evidence", "validate", str(book)])
    assert result.exit_code == 0 and "sheet not read" in _said(result) and "Measurment" in _said(result)
    assert runner.invoke(app, ["evidence", "validate", str(book), "--strict"]).exit_code == 2
    document = tmp_path / "e.json"
    write_any(small_bundle(), document, "json")
    data = json.loads(document.read_text())
    data["measurment"] = data["measurements"]
    document.write_text(json.dumps(data))
    result = runner.invoke(app, ["evidence", "validate", str(document)])
    assert result.exit_code == 0 and "key not read" in _said(result) and "measurment" in _said(result)


def test_a_fifo_is_refused_before_reading(tmp_path):
    fifo = tmp_path / "measurements.csv"
    os.mkfifo(fifo)
    done = []
    thread = threading.Thread(
        target=lambda: done.append(runner.invoke(app, ["evidence", "validate", str(fifo)]))
    )
    thread.start()
    thread.join(timeout=20)
    assert done, "validate hung on a FIFO"
    assert done[0].exit_code == 2 and "not a regular file" in _said(done[0])


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf", b"# stemdm evidence template: trials\n# only\n"])
def test_an_empty_csv_is_not_valid(tmp_path, content):
    path = tmp_path / "trials.csv"
    path.write_bytes(content)
    result = runner.invoke(app, ["evidence", "validate", str(path)])
    assert result.exit_code == 2 and ("empty" in _said(result) or "no header" in _said(result))


@pytest.mark.parametrize("encoding", ["gb18030", "gbk", "utf-16", "utf-8-sig"])
def test_chinese_encodings_are_read(folder, encoding):
    path = folder / "trials.csv"
    text = path.read_text(encoding="utf-8").replace("Test et al. 2024", "张三等 2024 中华内科杂志")
    path.write_bytes(text.encode(encoding))
    result = runner.invoke(app, ["evidence", "validate", str(path), "--json"])
    assert result.exit_code == 0, result.output
    counts = json.loads(result.output)
    assert counts["counts"]["trials"] == 1
    if encoding in ("gb18030", "gbk"):
        assert any(p["field"] == "encoding" for p in counts["problems"])  # said, not silent


def test_a_foreign_encoding_without_chinese_is_refused(folder):
    path = folder / "trials.csv"
    path.write_bytes(path.read_text(encoding="utf-8").replace("Nowhere", "Zürich").encode("latin-1"))
    result = runner.invoke(app, ["evidence", "validate", str(path)])
    assert result.exit_code == 2 and "save the file as UTF-8" in _said(result)


def test_a_json_with_a_bom_is_read(tmp_path):
    document = tmp_path / "e.json"
    write_any(small_bundle(), document, "json")
    document.write_bytes(b"\xef\xbb\xbf" + document.read_bytes())
    assert runner.invoke(app, ["evidence", "validate", str(document)]).exit_code == 0


def test_a_data_package_with_a_column_twice_is_refused(tmp_path):
    path = tmp_path / "package.csv"
    path.write_text("Analysis name,Study,Study,Experimental N,Control N\nHbA1c,A 2001,B 2002,10,10\n")
    mapping = tmp_path / "map.toml"
    mapping.write_text(
        '[[outcome]]\nname = "HbA1c"\noutcome_id = "hba1c"\ntimepoint_weeks = 52\nunit = "%"\n'
    )
    result = runner.invoke(app, ["evidence", "validate", str(path), "--revman-map", str(mapping)])
    assert result.exit_code == 2 and "more than once" in _said(result) and "Study" in _said(result)


@pytest.mark.parametrize(
    ("toml", "field"),
    [('outcome = "HbA1c"\n', "outcome"), ("[[outcome]]\ntimepoint_weeks = 52\n", "outcome.name"),
     ('[[outcome]]\nname = "HbA1c"\ntimepoint_weeks = "a year"\n', "outcome.timepoint_weeks"),
     ('[outcomes]\nname = "x"\n', "outcomes"),
     ('[[outcome]]\nname = "HbA1c"\ntimepoint_weeks = true\n', "outcome.timepoint_weeks"),
     ('[[outcome]]\nname = "HbA1c"\nvaluetype = "change"\n', "outcome.valuetype"),
     ('[defaults]\nexperimantal_arm = "msc"\n', "defaults.experimantal_arm")],
)  # fmt: skip
def test_a_mistyped_mapping_exits_2_naming_the_field(tmp_path, toml, field):
    path = tmp_path / "package.csv"
    path.write_text("Analysis name,Study,Experimental N,Control N\nHbA1c,A 2001,10,10\n")
    mapping = tmp_path / "map.toml"
    mapping.write_text(toml)
    result = runner.invoke(app, ["evidence", "validate", str(path), "--revman-map", str(mapping)])
    assert result.exit_code == 2 and f"'{field}'" in _said(result), result.output

"""Intervals are labelled with the level they were computed at (protocol ``model.level``), everywhere: the
narrative in both languages, the CLI table and the report."""

from __future__ import annotations

import re
import tomllib

from typer.testing import CliRunner

from stemdm.cli import app
from stemdm.evidence.bundled import load_bundled
from stemdm.review.protocol import Protocol, default_protocol_path
from stemdm.review.report import write_report
from stemdm.review.run import run_review


def _protocol_text(level: float) -> str:
    text = default_protocol_path().read_text(encoding="utf-8")
    assert "\nlevel = 95\n" in text
    return text.replace("\nlevel = 95\n", f"\nlevel = {level}\n", 1)


def test_level_80_is_printed_as_80(tmp_path):
    protocol = Protocol.model_validate(tomllib.loads(_protocol_text(80)))
    review = run_review(load_bundled(), protocol)
    assert review.narrative
    for sentence in review.narrative:
        assert "80% CI" in sentence["en"] and "95% CI" not in sentence["en"]
        assert "80%置信区间" in sentence["zh"] and "95%置信区间" not in sentence["zh"]
        assert "80% credible interval" in sentence["en"] and "80%可信区间" in sentence["zh"]
    html = write_report(review, tmp_path)["report"].read_text(encoding="utf-8")
    results_table = html.split('id="results"')[1].split('id="safety"')[0]
    # quoted source text (e.g. "95% CI of difference" in a contrast's as-reported text) is data, not a label
    labels = re.findall(r"<th>[^<]*</th>|<p>[A-Z]+ [^<]*</p>", results_table)
    assert "<th>80% CI</th>" in labels and not any("95% CI" in label for label in labels)
    chinese = (tmp_path / "report.zh.html").read_text(encoding="utf-8")
    assert "80% CI and prediction intervals" in html and "80% 置信区间" in chinese  # methods, both languages


def test_cli_table_header_uses_level(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(_protocol_text(80), encoding="utf-8")
    result = CliRunner().invoke(app, ["review", "run", "--protocol", str(path)])
    assert result.exit_code == 0, result.output
    assert "80% CI" in result.output and "95% CI" not in result.output

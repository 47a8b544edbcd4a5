"""The report files: self-contained HTML with both narratives, the not-medical-advice line, every bundled
published meta-analysis in the umbrella table, the coverage matrix, linked numbers; and the CLI."""

from __future__ import annotations

import json
import re
from html import escape as html_escape

from typer.testing import CliRunner

from stemdm.cli import app
from stemdm.evidence.bundled import load_bundled
from stemdm.review.analysis import POSTERIOR_KEYS
from stemdm.review.protocol import load_protocol
from stemdm.review.report import anchor, write_report
from stemdm.review.run import run_review

runner = CliRunner()


def test_report_on_bundled_data(tmp_path):
    review = run_review(load_bundled(), load_protocol())
    paths = write_report(review, tmp_path)
    html = paths["report"].read_text(encoding="utf-8")
    chinese = (tmp_path / "report.zh.html").read_text(encoding="utf-8")
    assert html.count("Not medical advice") >= 2 and chinese.count("不构成医疗建议") >= 2
    for sentence in review.narrative:
        assert html_escape(sentence["en"], quote=False) in html.replace("&#39;", "'")
        assert html_escape(sentence["zh"], quote=False) in chinese
    for estimate in load_bundled()["published_estimates"]:
        assert f">{estimate.review_id}<" in html
    assert 'src="http' not in html and "<script" not in html  # self-contained: images are data URIs
    assert len(re.findall(r'<img src="data:image/png;base64,', html)) >= 2
    for key in review.sources:  # every source row has its anchor, and every link points at one
        assert f'id="{anchor(key)}"' in html
    for target in re.findall(r'href="#([^"]+)"', html):
        assert f'id="{target}"' in html, target
    payload = json.loads(paths["results"].read_text())
    assert payload["results"][0]["outcome"] == "hba1c" and payload["disclaimer"]
    assert any(p.name.startswith("forest_hba1c") for p in paths["figures"].iterdir())


def test_cli_json_and_report(tmp_path):
    result = runner.invoke(app, ["review", "run", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    keys = {
        "outcome",
        "timepoint_months",
        "subgroup",
        "k",
        "n",
        "measure",
        "estimate",
        "ci_lb",
        "ci_ub",
        "pval",
        "i2",
        "tau2",
        "pi_lb",
        "pi_ub",
        "certainty",
        *POSTERIOR_KEYS,
        "trials",
        "data_kinds",
    }
    assert all(set(r) == keys for r in payload["results"]) and payload["skipped"]
    result = runner.invoke(app, ["review", "run", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0 and (tmp_path / "out" / "report.html").exists()
    assert "Not medical advice" in result.output


def test_cli_bad_protocol_exits_2(tmp_path):
    bad = tmp_path / "p.toml"
    bad.write_text("title = 'x'\n")
    result = runner.invoke(app, ["review", "run", "--protocol", str(bad)])
    assert result.exit_code == 2 and "question" in result.output and "Traceback" not in result.output

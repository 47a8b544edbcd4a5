"""Hostile text in evidence records and in the protocol never becomes markup in report.html: autoescape is on
for ``.html.j2``, only http(s) URLs become links, and the page forbids scripts (CSP). In Chromium no dialog
fires and no injected element or handler exists."""

from __future__ import annotations

import os
import shutil
import tomllib
from pathlib import Path

import pytest

from stemdm.evidence.bundled import load_bundled
from stemdm.review.protocol import Protocol, default_protocol_path
from stemdm.review.report import template_environment, write_report
from stemdm.review.run import run_review

XSS = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
JS_URL = "javascript:alert(3)"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def hostile_bundle():
    """The bundled evidence with hostile text in every free-text field the report shows."""
    bundle = load_bundled()
    for kind, changes in (
        ("measurements", {"as_reported": XSS, "unit_as_reported": XSS, "locator": XSS, "source_url": JS_URL}),
        ("adverse_events", {"event_as_reported": XSS, "locator": XSS, "source_url": JS_URL}),
        ("published_estimates", {"subgroup": XSS, "timepoint_label": XSS, "source_url": JS_URL}),
    ):
        bundle.records[kind] = [record.with_changes(**changes) for record in bundle[kind]]
    return bundle


def hostile_protocol() -> Protocol:
    raw = tomllib.loads(default_protocol_path().read_text(encoding="utf-8"))
    raw["title"] = XSS
    raw["question"]["population"] = XSS
    raw["question"]["outcomes"] = XSS
    return Protocol.model_validate(raw)


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hostile")
    return write_report(run_review(hostile_bundle(), hostile_protocol()), out)["report"]


def test_every_template_autoescapes():
    env = template_environment()
    assert env.get_template("report.html.j2").render is not None
    assert env.from_string("{{ x }}").render(x="<b>") == "&lt;b&gt;"
    assert env.autoescape("report.html.j2") is True


def test_hostile_text_is_escaped(hostile_report):
    html = hostile_report.read_text(encoding="utf-8")
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html  # shown as text, not dropped
    assert 'href="javascript:' not in html and 'href="javascript' not in html.lower()
    assert "javascript:alert(3)" in html  # the hostile URL is shown as plain text
    assert "Content-Security-Policy" in html


def test_only_http_links(hostile_report):
    import re

    html = hostile_report.read_text(encoding="utf-8")
    for href in re.findall(r'href="([^"]*)"', html):
        assert href.startswith(("#", "http://", "https://")) or href in ("report.html", "report.zh.html"), (
            href
        )


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="no chromium (CI installs it)")
def test_no_dialog_and_no_script_in_chromium(hostile_report):
    sync_api = pytest.importorskip("playwright.sync_api")
    from tests.review.test_browser import FLAGS

    dialogs: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(hostile_report.as_uri(), wait_until="load")
        page.wait_for_timeout(300)
        injected = page.evaluate(
            """() => ({
                scripts: document.scripts.length,
                handlers: Array.from(document.querySelectorAll('*')).filter(
                    e => Array.from(e.attributes).some(a => a.name.startsWith('on'))).length,
                js_links: Array.from(document.links).filter(a => a.protocol === 'javascript:').length,
                shown: document.body.innerText.includes('<script>alert(2)</script>'),
            })"""
        )
        browser.close()
    assert dialogs == []
    assert injected == {"scripts": 0, "handlers": 0, "js_links": 0, "shown": True}

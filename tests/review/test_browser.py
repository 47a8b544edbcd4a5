"""The report opens cleanly in headless Chromium (Debian's chromium, driven by Playwright): no console errors,
every image loads; a screenshot is saved. CI installs chromium; locally the test is skipped without it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from stemdm.evidence.bundled import load_bundled
from stemdm.review.protocol import load_protocol
from stemdm.review.report import write_report
from stemdm.review.run import run_review

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="no chromium (CI installs it)")
def test_report_renders_in_chromium(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    assert CHROMIUM, "CI must provide Debian's chromium"
    paths = write_report(run_review(load_bundled(), load_protocol()), tmp_path)
    messages: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on(
            "console",
            lambda m: messages.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None,
        )
        page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
        seen = {}
        for name in ("report.html", "report.zh.html"):
            page.goto((tmp_path / name).as_uri(), wait_until="load")
            seen[name] = {
                "images": page.evaluate(
                    "Array.from(document.images).map(i => [i.alt, i.complete && i.naturalWidth > 0])"
                ),
                "text": page.evaluate("document.body.innerText"),
                # the first screen answers the question: the verdicts start on it
                "verdicts_top": page.evaluate(
                    "document.getElementById('verdicts').getBoundingClientRect().top"
                ),
                "other": page.evaluate("document.querySelector('p.languages a').getAttribute('href')"),
            }
            page.emulate_media(media="print")
            seen[name]["nav_in_print"] = page.evaluate(
                "getComputedStyle(document.querySelector('nav')).display"
            )
            page.emulate_media(media="screen")
        shot = Path(os.environ.get("STEMDM_SCREENSHOT_DIR", tmp_path)) / "report.png"
        page.screenshot(path=str(shot), full_page=False)
        browser.close()
    assert messages == []
    for name, found in seen.items():
        assert found["images"] and all(ok for _, ok in found["images"]), [
            a for a, ok in found["images"] if not ok
        ]
        assert found["verdicts_top"] < 900 and found["nav_in_print"] == "none", name
    assert (
        seen["report.html"]["other"] == "report.zh.html" and seen["report.zh.html"]["other"] == "report.html"
    )
    assert (
        "证据确定性" in seen["report.zh.html"]["text"]
        and "What the trials show" in seen["report.html"]["text"]
    )
    assert shot.stat().st_size > 10_000 and paths["report"].name == "report.html"

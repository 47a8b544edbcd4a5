"""The workbench in headless Chromium (Debian's chromium, driven by Playwright) against a real uvicorn server
on loopback: sign-in, browsing with filters, a full double extraction with one disagreement reconciled, and
the accepted value showing in the coverage matrix. No console errors (the CSP would report inline scripts).
Screenshots go to STEMDM_SCREENSHOT_DIR (default: the test's temporary folder)."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

from stemdm.web import accounts
from stemdm.web.app import Settings, create_app
from tests.review.test_browser import CHROMIUM, FLAGS
from tests.web.conftest import PASSWORDS, ROLES


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(store_url, tmp_path):
    import uvicorn

    app = create_app(Settings(store_url, tmp_path / "data"))
    for name, role in ROLES.items():
        accounts.add_user(app.state.engine, name, role, PASSWORDS[name])
    port = _free_port()
    instance = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not instance.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert instance.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}", app
    instance.should_exit = True
    thread.join(timeout=10)
    app.state.engine.dispose()


def _sign_in(page, base: str, name: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORDS[name])
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/trials")


def _extract(page, base: str, mean: str) -> None:
    page.goto(f"{base}/trials/Zang2022/extract")
    page.select_option("select[name=arm_id]", "control")
    page.select_option("select[name=outcome_id]", "hba1c")
    page.fill("input[name=timepoint_weeks]", "12")
    page.fill("input[name=timepoint_label]", "12 weeks")
    page.select_option("select[name=statistic]", "mean_se")
    page.fill("input[name=mean]", mean)
    page.fill("input[name=se]", "0.15")
    page.fill("input[name=n]", "44")
    page.select_option("select[name=unit]", "%")
    page.fill("input[name=source_url]", "https://example.org/zang2022-fulltext")
    page.fill("input[name=locator]", "Table 2")
    page.click("form.grid button[type=submit]")
    page.wait_for_url("**/extractions/*")


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="no chromium (CI installs it)")
def test_double_extraction_in_the_browser(server, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    assert CHROMIUM, "CI must provide Debian's chromium"
    base, app = server
    shots = Path(os.environ.get("STEMDM_SCREENSHOT_DIR", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    messages: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        pages = {}
        for name in ("alice", "bob", "ada"):
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.on(
                "console", lambda m: messages.append(f"{m.type}: {m.text}") if m.type == "error" else None
            )
            page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
            _sign_in(page, base, name)
            pages[name] = page
        alice, bob, ada = pages["alice"], pages["bob"], pages["ada"]
        alice.goto(f"{base}/trials?type=T2DM&outcome=hba1c")
        assert alice.locator("table.trials a", has_text="Zang2022").count() == 1
        assert alice.locator("table.trials a", has_text="Cai2016").count() == 0  # T1DM filtered out
        alice.screenshot(path=str(shots / "workbench-evidence.png"))
        _extract(alice, base, "8.1")
        _extract(bob, base, "8.4")  # one disagreement: the mean
        bob.screenshot(path=str(shots / "workbench-extraction.png"))
        ada.goto(f"{base}/disagreements")
        section = ada.locator("section.slot", has_text="Zang2022/hba1c/12/control")
        assert section.locator("tr.differs th").all_inner_texts() == ["mean"]
        ada.screenshot(path=str(shots / "workbench-disagreements.png"))
        section.locator("input[value=third]").check()
        section.locator("input[name=mean]").fill("8.2")
        section.locator("button[type=submit]").click()
        ada.wait_for_url(f"{base}/trials/Zang2022")
        ada.goto(f"{base}/trials?outcome=hba1c")
        cell = ada.locator('td[data-cell="Zang2022|hba1c|3"]')
        assert cell.count() == 1 and "mean_se" in cell.inner_text()
        ada.screenshot(path=str(shots / "workbench-coverage.png"), full_page=True)
        browser.close()
    assert messages == []
    accepted = [
        m
        for m in app.state.store.load()["measurements"]
        if (m.trial_id, m.outcome_id, m.timepoint_weeks, m.arm_id) == ("Zang2022", "hba1c", 12.0, "control")
    ]
    assert [m.mean for m in accepted] == [8.2]  # fmt: skip


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="no chromium (CI installs it)")
def test_review_and_simulation_runs_in_chinese(server, tmp_path):
    """Issue 12: sign in, switch to 中文, run the bundled review and an in-silico trial from the browser, and
    read the results in Chinese; switch back to English."""
    sync_api = pytest.importorskip("playwright.sync_api")
    base, _ = server
    shots = Path(os.environ.get("STEMDM_SCREENSHOT_DIR", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    messages: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.on("console", lambda m: messages.append(f"{m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
        _sign_in(page, base, "ada")
        page.click("a.lang-switch")  # 中文
        assert page.locator("html").get_attribute("lang") == "zh-Hans"
        assert page.locator("h1").inner_text() == "证据库"
        page.click("text=系统评价")
        page.select_option("select[name=lang]", "zh")
        page.click("#review-form button[type=submit]")
        page.wait_for_url("**/reviews/*")
        page.wait_for_selector("iframe.report", timeout=180_000)  # the page refreshes itself until done
        frame = page.frame_locator("iframe.report")
        assert frame.locator("h2", has_text="结果总结").count() == 1
        page.screenshot(path=str(shots / "workbench-review-zh.png"))
        page.goto(f"{base}/simulations")
        page.fill("input[name=patients_per_arm]", "15")
        page.fill("input[name=weeks]", "8")
        page.fill("input[name=visits]", "0,8")
        page.fill("input[name=infusions]", "1")
        page.click("#simulation-form button[type=submit]")
        page.wait_for_url("**/simulations/*")
        page.wait_for_selector("table.effects", timeout=180_000)
        assert "较基线的变化" in page.locator("h2").first.inner_text()
        assert page.locator("table.effects td", has_text="糖化血红蛋白").count() == 1
        assert page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
        page.screenshot(path=str(shots / "workbench-simulation-zh.png"), full_page=True)
        page.click("a.lang-switch")  # English
        assert page.locator("html").get_attribute("lang") == "en"
        assert "therapy minus placebo" in page.locator("h2").first.inner_text()
        browser.close()
    assert messages == []

"""Every page in Chinese (issue 12): chosen by Accept-Language or the switch, remembered in the session, and
no page mixes languages outside proper names, data (marked translate="no") and units."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from tests.web.conftest import client_for, extraction_form

#: Latin words allowed in Chinese pages: proper names, abbreviations used in Chinese clinical writing, units
ALLOWED = {
    "stemdm", "HbA1c", "HbA", "HOMA", "IR", "TIR", "SD", "SE", "CI", "IQR", "Cochrane", "Luo", "Shi",
    "mmol", "mol", "mg", "TOML", "PNG", "BMI", "kg", "MSC", "PSC", "JSON", "html", "json", "csv", "png",
    "report", "results", "responders", "result", "trajectories", "Julious", "trial", "size", "dL", "ng",
    "mL", "nmol", "pmol", "IU", "day", "uIU", "zh", "Hans", "en", "English",
}  # fmt: skip
WORD = re.compile(r"[A-Za-z]{2,}")


class _VisibleText(HTMLParser):
    """Text a reader sees (and option labels), minus elements marked translate="no"."""

    def __init__(self) -> None:
        super().__init__()
        self.skip_depth: list[str] = []
        self.words: list[str] = []
        self.lang = ""

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "html":
            self.lang = attributes.get("lang", "")
        proper_name = tag == "title"  # the title names the trial or extraction shown
        hidden = attributes.get("translate") == "no" or attributes.get("lang") == "en"
        void = tag in ("input", "br", "meta", "link")
        if (self.skip_depth or proper_name or hidden) and not void:
            self.skip_depth.append(tag)

    def handle_endtag(self, tag):
        if self.skip_depth and self.skip_depth[-1] == tag:
            self.skip_depth.pop()

    def handle_data(self, data):
        if not self.skip_depth:
            self.words += WORD.findall(data)


def _foreign_words(html: str) -> tuple[str, set[str]]:
    parser = _VisibleText()
    parser.feed(html)
    return parser.lang, {w for w in parser.words if w not in ALLOWED}


def test_every_page_in_chinese_has_no_english_left(app):
    ada = client_for(app, "ada")
    alice, bob = client_for(app, "alice"), client_for(app, "bob")
    first = extraction_form(alice, "Zang2022", mean="7.9")
    extraction_form(bob, "Zang2022", mean="7.6")
    for client in (ada, alice):
        client.headers["Accept-Language"] = "zh-CN,zh;q=0.9"
    anonymous = client_for(app, None)
    anonymous.headers["Accept-Language"] = "zh-CN"
    pages = {
        "/login": anonymous, "/trials": ada, "/trials?outcome=hba1c&type=T2DM": ada, "/trials/Zang2022": ada,
        "/trials/Cai2016": ada, "/trials/Zang2022/extract": ada, "/disagreements": ada, "/audit": ada,
        "/reviews": ada, "/simulations": ada, "/planner": ada, "/planner?outcome=hba1c": ada,
        first.headers["location"]: alice,
    }  # fmt: skip
    for path, client in pages.items():
        response = client.get(path)
        assert response.status_code == 200, path
        lang, foreign = _foreign_words(response.text)
        assert lang == "zh-Hans", path
        assert foreign == set(), (path, sorted(foreign))
        assert "不构成医疗建议" in response.text


def test_run_pages_in_chinese_have_no_english_left(app):
    """The pages of finished runs: a review (report framed), two reviews compared, an in-silico trial."""
    from stemdm.web import accounts
    from tests.web.test_runs import SMALL, _wait

    ada = client_for(app, "ada")
    ada.headers["Accept-Language"] = "zh-CN"
    headers = {"Authorization": f"Bearer {accounts.new_token(app.state.engine, 'ada')}"}
    reviews = [ada.post("/api/reviews", json={"lang": "zh"}, headers=headers).json()["id"] for _ in range(2)]
    simulation = ada.post("/api/simulations?lang=zh", json=SMALL, headers=headers).json()["id"]
    for path in [f"/api/reviews/{r}" for r in reviews] + [f"/api/simulations/{simulation}"]:
        assert _wait(ada, path, headers)["status"] == "done"
    for path in (f"/reviews/{reviews[0]}", f"/reviews/compare?a={reviews[0]}&b={reviews[1]}",
                 f"/simulations/{simulation}"):  # fmt: skip
        response = ada.get(path)
        assert response.status_code == 200, path
        lang, foreign = _foreign_words(response.text)
        assert lang == "zh-Hans" and foreign == set(), (path, sorted(foreign))


def test_switch_is_remembered_and_english_stays_english(app):
    ada = client_for(app, "ada")
    assert 'lang="en"' in ada.get("/trials").text
    chinese = ada.get("/trials?lang=zh").text
    assert 'lang="zh-Hans"' in chinese and "证据库" in chinese
    assert 'lang="zh-Hans"' in ada.get("/trials/Zang2022").text  # remembered in the session
    english = ada.get("/trials/Zang2022?lang=en").text
    assert 'lang="en"' in english and "证据库" not in english and "Not medical advice" in english

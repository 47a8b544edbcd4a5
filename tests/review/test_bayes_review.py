"""The review pools every result the Bayesian way too: each pooled row carries the posterior median, credible
and predictive intervals, P(benefit) and P(at least the MID), equal to stemdm.meta.bayes on the same study
effects with the outcome's prior from the protocol, and the narrative states the probabilities in English
and Chinese."""

from __future__ import annotations

import tomllib

import pytest

from stemdm.evidence.bundled import load_bundled
from stemdm.meta.bayes import bayes_effects
from stemdm.meta.priors import parse_mu_prior, parse_tau_prior
from stemdm.review.narrative import prior_text
from stemdm.review.protocol import Protocol, ProtocolError, default_protocol_path, load_protocol
from stemdm.review.run import run_review
from tests.review.conftest import normand_bundle


def test_every_pooled_row_has_posteriors_equal_to_meta_bayes():
    protocol = load_protocol()
    review = run_review(normand_bundle(), protocol)
    assert review.results
    rules = {rule.id: rule for rule in protocol.outcomes}
    for result, row in zip(review.results, review.summaries(), strict=True):
        rule = rules[result.outcome]
        posterior = bayes_effects(result.fit.effects, parse_tau_prior(rule.tau_prior), parse_mu_prior(None))
        d = posterior.to_dict()
        assert row["post_median"] == pytest.approx(d["mu_median"], rel=1e-12)
        assert (row["post_ci_lb"], row["post_ci_ub"]) == pytest.approx(
            (d["mu_ci_lb"], d["mu_ci_ub"]), rel=1e-12
        )
        assert (row["post_pred_lb"], row["post_pred_ub"]) == pytest.approx((d["pred_lb"], d["pred_ub"]))
        side = "below" if rule.better == "lower" else "above"
        assert row["p_benefit"] == pytest.approx(posterior.prob_beyond(0.0, side))
        mid = -rule.mid if rule.better == "lower" else rule.mid
        assert row["p_mid"] == pytest.approx(posterior.prob_beyond(mid, side))
        assert 0 <= row["p_mid"] <= row["p_benefit"] <= 1
        assert row["tau_prior"] == rule.tau_prior


def test_narrative_states_probabilities_in_both_languages():
    review = run_review(load_bundled(), load_protocol())
    for sentence, row in zip(review.narrative, review.summaries(), strict=True):
        assert "probability that cell therapy lowers HbA1c" in sentence["en"] or row["outcome"] != "hba1c"
        assert (
            "credible interval" in sentence["en"]
            and "可信区间" in sentence["zh"]
            and "概率" in sentence["zh"]
        )
        # the prior as readers write it: half-normal HN(s) / 半正态先验 HN(s)
        assert prior_text(row["tau_prior"], "en") in sentence["en"]
        assert prior_text(row["tau_prior"], "zh") in sentence["zh"] and "半正态先验 HN(" in sentence["zh"]


def test_bad_prior_in_protocol_names_the_field(tmp_path):
    text = (
        default_protocol_path()
        .read_text(encoding="utf-8")
        .replace('tau_prior = "halfnormal(1)"', 'tau_prior = "halfnormal(-1)"', 1)
    )
    path = tmp_path / "p.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProtocolError, match=r"outcomes\.0\.tau_prior"):
        load_protocol(path)
    raw = tomllib.loads(default_protocol_path().read_text(encoding="utf-8"))
    raw["model"]["bayes"]["mu_prior"] = "normal(0)"
    with pytest.raises(ValueError, match="mu_prior"):
        Protocol.model_validate(raw)


def test_prior_sensitivity_table(tmp_path):
    from stemdm.review.report import write_report

    review = run_review(load_bundled(), load_protocol())
    payload = review.to_dict()
    overall = [r for r in payload["results"] if r["subgroup"] == "overall"]
    assert overall
    for row in overall:
        table = payload["prior_sensitivity"][f"{row['outcome']} {row['timepoint_months']:g} months"]["rows"]
        assert [t["tau_prior"] for t in table][0] == row["tau_prior"] and len(table) == 5
        assert table[0]["post_ci_lb"] == row["post_ci_lb"]
        widths = [t["post_ci_ub"] - t["post_ci_lb"] for t in table]
        # half the scale narrower; twice the scale, the uniform on [0, 5s] and the half-Cauchy wider
        assert widths[1] < widths[0] < min(widths[2:])
        assert [t["wider_than_protocol"] for t in table] == [False, False, True, True, True]
    html = write_report(review, tmp_path)["report"].read_text(encoding="utf-8")
    assert "Prior sensitivity" in html and "P(≥ MID)" in html

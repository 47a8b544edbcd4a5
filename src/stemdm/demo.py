"""``make demo``: what stem-cell therapy does for diabetes, on the bundled evidence, in a few minutes.

In order: the bundled evidence base loaded into a fresh store under ``out/`` with its coverage and caveats,
the bundled systematic review (``out/report.html``, English and Chinese), and an in-silico Zang 2022-like
trial with what a trial of that size would observe. ``--with-bcg`` adds the engine's worked example on the
BCG vaccine trials (Colditz 1994: forest, funnel, Baujat, L'Abbe and radial plots, ``bcg_summary.json``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from stemdm import NOT_MEDICAL_ADVICE, meta
from stemdm.evidence import Store, bundled_caveats, coverage
from stemdm.meta.datasets import DATASETS, load_dataset
from stemdm.meta.report import fmt, fmt_p, json_safe
from stemdm.review.cli import results_table
from stemdm.review.protocol import load_protocol
from stemdm.review.report import write_report
from stemdm.review.run import run_review
from stemdm.sanitize import term


def run_demo(out: Path, console: Console, with_bcg: bool = False) -> dict:
    """The evidence base, the review and an in-silico trial (and, ``with_bcg``, the BCG worked example);
    ends with where the report is and how to open the workbench."""
    out.mkdir(parents=True, exist_ok=True)
    summary = {"evidence": run_evidence_demo(out, console)}
    summary["review"] = run_review_demo(out, console)
    summary["simulation"] = run_simulation_demo(out, console)
    if with_bcg:
        summary["bcg"] = run_bcg_demo(out, console)
    report = Path(summary["review"]["report"]).resolve()
    console.print(
        f"[bold]Done. Open the report: {term(report.as_uri())}[/]  Workbench for a review team: "
        f"stemdm users add NAME --role admin, then stemdm serve --db {term(str(out / 'evidence.sqlite'))} "
        "(http://127.0.0.1:8000)"
    )
    return summary


def run_bcg_demo(out: Path, console: Console) -> dict:
    """The engine's worked example: BCG vaccine trials (RR, REML + Knapp-Hartung), plots, a JSON summary."""
    data = load_dataset("bcg")
    result = meta.fit(data, measure="RR", method="REML", test="knha")
    by_alloc = meta.fit(data, measure="RR", method="REML", test="knha", by="alloc")
    latitude = meta.fit(data, measure="RR", method="REML", test="knha", mods=["ablat"])
    filled = meta.trim_and_fill(result)
    arms = {"labels": ("Favours vaccine", "Favours control"), "group_names": ("Vaccine", "Control")}
    files = {
        "forest": meta.forest_plot(result, out / "bcg_forest.png", **arms),
        "forest_by_alloc": meta.forest_plot(by_alloc, out / "bcg_forest_by_alloc.png", **arms),
        "funnel": meta.funnel_plot(result, out / "bcg_funnel.png", filled=filled),
        "baujat": meta.baujat_plot(result, out / "bcg_baujat.png"),
        "labbe": meta.labbe_plot(result, out / "bcg_labbe.png"),
        "radial": meta.radial_plot(result, out / "bcg_radial.png"),
    }
    summary = {
        "dataset": DATASETS["bcg"],
        "model": {"measure": "RR", "method": "REML", "test": "knha"},
        "overall": result.to_dict(),
        "overall_rr": {
            k: math.exp(result.to_dict()[k]) for k in ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub")
        },
        "by_allocation": by_alloc.to_dict(),
        "meta_regression_latitude": latitude.to_dict(),
        "egger": meta.egger_test(result),
        "begg": meta.begg_test(result),
        "pet_peese": meta.pet_peese(result),
        "fail_safe_n": meta.fail_safe_n(result),
        "trim_and_fill": filled.to_dict(),
        "leave_one_out": meta.leave_one_out(result).reset_index().to_dict(orient="records"),
        "files": {name: str(path) for name, path in files.items()},
        "not_medical_advice": NOT_MEDICAL_ADVICE,
    }
    json_path = out / "bcg_summary.json"
    json_path.write_text(json.dumps(json_safe(summary), indent=2))
    console.rule("The engine's worked example (not about diabetes): BCG vaccine trials")
    _print(console, result, by_alloc, latitude, summary, json_path, files)
    return {"summary": str(json_path), "files": {name: str(path) for name, path in files.items()}}


#: Posterior draws simulated by the demo's prediction (each about half a second).
DEMO_DRAWS = 20


def run_simulation_demo(out: Path, console: Console) -> dict:
    """An in-silico Zang 2022-like trial (UC-MSC x3, 48 weeks) with the default (central posterior)
    parameters, and what a trial of Zang's size (45 + 46) would observe over posterior draws: writes
    out/sim_trial.json and prints both."""
    from stemdm.sim.calibrate import zang_design
    from stemdm.sim.predict import predictive
    from stemdm.sim.trial import run_trial

    design = zang_design(200, 1)
    console.rule("An in-silico trial: UC-MSC x3 vs placebo, 48 weeks (Zang 2022's design)")
    console.print(
        f"Simulating 200 + 200 virtual patients, then {DEMO_DRAWS} posterior draws for what a 45 + 46 "
        "trial would observe (about a minute)..."
    )
    with Progress(console=console, transient=True) as bar:
        days = bar.add_task("virtual trial (days simulated)", total=design.weeks * 7)
        result = run_trial(design, progress=lambda n: bar.advance(days, n))
        draws = bar.add_task("posterior draws", total=DEMO_DRAWS)
        prediction = predictive(design, (45, 46), DEMO_DRAWS, progress=lambda n: bar.advance(draws, n))
    payload = result.to_dict() | {"prediction_45_46": prediction}
    path = out / "sim_trial.json"
    path.write_text(json.dumps(json_safe(payload), indent=1))
    week = design.visits[-1]
    console.print(
        f"At week {week}, therapy minus placebo: the true difference over {prediction['posterior_draws']} "
        "posterior draws (median, 95 % interval), and what a 45 + 46 patient trial would observe (95 % "
        "predictive interval: its sampling error and between-trial heterogeneity added):"
    )
    for row in prediction["effects"]:
        if row["week"] == week and row.get("pred_lb") is not None:
            console.print(
                f"  {row['outcome']:>15}: {row['param_median']:+.3g} ({row['param_lb']:.3g} to "
                f"{row['param_ub']:.3g}); a 45 + 46 trial: {row['pred_lb']:.3g} to {row['pred_ub']:.3g}"
            )
    rates = prediction["responders"]
    low, high = rates["difference_interval"]
    console.print(
        f"  responders, therapy minus placebo: {rates['difference_median']:+.1%} ({low:+.1%} to "
        f"{high:+.1%}) over the posterior"
    )
    for note in result.warnings():
        console.print(term(f"Warning: {note}"))
    console.print(f"Wrote {path}")
    return {"file": str(path), "parameters": result.parameters_version}


def run_review_demo(out: Path, console: Console) -> dict:
    """The bundled review (default protocol) on the evidence loaded into ``out/evidence.sqlite``: writes
    out/report.html, out/results.json and out/figures/, and prints a short results table."""
    console.rule("The systematic review (bundled protocol, bundled evidence)")
    review = run_review(Store.open(out / "evidence.sqlite").load(), load_protocol())
    paths = write_report(review, out)
    console.print(results_table(review, "Review: pooled results (bundled evidence, default protocol)", True))
    for sentence in review.narrative:
        if sentence["subgroup"] == "overall":
            console.print(term(sentence["en"]))
    console.print(f"{len(review.skipped)} analyses could not be done (reasons in the report).")
    console.print(f"[bold]Report: {paths['report']}[/]")
    return {"report": str(paths["report"]), "results": str(paths["results"]), "pooled": len(review.results)}


def run_evidence_demo(out: Path, console: Console) -> dict:
    """Load the bundled stem-cell RCT evidence into a fresh SQLite store under ``out/`` and write its
    coverage (which trial reports which outcome at which time, with flags) as JSON."""
    console.rule("The evidence base: randomized trials of stem-cell therapy in diabetes")
    store_path = out / "evidence.sqlite"
    for leftover in (
        store_path,
        store_path.with_name("evidence.sqlite-wal"),
        store_path.with_name("evidence.sqlite-shm"),
    ):
        leftover.unlink(missing_ok=True)  # a fresh store each run (SQLite's WAL files too)
    store = Store.open(store_path)
    evidence = store.load()
    cells = coverage(evidence)
    path = out / "evidence_coverage.json"
    payload = {
        "counts": evidence.count(),
        "coverage": [c.to_dict() for c in cells],
        "caveats": bundled_caveats(),
        "not_medical_advice": NOT_MEDICAL_ADVICE,
    }
    path.write_text(json.dumps(payload, indent=1, ensure_ascii=False))
    at_12 = sorted({(c.trial_id, c.outcome_id) for c in cells if c.review_months == 12 and c.between_arm})
    console.print(f"Evidence base: {evidence.count()} in {store_path}; wrote {path}")
    console.print("Between-arm numbers at the 12-month window: " + ", ".join(f"{t} {o}" for t, o in at_12))
    console.print(
        f"[yellow]{len(payload['caveats'])} caveats travel with these data[/] "
        "(stemdm evidence list --db out/evidence.sqlite)"
    )
    return {"counts": evidence.count(), "coverage_file": str(path), "store": str(store_path)}


def _print(console, result, by_alloc, latitude, summary, json_path, files) -> None:
    table = Table(title="BCG vaccine trials (Colditz 1994): risk ratio of tuberculosis, REML + HKSJ")
    for column in ("Analysis", "k", "RR", "95% CI", "p", "I2 %"):
        table.add_column(column, justify="left" if column == "Analysis" else "right")
    rows = [("All trials", result)] + [(f"alloc = {name}", sub) for name, sub in by_alloc.subgroups.items()]
    for name, fit in rows:
        table.add_row(
            name, str(fit.k), fmt(math.exp(fit.estimate)),
            f"[{fmt(math.exp(fit.ci_lb))}, {fmt(math.exp(fit.ci_ub))}]",
            fmt_p(fit.pval), fmt(fit.i2, 1),
        )  # fmt: skip
    console.print(table)
    console.print(
        f"Prediction interval (RR): [{fmt(math.exp(result.pi_lb))}, {fmt(math.exp(result.pi_ub))}]; "
        f"subgroup differences p = {fmt_p(by_alloc.q_between_pval)}; "
        f"latitude slope {fmt(latitude.coef[1], 4)} per degree (p = {fmt_p(latitude.coef_pval[1])}, "
        f"R2 = {fmt(latitude.r2, 1)}%)"
    )
    console.print(
        f"Egger p = {fmt_p(summary['egger']['pval'])}; trim-and-fill k0 = "
        f"{summary['trim_and_fill']['k0']} ({summary['trim_and_fill']['side']})"
    )
    console.print(f"Wrote {json_path} and " + ", ".join(str(p) for p in files.values()))

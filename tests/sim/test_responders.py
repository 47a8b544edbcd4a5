"""Responder analysis and mechanism contributions: shapes, null therapy gives no effect, figures written."""

from __future__ import annotations

import dataclasses

from typer.testing import CliRunner

from stemdm.cli import app
from stemdm.sim.parameters import Parameters, Therapy
from stemdm.sim.plots import responder_plot, trajectory_plot
from stemdm.sim.responders import MECHANISMS, PATHWAYS, mechanism_contributions, responder_analysis
from stemdm.sim.trial import TrialDesign, run_trial

DESIGN = TrialDesign(patients_per_arm=30, weeks=12, visits=[0, 12], infusions=2, interval_weeks=4, seed=9)


def test_responder_table_and_null_therapy():
    table = responder_analysis(DESIGN, patients=200, params=Parameters())
    assert len(table) == len(PATHWAYS) * 4 * 4
    assert (table.groupby(["pathway", "phenotype"])["n"].sum() == 200).all()
    null = dataclasses.replace(
        Parameters(),
        therapy=dataclasses.replace(Therapy(), e_immuno=0, e_protect=0, e_regen=0, e_micro=0, e_sens=0),
    )
    effects = responder_analysis(DESIGN, patients=120, params=null)
    msc = effects[effects["pathway"] != "PSC-islet (encapsulated)"]  # a graft secretes insulin by itself
    assert (msc["mean_effect"].abs() < 1e-12).all()


def test_contributions_and_figures(tmp_path):
    contributions = mechanism_contributions(DESIGN, patients=100, params=Parameters())
    assert list(contributions["mechanisms"]) == ["all mechanisms"] + [f"{m} alone" for m in MECHANISMS]
    result = run_trial(DESIGN, Parameters())
    assert trajectory_plot(result, tmp_path / "t.png", contributions).read_bytes().startswith(b"\x89PNG")
    table = responder_analysis(DESIGN, patients=100, params=Parameters())
    assert responder_plot(table, tmp_path / "r.png").read_bytes().startswith(b"\x89PNG")


def test_cli_figures(tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "--patients",
            "20",
            "--weeks",
            "12",
            "--visits",
            "0,12",
            "--infusions",
            "2",
            "--plot",
            str(tmp_path / "p.png"),
            "--responders",
            str(tmp_path / "r.png"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "p.png").exists() and (tmp_path / "r.csv").exists()

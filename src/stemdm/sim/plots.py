"""Figures of in-silico trials: endpoint trajectories by arm with 95 % bands, mechanism contributions, and the
responder map (effect by baseline phenotype quartile and pathway)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from stemdm.i18n import figure_footer  # noqa: E402
from stemdm.i18n import figure_text as _  # noqa: E402
from stemdm.sim.trial import ENDPOINTS, TrialResult  # noqa: E402

#: each endpoint's unit (the name comes from the term catalog, in the figure's language)
UNITS = {
    "hba1c": "%", "fbg": "mg/dL", "ppbg": "mg/dL", "cpep_fasting": "ng/mL", "cpep_stimulated": "ng/mL",
    "insulin_dose": "IU/day", "homa_b": "", "homa_ir": "", "cpep_index": "100 x CPR / FPG",
    "insulinogenic_index": "dI30/dG30",
}  # fmt: skip


def label(endpoint: str) -> str:
    """An endpoint's panel title: its name and unit."""
    unit = UNITS[endpoint]
    return f"{_(endpoint)} ({unit})" if unit else _(endpoint)


COLOURS = {"therapy": "#1f5fa8", "placebo": "#888888"}


def _save(fig, path: Path) -> Path:
    fig.text(0.01, 0.005, figure_footer(), fontsize=6.5, color="#555555")
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def trajectory_plot(result: TrialResult, path: str | Path, contributions: pd.DataFrame | None = None) -> Path:
    """Mean of each endpoint by arm and visit with a 95 % confidence band (mean +- 1.96 SE); with
    ``contributions``, a last panel with each mechanism's share of the HbA1c effect."""
    path = Path(path)
    weeks = np.array(result.design.visits)
    panels = len(ENDPOINTS) + (contributions is not None)
    cols = 3
    rows = int(np.ceil(panels / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(12, 3.2 * rows), squeeze=False)
    for ax, endpoint in zip(axes.flat, ENDPOINTS, strict=False):
        for arm, run in result.arms.items():
            values = run.values[endpoint]
            mean = np.nanmean(values, axis=1)
            se = np.nanstd(values, axis=1, ddof=1) / np.sqrt(np.isfinite(values).sum(axis=1))
            ax.plot(weeks, mean, marker="o", color=COLOURS[arm], label=_(arm))
            ax.fill_between(weeks, mean - 1.96 * se, mean + 1.96 * se, color=COLOURS[arm], alpha=0.2)
        ax.set_title(label(endpoint), fontsize=9)
        ax.set_xlabel(_("week"), fontsize=8)
        ax.tick_params(labelsize=8)
    axes.flat[0].legend(fontsize=8)
    if contributions is not None:
        ax = axes.flat[len(ENDPOINTS)]
        ax.barh(
            contributions["mechanisms"],
            contributions["mean_effect"],
            xerr=1.96 * contributions["se"],
            color="#1f5fa8",
        )
        ax.axvline(0, color="#999999", linewidth=0.8)
        ax.set_title(_("HbA1c effect by mechanism (%)"), fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[panels:]:
        ax.axis("off")
    title = _("In-silico trial: %(pathway)s vs placebo (%(n)s per arm; parameters %(version)s)") % {
        "pathway": result.design.pathway, "n": result.design.patients_per_arm,
        "version": result.parameters_version,
    }  # fmt: skip
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.045, 1, 0.97))
    fig.text(0.01, 0.025, caption(result), fontsize=6.5, color="#7a3d00")
    return _save(fig, path)


def caption(result: TrialResult) -> str:
    """What the bands are, and where the design leaves the calibrated domain (the warnings' headings)."""
    heads = [warning.split(":")[0] for warning in result.warnings()]
    text = _("Bands: this virtual cohort's Monte Carlo error with the central parameters, not a prediction.")
    if heads:
        text += " " + _("Outside what the calibration saw: %(list)s.") % {"list": "; ".join(heads)}
    return text


def responder_plot(table: pd.DataFrame, path: str | Path) -> Path:
    """Mean individual HbA1c effect by phenotype quartile (rows) and pathway (columns)."""
    path = Path(path)
    phenotypes = list(dict.fromkeys(table["phenotype"]))
    pathways = list(dict.fromkeys(table["pathway"]))
    fig, axes = plt.subplots(1, len(phenotypes), figsize=(3.3 * len(phenotypes), 3.4), squeeze=False)
    for ax, phenotype in zip(axes[0], phenotypes, strict=True):
        part = table[table["phenotype"] == phenotype]
        for pathway in pathways:
            rows = part[part["pathway"] == pathway]
            ax.errorbar(
                rows["quartile"],
                rows["mean_effect"],
                yerr=1.96 * rows["se"],
                marker="o",
                capsize=2,
                label=_(pathway),
            )
        ax.axhline(0, color="#999999", linewidth=0.8)
        ax.set_title(_(phenotype), fontsize=9)
        ax.set_xlabel(_("baseline quartile"), fontsize=8)
        ax.set_xticks([1, 2, 3, 4])
        ax.tick_params(labelsize=8)
    axes[0, 0].set_ylabel(_("HbA1c effect (%)"), fontsize=8)
    axes[0, -1].legend(fontsize=7)
    fig.suptitle(_("Who benefits in silico: individual HbA1c effect by baseline phenotype"), fontsize=10)
    fig.tight_layout(rect=(0, 0.04, 1, 0.94))
    return _save(fig, path)

"""Forest plot in the RevMan layout, contour-enhanced funnel plot, Baujat plot (matplotlib).

The file type follows the extension: .png, .svg or .pdf. Ratio measures are drawn on a log
axis labelled with back-transformed values.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec, TypeVar

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Polygon  # noqa: E402
from scipy import stats  # noqa: E402

from stemdm.i18n import figure_footer  # noqa: E402
from stemdm.i18n import figure_text as _  # noqa: E402
from stemdm.meta.errors import MetaInputError  # noqa: E402
from stemdm.meta.model import MetaResult  # noqa: E402
from stemdm.meta.report import COMMON_EFFECT, METHOD_NAMES, TEST_NAMES, fmt, fmt_p  # noqa: E402
from stemdm.meta.sensitivity import baujat  # noqa: E402

P = ParamSpec("P")
R = TypeVar("R")
FORMATS = (".png", ".svg", ".pdf")
ROW_HEIGHT_INCHES = 0.28
#: Most studies drawn one per row or label: beyond it a figure is unreadable and takes minutes to render.
MAX_PLOT_STUDIES = 500


def plain_text(function: Callable[P, R]) -> Callable[P, R]:
    """Labels from data are text, never mathtext: a '$' in a study name is drawn, not parsed (or crashed
    on)."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with matplotlib.rc_context({"text.parse_math": False}):
            return function(*args, **kwargs)

    return wrapper


def _require_plottable(result: MetaResult, plot: str) -> None:
    if result.k > MAX_PLOT_STUDIES:
        raise MetaInputError(
            f"a {plot} of {result.k:,} studies would be unreadable (at most {MAX_PLOT_STUDIES}); "
            "plot subgroups, or a funnel plot",
            field="path",
        )


def _require_pooled(result: MetaResult, plot: str) -> None:
    if result.coef is not None:
        raise MetaInputError(
            f"a {plot} of a meta-regression would show its intercept as if it were a pooled effect; "
            "plot the model without moderators (or one per subgroup)",
            field="mods",
        )


def _check_path(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise MetaInputError(f"plot file must end in one of {FORMATS}: {path}", field="path")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _save(fig, path: Path) -> Path:
    """Every figure carries the not-medical-advice line; written at 150 dpi, then closed."""
    fig.text(0.01, 0.005, figure_footer(), fontsize=6.5, color="#555555")
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


@dataclass
class _Row:
    """One line of the forest plot: a study, a diamond, or text."""

    kind: str  # "header", "study", "diamond", "pi", "text"
    label: str
    estimate: float | None = None
    lower: float | None = None
    upper: float | None = None
    weight: float | None = None
    n1: float | None = None
    n2: float | None = None
    bold: bool = False


def _study_rows(result: MetaResult, weights: np.ndarray) -> list[_Row]:
    table = result.study_table()
    effects = result.effects
    rows = []
    for i, record in table.iterrows():
        rows.append(
            _Row(
                "study", str(record["study"]), record["yi"], record["ci_lb"], record["ci_ub"],
                weights[i], None if effects.n1 is None else effects.n1[i],
                None if effects.n2 is None else effects.n2[i],
            )
        )  # fmt: skip
    return rows


def _het_text(result: MetaResult) -> str:
    if result.q is None:
        return _("Heterogeneity: not applicable (one study)")
    tau = f"Tau\u00b2 = {fmt(result.tau2, 3)}; " if result.method not in COMMON_EFFECT else ""
    return _("Heterogeneity: %(tau)sChi² = %(q)s, df = %(df)s (%(p)s); I² = %(i2)s%%") % {
        "tau": tau,
        "q": fmt(result.q, 2),
        "df": result.q_df,
        "p": _p_text(result.q_pval),
        "i2": fmt(result.i2, 0),
    }


def _test_text(result: MetaResult) -> str:
    name = "Z" if result.dist_df is None else f"t({result.dist_df:g})"
    return _("Test for overall effect: %(name)s = %(value)s (%(p)s)") % {
        "name": name,
        "value": fmt(abs(result.stat), 2),
        "p": _p_text(result.pval),
    }


def _p_text(p: float | None) -> str:
    text = fmt_p(p)
    return f"P {text}" if text.startswith("<") else f"P = {text}"


def _summary_rows(result: MetaResult, label: str, with_pi: bool) -> list[_Row]:
    total_n1 = None if result.effects.n1 is None else float(np.sum(result.effects.n1))
    total_n2 = None if result.effects.n2 is None else float(np.sum(result.effects.n2))
    rows = [
        _Row("diamond", label, result.estimate, result.ci_lb, result.ci_ub, None,
             total_n1, total_n2, bold=True),
    ]  # fmt: skip
    if with_pi and result.pi_lb is not None:
        rows.append(_Row("pi", _("Prediction interval"), result.estimate, result.pi_lb, result.pi_ub))
    rows.append(_Row("text", _het_text(result)))
    rows.append(_Row("text", _test_text(result)))
    return rows


def _forest_rows(result: MetaResult) -> list[_Row]:
    if result.subgroups is None:
        return _study_rows(result, result.weights) + _summary_rows(result, _("Total"), True)
    rows: list[_Row] = []
    total_weight = {name: sub.weights for name, sub in result.subgroups.items()}
    for name, sub in result.subgroups.items():
        rows.append(_Row("header", f"{result.by}: {name}", bold=True))
        # weights within the whole analysis, as RevMan shows them
        overall_share = _overall_weights(result, sub)
        rows.extend(_study_rows(sub, overall_share if overall_share is not None else total_weight[name]))
        rows.extend(_summary_rows(sub, _("Subtotal (%(name)s)") % {"name": name}, False))
    rows.extend(_summary_rows(result, _("Total"), True))
    between = _("Test for subgroup differences: Chi² = %(q)s, df = %(df)s (%(p)s)") % {
        "q": fmt(result.q_between, 2),
        "df": result.q_between_df,
        "p": _p_text(result.q_between_pval),
    }
    rows.append(_Row("text", between))
    return rows


def _overall_weights(result: MetaResult, sub: MetaResult) -> np.ndarray | None:
    """Each subgroup study's percentage weight in the overall model, matched by label."""
    lookup = dict(zip(result.effects.study, result.weights, strict=True))
    if len(lookup) != len(result.effects.study):
        return None
    return np.array([lookup[s] for s in sub.effects.study])


def _to_display(result: MetaResult, value: float | None) -> float | None:
    if value is None:
        return None
    return math.exp(value) if result.is_ratio else value


@plain_text
def forest_plot(
    result: MetaResult,
    path: str | Path,
    *,
    labels: tuple[str, str] = ("Favours treatment", "Favours control"),
    group_names: tuple[str, str] = ("Treatment", "Control"),
    title: str | None = None,
) -> Path:
    """A forest plot in the RevMan layout, written to ``path`` (.png, .svg or .pdf).

    Columns: study, n per group, weight (%), effect with CI; squares sized by weight, diamonds
    for (sub)totals, a bar for the prediction interval, heterogeneity and test lines, favours
    labels under the axis, and the not-medical-advice line.
    """
    _require_pooled(result, "forest plot")
    _require_plottable(result, "forest plot")
    path = _check_path(path)
    rows = _forest_rows(result)
    n_rows = len(rows) + 3
    fig = plt.figure(figsize=(11, max(3.5, n_rows * ROW_HEIGHT_INCHES + 1.2)))
    text_ax = fig.add_axes([0.01, 0.12, 0.56, 0.80])
    plot_ax = fig.add_axes([0.58, 0.12, 0.40, 0.80], sharey=text_ax)
    text_ax.set_axis_off()
    top = len(rows)
    _header(text_ax, plot_ax, result, top, group_names)
    for position, row in enumerate(rows):
        y = top - position - 1
        _draw_text_row(text_ax, row, y, result)
        _draw_graphic_row(plot_ax, row, y, result)
    _style_axis(plot_ax, result, rows, top, labels)
    text_ax.set_ylim(-1.5, top + 1.5)
    default_title = (
        f"{MEASURE_NAMES[result.measure]}: {METHOD_NAMES.get(result.method, result.method)}; "
        f"{TEST_NAMES.get(result.test, result.test)} test"
    )
    fig.suptitle(title or default_title,
                 fontsize=11, x=0.01, ha="left")  # fmt: skip
    return _save(fig, path)


COLUMNS = {"study": 0.0, "n1": 0.46, "n2": 0.58, "weight": 0.72, "effect": 1.0}


def _header(text_ax, plot_ax, result, top, group_names) -> None:
    y = top + 0.6
    text_ax.text(COLUMNS["study"], y, _("Study"), fontweight="bold", fontsize=9, va="center")
    if result.effects.n1 is not None:
        text_ax.text(COLUMNS["n1"], y, f"{group_names[0]}\nN", fontweight="bold", fontsize=8,
                     ha="right", va="center")  # fmt: skip
        text_ax.text(COLUMNS["n2"], y, f"{group_names[1]}\nN", fontweight="bold", fontsize=8,
                     ha="right", va="center")  # fmt: skip
    text_ax.text(COLUMNS["weight"], y, _("Weight"), fontweight="bold", fontsize=9, ha="right", va="center")
    text_ax.text(COLUMNS["effect"], y, effect_header(result), fontweight="bold",
                 fontsize=8.5, ha="right", va="center")  # fmt: skip


#: the measure and model names are translated where drawn (catalog entries: stemdm.i18n.terms.FIGURES)
MEASURE_NAMES = {
    "MD": "Mean Difference", "SMD": "Std. Mean Difference", "ROM": "Ratio of Means",
    "RR": "Risk Ratio", "OR": "Odds Ratio", "RD": "Risk Difference", "GEN": "Effect",
}  # fmt: skip


def effect_header(result: MetaResult) -> str:
    """The effect column's header as RevMan writes it, e.g. 'Risk Ratio\nIV, Random, 95% CI'."""
    pooling = {"MH": "M-H", "PETO": "Peto"}.get(result.pooling, "IV")
    model = "Fixed" if result.method in COMMON_EFFECT else "Random"
    return f"{_(MEASURE_NAMES[result.measure])}\n{pooling}, {_(model)}, {result.level:g}% " + _("CI")


def _draw_text_row(ax, row: _Row, y: float, result: MetaResult) -> None:
    weight = "bold" if row.bold else "normal"
    if row.kind in ("text",):
        ax.text(COLUMNS["study"], y, row.label, fontsize=7.5, va="center", style="italic")
        return
    ax.text(COLUMNS["study"], y, row.label, fontsize=8.5, va="center", fontweight=weight)
    if row.kind == "header":
        return
    if row.n1 is not None:
        ax.text(COLUMNS["n1"], y, f"{row.n1:g}", fontsize=8.5, ha="right", va="center", fontweight=weight)
    if row.n2 is not None:
        ax.text(COLUMNS["n2"], y, f"{row.n2:g}", fontsize=8.5, ha="right", va="center", fontweight=weight)
    if row.weight is not None:
        ax.text(COLUMNS["weight"], y, f"{row.weight:.1f}%", fontsize=8.5, ha="right", va="center")
    elif row.kind == "diamond":
        ax.text(COLUMNS["weight"], y, "", fontsize=8.5)
    values = [_to_display(result, v) for v in (row.estimate, row.lower, row.upper)]
    if row.kind == "pi":
        text = f"[{fmt(values[1], 2)}, {fmt(values[2], 2)}]"
    else:
        text = f"{fmt(values[0], 2)} [{fmt(values[1], 2)}, {fmt(values[2], 2)}]"
    ax.text(COLUMNS["effect"], y, text, fontsize=8.5, ha="right", va="center", fontweight=weight)


def _draw_graphic_row(ax, row: _Row, y: float, result: MetaResult) -> None:
    if row.estimate is None:
        return
    est, lo, hi = (_to_display(result, v) for v in (row.estimate, row.lower, row.upper))
    if row.kind == "study":
        ax.plot([lo, hi], [y, y], color="black", lw=0.9)
        size = 4 + 10 * math.sqrt(max(row.weight or 0, 0) / 100)
        ax.plot([est], [y], marker="s", color="#1f4e79", markersize=size, linestyle="none")
    elif row.kind == "diamond":
        diamond = Polygon([[lo, y], [est, y + 0.35], [hi, y], [est, y - 0.35]], closed=True,
                          facecolor="black", edgecolor="black")  # fmt: skip
        ax.add_patch(diamond)
    elif row.kind == "pi":
        ax.plot([lo, hi], [y, y], color="#b22222", lw=3, solid_capstyle="butt")


def _style_axis(ax, result: MetaResult, rows: list[_Row], top: int, labels) -> None:
    values = [
        _to_display(result, v)
        for row in rows
        for v in (row.lower, row.upper)
        if v is not None and math.isfinite(v)
    ]
    null_value = 1.0 if result.is_ratio else 0.0
    if result.is_ratio:
        ax.set_xscale("log")
        low, high = min(values + [null_value]), max(values + [null_value])
        span = max(high / null_value, null_value / low)
        ax.set_xlim(null_value / span / 1.2, null_value * span * 1.2)
        ticks = [t for t in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)
                 if null_value / span / 1.2 <= t <= null_value * span * 1.2]  # fmt: skip
        ax.set_xticks(ticks)
        ax.set_xticklabels([f"{t:g}" for t in ticks])
        ax.minorticks_off()
    else:
        low, high = min(values + [null_value]), max(values + [null_value])
        half = max(abs(high - null_value), abs(low - null_value)) * 1.1
        ax.set_xlim(null_value - half, null_value + half)
    ax.axvline(null_value, color="grey", lw=0.8)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", left=False, labelleft=False)
    ax.tick_params(axis="x", labelsize=8)
    ax.set_ylim(-1.5, top + 1.5)
    ax.set_xlabel(f"{labels[0]}  \u2190    \u2192  {labels[1]}", fontsize=8)


@plain_text
def funnel_plot(
    result: MetaResult,
    path: str | Path,
    *,
    contours: tuple[float, ...] = (0.10, 0.05, 0.01),
    filled: MetaResult | None = None,
) -> Path:
    """Contour-enhanced funnel plot (Peters et al. 2008): effect vs standard error.

    Shaded regions mark where a study's two-sided p-value against the null would fall in
    (0.10, 1], (0.05, 0.10], (0.01, 0.05] and below 0.01; the pooled estimate has a pseudo-CI
    funnel. ``filled`` (a trim-and-fill result) adds its imputed studies as open circles.
    """
    _require_pooled(result, "funnel plot")
    path = _check_path(path)
    y, se = result.effects.yi, np.sqrt(result.effects.vi)
    se_max = float(se.max()) * 1.1
    grid = np.linspace(0, se_max, 200)
    fig, ax = plt.subplots(figsize=(7, 5.5))
    levels = sorted(contours)  # e.g. 0.01, 0.05, 0.10
    shades = ["#8c8c8c", "#b3b3b3", "#d9d9d9", "#ffffff"]
    z_outer = stats.norm.ppf(1 - levels[0] / 2)
    x_extent = max(float(np.max(np.abs(y))) * 1.1, z_outer * se_max)
    # darkest background: p below the smallest contour; then lighter bands towards the null
    ax.fill_betweenx(grid, -x_extent, x_extent, color=shades[0], zorder=0, label=f"p < {levels[0]:g}")
    band_labels = [f"{lo:g} ≤ p < {hi:g}" for lo, hi in zip(levels, levels[1:], strict=False)]
    band_labels.append(f"p ≥ {levels[-1]:g}")
    for index, p_value in enumerate(levels):
        z = stats.norm.ppf(1 - p_value / 2)
        ax.fill_betweenx(grid, -z * grid, z * grid, color=shades[min(index + 1, 3)],
                         zorder=index + 1, label=band_labels[index])  # fmt: skip
    crit = stats.norm.ppf(1 - (1 - result.level / 100) / 2)
    ax.plot(result.estimate - crit * grid, grid, color="black", lw=0.8, ls="--", zorder=9)
    ax.plot(result.estimate + crit * grid, grid, color="black", lw=0.8, ls="--", zorder=9)
    ax.axvline(result.estimate, color="black", lw=1, zorder=9)
    ax.scatter(y, se, color="#1f4e79", zorder=10, s=25, label=_("studies"))
    if filled is not None and "k0" in filled.extra and filled.extra["k0"] > 0:
        k0 = filled.extra["k0"]
        ax.scatter(filled.effects.yi[-k0:], np.sqrt(filled.effects.vi[-k0:]), facecolors="white",
                   edgecolors="#b22222", zorder=10, s=25, label="imputed (trim-and-fill)")  # fmt: skip
    ax.set_ylim(se_max, 0)
    ax.set_xlim(-x_extent, x_extent)
    scale = f"log {result.measure}" if result.is_ratio else result.measure
    ax.set_xlabel(scale)
    ax.set_ylabel(_("Standard error"))
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(_("Contour-enhanced funnel plot (k = %(k)s)") % {"k": result.k}, fontsize=10)
    return _save(fig, path)


@plain_text
def baujat_plot(result: MetaResult, path: str | Path) -> Path:
    """Baujat plot: contribution to heterogeneity (x) vs influence on the pooled result (y)."""
    _require_plottable(result, "Baujat plot")
    path = _check_path(path)
    coordinates = baujat(result)
    fig, ax = plt.subplots(figsize=(7, 5.5))
    ax.scatter(coordinates["x"], coordinates["y"], color="#1f4e79", s=20)
    for label, row in coordinates.iterrows():
        ax.annotate(str(label), (row["x"], row["y"]), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")  # fmt: skip
    ax.set_xlabel("Squared Pearson residual (contribution to heterogeneity)")
    ax.set_ylabel("Influence on the overall result")
    ax.set_title(f"Baujat plot (k = {result.k})", fontsize=10)
    return _save(fig, path)


@plain_text
def labbe_plot(result: MetaResult, path: str | Path) -> Path:
    """L'Abbe plot (L'Abbe et al. 1987) of 2x2 data: event risk in the treatment group against the
    control group, circles sized by study weight, the line of no effect and the pooled effect."""
    if result.effects.counts is None:
        raise MetaInputError("a L'Abbe plot needs 2x2 counts (measure RR, OR or RD)", field="measure")
    _require_pooled(result, "L'Abbe plot")
    path = _check_path(path)
    c = result.effects.counts
    risk_treatment = c["ai"] / (c["ai"] + c["bi"])
    risk_control = c["ci"] / (c["ci"] + c["di"])
    fig, ax = plt.subplots(figsize=(6, 6))
    sizes = 20 + 600 * result.weights / max(float(result.weights.max()), 1e-12)
    ax.scatter(risk_control, risk_treatment, s=sizes, facecolors="none", edgecolors="#1f4e79")
    upper = min(1.0, max(float(np.max(risk_treatment)), float(np.max(risk_control)), 0.02) * 1.15)
    grid = np.linspace(0, upper, 201)
    ax.plot(grid, grid, color="grey", lw=0.8, label="no effect")
    ax.plot(grid, _pooled_curve(result, grid), color="black", lw=1, label=f"pooled {result.measure}")
    ax.set_xlim(0, upper)
    ax.set_ylim(0, upper)
    ax.set_xlabel("Event risk, control group")
    ax.set_ylabel("Event risk, treatment group")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(f"L'Abbe plot (k = {result.k})", fontsize=10)
    return _save(fig, path)


def _pooled_curve(result: MetaResult, control_risk: np.ndarray) -> np.ndarray:
    """Treatment-group risk implied by the pooled effect at each control-group risk."""
    if result.measure == "RR":
        curve = control_risk * math.exp(result.estimate)
    elif result.measure == "OR":
        odds = control_risk / np.where(control_risk < 1, 1 - control_risk, np.nan) * math.exp(result.estimate)
        curve = odds / (1 + odds)
    else:
        curve = control_risk + result.estimate
    return np.where((curve >= 0) & (curve <= 1), curve, np.nan)


@plain_text
def radial_plot(result: MetaResult, path: str | Path) -> Path:
    """Radial (Galbraith 1988) plot: z_i = y_i / s_i against precision 1/s_i, with
    s_i = sqrt(v_i + tau^2); the pooled estimate is the slope of the line through the origin, and
    studies outside the +/- z_(1-alpha/2) band stand out."""
    _require_pooled(result, "radial plot")
    _require_plottable(result, "radial plot")
    path = _check_path(path)
    s_i = np.sqrt(result.effects.vi + result.tau2)
    precision, z = 1 / s_i, result.effects.yi / s_i
    crit = stats.norm.ppf(1 - (1 - result.level / 100) / 2)
    fig, ax = plt.subplots(figsize=(7, 5.5))
    grid = np.linspace(0, float(precision.max()) * 1.1, 100)
    ax.plot(grid, result.estimate * grid, color="black", lw=1, label="pooled estimate (slope)")
    ax.fill_between(grid, result.estimate * grid - crit, result.estimate * grid + crit, color="#d9d9d9",
                    label=f"\u00b1{crit:.2f}")  # fmt: skip
    ax.axhline(0, color="grey", lw=0.6)
    ax.scatter(precision, z, color="#1f4e79", zorder=3, s=22)
    for label, xi, yi in zip(result.effects.study, precision, z, strict=True):
        ax.annotate(label, (xi, yi), fontsize=6, xytext=(3, 2), textcoords="offset points")
    ax.set_xlabel("Precision 1/sqrt(v + tau2)")
    ax.set_ylabel("Standardized effect y/sqrt(v + tau2)")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(f"Radial (Galbraith) plot (k = {result.k})", fontsize=10)
    return _save(fig, path)

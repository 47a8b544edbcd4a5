"""Figures of the review: forest plots (from ``stemdm.meta``), and the forest of reviews (umbrella)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from stemdm.i18n import figure_footer  # noqa: E402
from stemdm.i18n import figure_text as _  # noqa: E402
from stemdm.meta.plots import plain_text  # noqa: E402


@plain_text
def umbrella_forest(rows: list[dict], outcome: str, path: Path) -> Path:
    """One panel per (measure, comparison) group: each review's estimate with its CI, the re-analysis in blue.
    Groups are never drawn on a shared axis (different scales or comparisons)."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        if row["outcome"] == outcome:
            groups.setdefault(row["group"], []).append(row)
    heights = [len(g) + 1.2 for g in groups.values()]
    fig, axes = plt.subplots(
        len(groups),
        1,
        figsize=(9.5, 0.42 * sum(heights) + 1.2),
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
    )
    for ax, (group, items) in zip(axes[:, 0], groups.items(), strict=True):
        _panel(ax, group, items)
    fig.suptitle(
        _("%(outcome)s: published meta-analyses and the re-analysis") % {"outcome": _(outcome)}, fontsize=10
    )
    fig.text(0.01, 0.005, figure_footer(), fontsize=6.5, color="#555555")
    height = fig.get_figheight()
    fig.subplots_adjust(
        left=0.4, right=0.97, top=1 - 0.55 / height, bottom=0.45 / height, hspace=0.35 + 0.1 * len(groups)
    )
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def _timepoint(text: str) -> str:
    number, _sep, unit = text.partition(" ")
    if unit == "months":
        return _("%(m)s months") % {"m": number}
    return _(text)


def _panel(ax, group: str, items: list[dict]) -> None:
    for y, row in enumerate(reversed(items)):
        ours = row["source"] == "stemdm"
        colour = "#1f5fa8" if ours else ("#333333" if not row["flags"] else "#b35900")
        ax.plot([row["ci_lb"], row["ci_ub"]], [y, y], color=colour, linewidth=1.6)
        ax.plot(row["estimate"], y, marker="D" if ours else "s", color=colour, markersize=6)
        label = f"{row['review_id']} ({_(row['subgroup'])}, {_timepoint(row['timepoint'])})"
        if row["flags"]:
            label += " *"
        ax.text(-0.02, y, label, transform=ax.get_yaxis_transform(), ha="right", va="center", fontsize=7.5)
    ratio = group.split(",")[0] in ("RR", "OR")
    if ratio:  # ratios on a log axis around 1 (no effect), as in a forest plot of ratios
        ax.set_xscale("log")
    ax.axvline(1 if ratio else 0, color="#999999", linewidth=0.8, linestyle="--")
    ax.set_yticks([])
    ax.set_ylim(-0.8, len(items) - 0.2)
    ax.set_title(
        _(group)
        + ("   " + _("(* harmonized or flagged: see table)") if any(r["flags"] for r in items) else ""),
        fontsize=8.5,
        loc="left",
    )
    ax.tick_params(axis="x", labelsize=8)
    plt.setp(ax.spines.values(), linewidth=0.6)
    ax.margins(x=0.1)

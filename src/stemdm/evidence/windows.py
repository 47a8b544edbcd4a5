"""Time windows: map a reported timepoint (weeks from randomization) to a review timepoint (months).

A protocol sets the windows; the mapping of every number is recorded (:class:`WindowMapping`), so a reader
sees that, for example, 48 weeks was analysed as 12 months.
"""

from __future__ import annotations

from dataclasses import dataclass

from stemdm.evidence.errors import ConversionError

WEEKS_PER_MONTH = 52.0 / 12.0


@dataclass(frozen=True)
class TimeWindow:
    """Review timepoint ``months`` covers reported weeks in [lo_weeks, hi_weeks] (both inclusive)."""

    months: float
    lo_weeks: float
    hi_weeks: float

    @property
    def label(self) -> str:
        return f"{self.months:g} months"

    def contains(self, weeks: float) -> bool:
        return self.lo_weeks <= weeks <= self.hi_weeks


@dataclass(frozen=True)
class WindowMapping:
    """How one reported timepoint was mapped: the reported weeks, the window chosen (or None), the rule."""

    weeks: float
    window: TimeWindow | None
    rule: str

    @property
    def months(self) -> float | None:
        return None if self.window is None else self.window.months


#: Default windows of the seed review's timepoints (3, 6, 12 months), in weeks. Each centred on its nominal
#: time (13, 26, 52 weeks), wide enough for visit schedules (e.g. 12 weeks, 24 weeks, 48 weeks) and disjoint;
#: 9 weeks (about 2 months) falls outside all of them.
DEFAULT_WINDOWS: tuple[TimeWindow, ...] = (
    TimeWindow(3, 10, 18),
    TimeWindow(6, 20, 34),
    TimeWindow(12, 40, 64),
)


def check_windows(windows: tuple[TimeWindow, ...] | list[TimeWindow]) -> None:
    """Refuse empty, inverted or overlapping windows (a number must map to one timepoint at most)."""
    if not windows:
        raise ConversionError("no time windows given")
    ordered = sorted(windows, key=lambda w: w.lo_weeks)
    for window in ordered:
        if window.lo_weeks > window.hi_weeks or window.lo_weeks < 0:
            raise ConversionError(
                f"window {window.label}: [{window.lo_weeks}, {window.hi_weeks}] weeks is invalid"
            )
    for first, second in zip(ordered, ordered[1:], strict=False):
        if second.lo_weeks <= first.hi_weeks:
            raise ConversionError(
                f"windows {first.label} [{first.lo_weeks:g}, {first.hi_weeks:g}] and {second.label} "
                f"[{second.lo_weeks:g}, {second.hi_weeks:g}] overlap"
            )


def map_timepoint(
    weeks: float, windows: tuple[TimeWindow, ...] | list[TimeWindow] = DEFAULT_WINDOWS
) -> WindowMapping:
    """The window holding ``weeks`` (None outside every window), with the rule applied, in words."""
    check_windows(windows)
    if weeks < 0:
        raise ConversionError(f"timepoint must be >= 0 weeks, got {weeks}")
    for window in windows:
        if window.contains(weeks):
            rule = f"{weeks:g} weeks in [{window.lo_weeks:g}, {window.hi_weeks:g}] weeks -> {window.label}"
            return WindowMapping(weeks, window, rule)
    return WindowMapping(weeks, None, f"{weeks:g} weeks is outside every window")


def months_to_weeks(months: float) -> float:
    """Weeks in ``months`` months (52/12 weeks per month), rounded to 0.1 week."""
    return round(months * WEEKS_PER_MONTH, 1)

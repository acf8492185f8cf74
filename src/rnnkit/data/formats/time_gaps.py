"""Missing steps in a regular time series: a window across them would read months apart as one step.

A series is *regular* when its most common step between consecutive times is taken by at least half
of the steps and every step is a whole multiple of it; a step longer than that usual step is a gap.
Steps are counted in months when every time is a date at midnight on the same day of the month (or
on every month's last day), in business days when a daily series has no Saturday or Sunday, else in
the times' own units (integers, or exact durations between dates). Times that are fractional numbers,
or series with no such usual step (irregular event times), are not checked.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnkit.data.formats.errors import DataFileError


def time_steps(times: Any) -> tuple[np.ndarray, str] | None:
    """The steps between consecutive (sorted) ``times`` as integers, and their unit's name; None when
    the times have no whole unit."""
    import pandas as pd

    if times.dtype.kind == "M":
        t = pd.DatetimeIndex(times)
        midnight = bool((t == t.normalize()).all())
        if midnight and (len(set(t.day)) == 1 or bool(t.is_month_end.all())):
            months = np.asarray(t.year * 12 + t.month, dtype=np.int64)
            return np.diff(months), "month"
        days = t.values.astype("datetime64[D]")
        if midnight and not np.isin(t.dayofweek, (5, 6)).any():
            steps = np.busday_count(days[:-1], days[1:]).astype(np.int64)
            if (steps == 1).mean() >= 0.5:
                return steps, "business day"
        return np.diff(t.values).astype("timedelta64[ns]").astype(np.int64), "ns"
    values = np.asarray(times, dtype=np.float64)
    if not np.all(values == np.round(values)):
        return None
    return np.diff(values).astype(np.int64), ""


def step_in_words(step: int, unit: str) -> str:
    """``step`` in words: ``1 month``, ``3 business days``, ``7 days``, ``5``."""
    import pandas as pd

    if unit == "ns":
        for name, size in (("day", 86_400), ("hour", 3_600), ("minute", 60), ("second", 1)):
            if step % (size * 10**9) == 0:
                return step_in_words(step // (size * 10**9), name)
        return str(pd.Timedelta(step, unit="ns"))
    if not unit:
        return str(step)
    return f"{step} {unit}" + ("s" if step != 1 else "")


def usual_step(times: Any) -> tuple[np.ndarray, int, str] | None:
    """``(steps, usual, unit)`` for a regular series of (sorted) ``times``: the steps between them (as
    :func:`time_steps` counts them), the most common one, and its unit; None for fewer than three
    times, times with no whole unit, or an irregular series (the usual step taken by under half of the
    steps, or a step that is not a whole multiple of it)."""
    if len(times) < 3:
        return None
    found = time_steps(times)
    if found is None:
        return None
    steps, unit = found
    values, counts = np.unique(steps, return_counts=True)
    usual = int(values[np.argmax(counts)])
    if usual <= 0 or counts.max() < 0.5 * len(steps) or np.any(steps % usual):
        return None
    return steps, usual, unit


def first_off_step(times: Any, known: int, whose: str) -> tuple[int, str] | None:
    """For (sorted) ``times`` whose first ``known`` are a regular series (:func:`usual_step`; else
    None): the index of the first later time that is not one usual step after the time before it,
    with what is wrong in words (``"2 step(s) of 1 month missing"``, or ``"{whose} times are 1 month
    apart"`` for a time off the series' unit, such as a date mid-month); None when every one follows."""
    found = usual_step(times.iloc[:known])
    if found is None:
        return None
    _, usual, unit = found
    for i in range(known, len(times)):
        now = time_steps(times.iloc[: i + 1])  # (the unit is read off all the times: one off it changes it)
        step = int(now[0][-1]) if now is not None and now[1] == unit else None
        if step != usual:
            apart = step_in_words(usual, unit)
            return i, (f"{step // usual - 1} step(s) of {apart} missing" if step is not None and step % usual == 0
                       else f"{whose} times are {apart} apart")
    return None


GAP_ADVICE = ("add the missing rows with empty values and pass nan='interpolate' to fill them, or pass "
              "gaps='allow' if the series is meant to skip steps")  # what a training run can do about a gap


def check_gaps(table: Any, key: str, rows: np.ndarray, stamps: Any, time: str, advice: str = GAP_ADVICE) -> None:
    """Raise naming the lines around the first gap of the series ``key`` (its ``rows``, in time order;
    ``stamps`` the table's time column as numbers or dates), if the series is regular. ``advice`` ends
    the message: what the reader (training, or ``rnnkit predict`` on a history) can do about it."""
    found = usual_step(stamps.iloc[rows])
    if found is None:
        return
    steps, usual, unit = found
    gaps = np.flatnonzero(steps > usual)
    if not gaps.size:
        return
    first = int(gaps[0])
    before, after = int(rows[first]), int(rows[first + 1])
    raw = table.frame[time]
    missing = int(steps[first] // usual) - 1
    total = int(((steps[gaps] // usual) - 1).sum())
    raise DataFileError(table.path, f"series {key!r} jumps from time {str(raw.iloc[before])!r} (line "
                        f"{table.line(before)}) to {str(raw.iloc[after])!r}, {missing} step(s) of "
                        f"{step_in_words(usual, unit)} missing ({gaps.size} gap(s), {total} missing step(s) in this "
                        f"series): {advice}", line=table.line(after), field=time)


__all__ = ["GAP_ADVICE", "check_gaps", "first_off_step", "step_in_words", "time_steps", "usual_step"]

"""``rnnkit predict RUN HISTORY --future FILE``: a forecaster's covariates over the steps it forecasts.

The file names the run's covariates in its header and holds one row per forecast step, sorted by the
run's time column when it holds it (see :mod:`rnnkit.cli.predict_table`). When the history holds
its times too, the future's rows must be the steps that follow the history's last one: a future
that starts before it or repeats it (an overlap), or that skips a step, after the history or between
its own rows, is refused with one line naming the file, the line and both times. A step is the
history's usual step between times (1 month, 1 business day, 7 days, 5 units: as training's
``gaps=`` check counts them, :mod:`rnnkit.data.formats.time_gaps`); a history without such a step,
or a run trained with ``gaps="allow"``, is held to the order alone.

    rnnkit predict runs/sales history.csv --future promos.csv
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnnkit.cli.main import CLIError
from rnnkit.cli.predict_table import Layout, Rows, read_sequences

ADVICE = "--future holds the covariates of the steps that follow the history, one row per step"


def read_future(path: Path, covariates: list[str], horizon: int | None, layout: Layout | None = None, *,
                history: Rows | None = None) -> Any:
    """``(1, H, C)``: the covariates' known values over the forecast's ``H`` steps, read by name (and
    sorted by the run's time column when the file holds it). With ``history`` (the history's rows,
    with their times), the future's times must follow its last one, step by step
    (:func:`check_follows`)."""
    import torch

    if not path.is_file():
        raise CLIError(f"--future file {path} does not exist")
    groups = read_sequences(path, covariates, header_required=True, layout=layout)
    if len(groups) > 1:
        raise CLIError(f"{path}: holds the covariates of {len(groups)} series (one per id); --future goes with "
                       "one history at a time")
    values = groups[0].values
    if horizon is not None and values.shape[0] != horizon:
        raise CLIError(f"{path}: {values.shape[0]} row(s) of covariates, but this forecaster forecasts {horizon} "
                       f"steps and needs one row per step")
    if history is not None:
        check_follows(history, groups[0], layout or Layout())
    return torch.as_tensor(values, dtype=torch.float32)[None]


def check_follows(history: Rows, future: Rows, layout: Layout) -> None:
    """Raise unless the ``future``'s times are the steps after the ``history``'s last time (both in
    time order); nothing to check when either file lacks the layout's time column.

    Both files' times are read as one column, so that dates take one format (that of the history's
    first time, unless the run's ``time_format`` says otherwise)."""
    time = layout.time_column
    if time is None or history.times is None or future.times is None or not history.times:
        return
    import pandas as pd

    from rnnkit.data.formats import DataFileError
    from rnnkit.data.formats.tables import Table, time_stamps

    both = Table.from_lines(pd.DataFrame({time: history.times + future.times}), future.name,
                            history.lines + future.lines)
    try:
        stamps = time_stamps(both, time, layout.time_format)
    except DataFileError as e:  # the history's times read alone: the future's are those in another kind
        raise CLIError(f"{str(e).splitlines()[0]}; --future's times must be written as the history's are "
                       f"({history.times[-1]!r}, {history.name}, line {history.lines[-1]})") from e
    last = len(history.times) - 1
    where = f"{future.name}, line {future.lines[0]}, field {time!r}"
    try:
        after = bool(stamps.iloc[last + 1] > stamps.iloc[last])
    except TypeError:  # numbers and dates: nothing to compare
        after = True
    if not after:
        raise CLIError(f"{where}: time {future.times[0]!r} is not after the history's last time "
                       f"{history.times[-1]!r} ({history.name}, line {history.lines[-1]}); {ADVICE}")
    if layout.gaps != "allow":
        _check_steps(stamps, history, future, time)


def _check_steps(stamps: Any, history: Rows, future: Rows, time: str) -> None:
    """Raise at the first future time that is not one usual step of the history after the time before
    it; nothing to check for a history with no usual step (fewer than three rows, irregular events).
    ``stamps`` are the history's times, then the future's, as numbers or dates."""
    from rnnkit.data.formats.time_gaps import first_off_step

    past, ahead = history.times or [], future.times or []
    off = first_off_step(stamps, len(past), "the history's")
    if off is None:
        return
    k, missing = off[0] - len(past), off[1]
    before = (f"the history's last time {past[-1]!r} ({history.name}, line {history.lines[-1]})" if k == 0
              else f"the time before it, {ahead[k - 1]!r} (line {future.lines[k - 1]})")
    raise CLIError(f"{future.name}, line {future.lines[k]}, field {time!r}: time {ahead[k]!r} is not the step "
                   f"after {before}: {missing}; {ADVICE}")


__all__ = ["check_follows", "read_future"]

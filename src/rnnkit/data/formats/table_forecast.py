"""The forecasting layout of ``csv:``/``parquet:`` tables: one row per time step.

    rnnkit.datasets.load("csv:demand.csv", target="load", time="timestamp", window=48, horizon=24,
                         covariates=["holiday"], id="region")

Options:
    target: the column(s) to forecast (y is ``(horizon,)`` for one, ``(horizon, K)`` for several).
    window (required), horizon (required), stride (1): see :mod:`rnnkit.data.windows`.
    time: rows are sorted by this column within each series (numbers, or dates); a repeated or
        missing time, or text that does not read as numbers or as dates all through the column, is an
        error. Without it, file order is time order.
    time_format: the ``pandas.to_datetime`` format of text dates (``"%d/%m/%Y"``; default: the
        format of the first time, month first for ``01/02/2020``).
    id: a column naming the series of each row (a long table of many series); default one series.
    features: more input columns, read over the window only (x = targets then features).
    covariates: columns known in advance; each window gets them over its horizon as ``future``.
    test: a file with the steps that follow the training file (same columns); its steps are the test
        targets. Otherwise the last ``test_size`` steps of each series (default: one horizon).
    valid_size: steps before the test segment held out for validation (default one horizon when the
        series is long enough, else 0). The split is chronological, not random: valid and test
        targets are never inside a training window (inputs may look back, as at forecast time).
    nan: ``"raise"`` (default, names the file, line and column) or ``"interpolate"`` (linear in time;
        the count is in ``info.extra["nan_filled"]``). Each split is filled from its own steps and
        the steps before it, never from a later split: a gap whose next value lies in a later split
        takes the last value before it (so no valid or test value reaches a training target).
    gaps: ``"raise"`` (default) refuses a regular series with missing steps (a month absent from a
        monthly series), naming the lines around the first gap; ``"allow"`` reads the rows as they
        are. See :mod:`rnnkit.data.formats.time_gaps` for what counts as regular.
    scale: None (default) | ``"standard"`` | ``"minmax"``, fitted on the training steps only, applied
        to x and y (``dataset.extras["scaler"]``; invert predictions with
        ``scaler.inverse_transform(pred, features=info.extra["target_features"])``). Covariates are not
        scaled. None by default: the Forecaster standardises every window itself (its instance
        scaling), and a series kept in its own units can take a log transform, which a standardised
        one (with values below zero) cannot.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.data.dataset import DatasetInfo, ExampleList, SequenceDataset
from rnnkit.data.formats.errors import DataFileError
from rnnkit.data.formats.tables import (
    ScaleKind,
    as_list,
    make_scaler,
    numeric_block,
    read_table,
    series_rows,
    time_stamps,
)
from rnnkit.data.formats.time_gaps import check_gaps, first_off_step
from rnnkit.data.windows import NanPolicy, chronological_split, fill_missing, make_windows

Series = dict[str, Any]  # key, values (N, F), future (N, C) | None, n_test


def _block(table: Any, columns: list[str], rows: np.ndarray, nan: NanPolicy) -> np.ndarray:
    """The rows' values of ``columns``: checked under ``nan="raise"``, else with their NaNs kept
    (they are filled split by split, once the splits are known)."""
    if nan == "raise":
        return numeric_block(table, columns, rows, nan)[0]
    return np.stack([table.numbers(c, rows=rows) for c in columns], axis=1)


def _fill_by_split(values: np.ndarray, ends: list[int], name: str) -> tuple[np.ndarray, int]:
    """NaNs filled linearly in time, each split (ending at the steps ``ends``) from itself and the
    filled steps before it alone; a gap at the end of a split takes its last value before."""
    out, start = values.copy(), 0
    for end in ends:
        if end > start:
            out[start:end] = fill_missing(out[:end], policy="interpolate", name=name)[0][start:end]
            start = end
    return out, int(np.isnan(values).sum())


def _check_test_follows(tables: list[Any], parts: list[dict[str, np.ndarray]], time: str,
                        time_format: str | None, gaps: str) -> None:
    """A test file holds the steps after each series' training steps: a first test time that is not
    later than the last training time (an earlier file, or one that repeats training steps) is an error;
    so is, with ``gaps="raise"``, a regular series whose test file skips steps after its training file."""
    import pandas as pd

    train_t, test_t = time_stamps(tables[0], time, time_format), time_stamps(tables[1], time, time_format)
    for key, rows in parts[1].items():
        last, first = train_t.iloc[parts[0][key][-1]], test_t.iloc[rows[0]]
        try:
            after = bool(first > last)
        except TypeError:  # times of different kinds: nothing to compare
            continue
        table, end = tables[1], tables[0].frame[time].iloc[parts[0][key][-1]]
        where = f"series {key!r} starts at time {table.frame[time].iloc[rows[0]]!r}"
        if not after:
            raise DataFileError(table.path, f"{where}, not after the training file's last time {end!r}: a test file "
                                "holds the steps that follow the training file", line=table.line(int(rows[0])),
                                field=time)
        if gaps != "raise":
            continue
        seam = pd.concat([train_t.iloc[parts[0][key]], test_t.iloc[rows[:1]]], ignore_index=True)
        off = first_off_step(seam, len(parts[0][key]), "the training file's")
        if off is not None:
            missing = off[1]
            raise DataFileError(table.path, f"{where}, not the step after the training file's last time {end!r} "
                                f"({tables[0].path}, line {tables[0].line(int(parts[0][key][-1]))}): {missing}; "
                                "add the missing rows with empty values and pass nan='interpolate' to fill them, "
                                "or pass gaps='allow' if the series is meant to skip steps",
                                line=table.line(int(rows[0])), field=time)


def load_series_table(path: str, *, target: str | Sequence[str], horizon: int, window: int | None = None,
                      stride: int = 1, time: str | None = None, time_format: str | None = None, id: str | None = None,
                      features: Sequence[str] | None = None, covariates: Sequence[str] | None = None,
                      test: str | None = None, test_size: int | None = None, valid_size: int | None = None,
                      nan: NanPolicy = "raise", scale: ScaleKind = None, gaps: str = "raise", name: str | None = None,
                      read_options: dict[str, Any] | None = None) -> SequenceDataset:
    """Windows for forecasting from a table of time steps (see the module docstring)."""
    if window is None:
        raise ValueError("forecasting from a table needs window= (how many past steps each input holds)")
    for key, steps in (("horizon", horizon), ("window", window), ("stride", stride), ("test_size", test_size),
                       ("valid_size", valid_size)):
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int | np.integer)):
            raise ValueError(f"{key} must be a whole number of steps, got {steps!r} ({type(steps).__name__})")
    if nan not in ("raise", "interpolate"):
        raise ValueError(f"nan must be 'raise' or 'interpolate', got {nan!r}")
    if gaps not in ("raise", "allow"):
        raise ValueError(f"gaps must be 'raise' or 'allow', got {gaps!r}")
    targets, extra, cov = as_list(target), as_list(features), as_list(covariates)
    columns = targets + [c for c in extra if c not in targets]
    tables = [read_table(path, read_options=read_options)]
    if test is not None:
        tables.append(read_table(test, read_options=read_options))
    for t in tables:
        t.need(targets, "target")
        t.need(extra, "feature")
        t.need(cov, "covariate")
        t.need([c for c in (time, id) if c is not None], "time/id")
    parts = [series_rows(t, id, time, time_format) for t in tables]
    if time is not None and gaps == "raise":
        for t, part in zip(tables, parts):
            stamps = time_stamps(t, time, time_format)
            for key, rows in part.items():
                check_gaps(t, key, rows, stamps, time)
    if test is not None:
        unknown = sorted(set(parts[1]) - set(parts[0]))
        if unknown:
            raise DataFileError(test, f"series {unknown[:5]} do not appear in the training file {path}", field=id)
        if time is not None:
            _check_test_follows(tables, parts, time, time_format, gaps)

    series: list[Series] = []
    for key, rows in parts[0].items():
        chunks = [(tables[0], rows)] + ([(tables[1], parts[1][key])] if test is not None and key in parts[1] else [])
        values = [_block(table, columns, r, nan) for table, r in chunks]
        futures = [_block(table, cov, r, nan) for table, r in chunks] if cov else []
        n_test = len(values[1]) if len(values) > 1 else (horizon if test_size is None else test_size)
        if len(values) > 1 and n_test < horizon:
            raise DataFileError(test or path, f"series {key!r} has {n_test} step(s), fewer than horizon={horizon}: a "
                                "test file needs at least one horizon of steps after the training file",
                                field=id if id is not None else targets[0])
        series.append({"key": key, "values": np.concatenate(values), "n_test": n_test,
                       "future": np.concatenate(futures) if cov else None})

    splits = []
    for s in series:
        n = len(s["values"])
        v_size = valid_size
        if v_size is None:
            v_size = horizon if n - s["n_test"] - horizon >= window + horizon else 0
        try:
            splits.append(chronological_split(n, test_size=s["n_test"], valid_size=v_size, window=window,
                                              horizon=horizon))
        except ValueError as e:
            raise DataFileError(path, f"series {s['key']!r}: {e}", field=id) from e

    filled = 0
    if nan == "interpolate":
        for s, sp in zip(series, splits):
            ends = [sp.train.stop, sp.valid.stop, len(s["values"])]
            try:
                s["values"], count = _fill_by_split(s["values"], ends, f"series {s['key']!r} columns {columns}")
                filled += count
                if cov:
                    s["future"], count = _fill_by_split(s["future"], ends, f"series {s['key']!r} covariates {cov}")
                    filled += count
            except ValueError as e:
                raise DataFileError(path, str(e), field=id) from e

    scaler = make_scaler(scale)
    if scaler is not None:
        scaler.fit([s["values"][: sp.train.stop] for s, sp in zip(series, splits)])
    out: dict[str, list[Any]] = {"train": [], "valid": [], "test": []}
    for s, sp in zip(series, splits):
        values = s["values"] if scaler is None else scaler.transform(s["values"])
        for split_name, seg in (("train", sp.train), ("valid", sp.valid), ("test", sp.test)):
            if len(seg):
                out[split_name] += make_windows(
                    values, window=window, horizon=horizon, stride=stride,
                    targets=0 if len(targets) == 1 else list(range(len(targets))), covariates=s["future"],
                    segment=seg, meta={"series": s["key"]})
    if not out["train"]:
        raise DataFileError(path, f"no training window fits: window={window} + horizon={horizon} is longer "
                            "than every series' training part")
    info = DatasetInfo(
        name=name or Path(path).stem, shape="forecasting", task="forecasting", input_kind="series",
        description=f"time series from {path}", num_features=len(columns), horizon=horizon, window=window,
        num_targets=len(targets), source=str(path), metric="mae", higher_is_better=False,
        extra={"columns": columns, "target_features": list(range(len(targets))), "covariates": cov,
               "series": len(series), "nan_filled": filled, "scale": scale})
    return SequenceDataset(info=info, train=ExampleList(out["train"]), valid=ExampleList(out["valid"]),
                           test=ExampleList(out["test"]), extras={} if scaler is None else {"scaler": scaler})


__all__ = ["load_series_table"]

"""Forecasting sets: AirPassengers, sunspots, Mauna Loa CO2 (weekly) and the M1 yearly series.

All are read offline from the files that aeon and statsmodels ship in their wheels (the packages
are not imported, only their data folders found). Each set is cut in time by
:func:`rnnkit.data.windows.chronological_split`: the last ``test_size`` steps are the test targets,
the ``valid_size`` steps before them the valid targets, the rest train; every window's targets
lie inside its own split, so no test value reaches a training window (see ``data/windows.py``).

``load("air_passengers")`` is the issue-6 protocol: train on 1949-01..1957-12, forecast the last
36 months (1958-01..1960-12) from one origin, scored by MAPE. With the default ``valid_size=36``
the valid window predicts 1955-01..1957-12 and the training windows end by 1954-12; a recipe that
trains a fixed number of epochs passes ``valid_size=0`` to learn from all of 1949..1957.

Scaling is left to the model (the Forecaster scales per window); ``dataset.extras["scaler"]`` is a
:class:`StandardScaler` fitted on the train segment only, for models that want a global one.
``dataset.extras["series"]`` is the whole series (pandas, with timestamps) for baselines and plots,
and ``extras["split"]`` the segment boundaries. For ``m1_yearly`` these three extras are dicts keyed
by series name (one scaler per series: their scales differ by orders of magnitude), and each
window's ``meta["series"]`` names its series.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rnnkit.data.batch import Example
from rnnkit.data.dataset import DatasetInfo, ExampleList, PublishedResult, SequenceDataset
from rnnkit.data.datasets.registry import register
from rnnkit.data.datasets.shipped import ShippedDataError, package_file
from rnnkit.data.scalers import StandardScaler
from rnnkit.data.windows import ChronoSplit, NanPolicy, Segment, chronological_split, fill_missing, make_windows

_DARTS = "Darts quick-start (AirPassengers, train to 1957-12, 36-month forecast)"
_MEASURED = "measured by the rnnkit team with Darts 0.48.1, same split, 3 seeds"


def _mape(model: str, value: float, source: str, note: str = "") -> PublishedResult:
    return PublishedResult(model=model, metric="mape", value=value, source=source, note=note)


def _info(name: str, *, description: str, window: int, horizon: int, metric: str, source: str,
          license: str, sizes: dict[str, int], extra: dict[str, Any],
          published: list[PublishedResult] | None = None) -> DatasetInfo:
    return DatasetInfo(
        name=name, shape="forecasting", task="forecasting", input_kind="series", description=description,
        num_features=1, num_targets=1, window=window, horizon=horizon, metric=metric,
        higher_is_better=False, sizes=sizes, source=source, license=license, published=published or [], extra=extra)


# -- readers: one per shipped file; each returns a pandas Series indexed by timestamps ----------
def _read_csv(path: Path, **kwargs: Any) -> pd.DataFrame:
    try:
        return pd.read_csv(path, **kwargs)
    except (ValueError, pd.errors.ParserError) as e:
        raise ShippedDataError(f"{path}: cannot be parsed as CSV: {e}") from e


def _numeric(path: Path, frame: pd.DataFrame, column: str, *, allow_missing: bool = False) -> np.ndarray:
    """The column as float64; a non-numeric cell names the file's line (header = line 1)."""
    if column not in frame:
        raise ShippedDataError(f"{path}: no column {column!r} (columns: {list(frame.columns)})")
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
    raw_missing = frame[column].isna().to_numpy()
    bad = np.flatnonzero(np.isnan(values) & (~raw_missing | (not allow_missing)))
    if bad.size:
        i = int(bad[0])
        raise ShippedDataError(f"{path}:{i + 2}: field {column!r}: {frame[column].iloc[i]!r} is not a number")
    return values


def read_air_passengers() -> pd.Series:
    """Monthly international airline passengers (thousands), 1949-01..1960-12: 144 values."""
    path = package_file("aeon", "datasets", "data", "Airline", "Airline.csv")
    frame = _read_csv(path)
    values = _numeric(path, frame, "Passengers")
    index = pd.PeriodIndex(frame["Date"], freq="M").to_timestamp()
    return pd.Series(values, index=index, name="passengers")


def read_sunspots() -> pd.Series:
    """Yearly mean sunspot numbers, 1700..2008: 309 values."""
    path = package_file("statsmodels", "datasets", "sunspots", "sunspots.csv")
    frame = _read_csv(path)
    values = _numeric(path, frame, "SUNACTIVITY")
    years = _numeric(path, frame, "YEAR").astype(int)
    return pd.Series(values, index=pd.to_datetime([f"{y}-01-01" for y in years]), name="sunactivity")


def read_co2() -> pd.Series:
    """Weekly CO2 (ppm) at Mauna Loa, 1958-03-29..2001-12-29: 2,284 weeks, 59 of them missing."""
    path = package_file("statsmodels", "datasets", "co2", "co2.csv")
    frame = _read_csv(path, dtype={"date": str})
    values = _numeric(path, frame, "co2", allow_missing=True)
    index = pd.to_datetime(frame["date"], format="%Y%m%d", errors="coerce")
    gaps = np.flatnonzero(pd.isna(index).to_numpy() | np.r_[False, np.diff(index.to_numpy()) != np.timedelta64(7, "D")])
    if gaps.size:
        raise ShippedDataError(f"{path}:{int(gaps[0]) + 2}: field 'date': {frame['date'].iloc[gaps[0]]!r} "
                               "is not one week after the previous row")
    return pd.Series(values, index=pd.DatetimeIndex(index), name="co2")


def read_taylor() -> pd.Series:
    """Half-hourly electricity demand, England and Wales, 2000-06-05 to 2000-08-27 (4,032 points)."""
    from pmdarima.datasets import load_taylor  # MIT; the values are written inside its source

    values = np.asarray(load_taylor(), dtype=np.float64)
    index = pd.date_range("2000-06-05", periods=len(values), freq="30min")
    return pd.Series(values, index=index, name="demand_mw")


def read_m1_yearly() -> dict[str, pd.Series]:
    """The 181 yearly series of the M1 competition (15..58 values each), keyed by name."""
    path = package_file("aeon", "datasets", "data", "m1_yearly_dataset", "m1_yearly_dataset.tsf")
    from aeon.datasets import load_from_tsf_file  # reads the local file only

    try:
        frame, _ = load_from_tsf_file(str(path))
    except Exception as e:
        raise ShippedDataError(f"{path}: cannot be read as a .tsf file: {e}") from e
    out = {}
    for name, start, values in zip(frame["series_name"], frame["start_timestamp"], frame["series_value"]):
        v = np.asarray(values, dtype=np.float64)
        out[str(name)] = pd.Series(v, index=pd.date_range(start, periods=len(v), freq="YS"), name=str(name))
    return out


# -- assembly ----------------------------------------------------------------------------------
def _windows_of(name: str, values: np.ndarray, *, window: int, horizon: int, test_size: int,
                valid_size: int, stride: int) -> tuple[list[list[Example]], Any]:
    split = chronological_split(len(values), test_size=test_size, valid_size=valid_size,
                                window=window, horizon=horizon)
    parts = [make_windows(values, window=window, horizon=horizon, stride=stride, targets=0,
                          segment=seg, meta={"series": name}) for seg in (split.train, split.valid, split.test)]
    return parts, split


def series_dataset(info: DatasetInfo, series: pd.Series, *, window: int, horizon: int, test_size: int,
                   valid_size: int, stride: int = 1, nan_policy: NanPolicy = "raise") -> SequenceDataset:
    """Window one series into train / valid / test (chronological) with a train-only scaler."""
    values, filled = fill_missing(series.to_numpy(), policy=nan_policy, name=f"{info.name} series")
    (train, valid, test), split = _windows_of(info.name, values, window=window, horizon=horizon,
                                              test_size=test_size, valid_size=valid_size, stride=stride)
    scaler = StandardScaler().fit(values[: split.train.stop])  # train segment only
    index = series.index
    extra = {**info.extra, "length": len(values), "missing_filled": filled, "nan_policy": nan_policy,
             "test_size": test_size, "valid_size": valid_size, "stride": stride,
             "train_end": str(index[split.train.stop - 1].date()),
             "valid_start": str(index[split.valid.start].date()) if len(split.valid) else None,
             "test_start": str(index[split.test.start].date()) if len(split.test) else None}
    loaded = dataclasses.replace(info, window=window, horizon=horizon, extra=extra,
                                 published=list(info.published))
    filled_series = pd.Series(values[:, 0], index=index, name=series.name)
    extras = {"series": filled_series, "missing": index[series.isna().to_numpy()], "split": split,
              "scaler": scaler}
    return SequenceDataset(loaded, ExampleList(train), ExampleList(valid), ExampleList(test), extras=extras)


AIR_PASSENGERS = _info(
    "air_passengers", window=24, horizon=36, metric="mape", sizes={"steps": 144},
    description="Monthly totals of international airline passengers (thousands), 1949-1960; "
                "train to 1957-12, forecast the last 36 months.",
    source="aeon (aeon/datasets/data/Airline/Airline.csv); Box & Jenkins (1976), Series G",
    license="aeon package: BSD-3-Clause. Data: Box & Jenkins (1976) Series G, a published classic "
            "with no licence of its own (also in R's datasets package)",
    extra={"season_length": 12, "metric_unit": "percent"},
    published=[_mape("ExponentialSmoothing", 5.11, _DARTS), _mape("Theta (tuned)", 4.40, _DARTS),
               _mape("Darts RNNModel (LSTM)", 7.8, _MEASURED, "range 7.8-12.3% across 3 seeds"),
               _mape("Darts BlockRNNModel (LSTM)", 4.6, _MEASURED, "range 4.6-9.0% across 3 seeds")])
SUNSPOTS = _info(
    "sunspots", window=33, horizon=11, metric="mae", sizes={"steps": 309},
    description="Yearly mean sunspot numbers 1700-2008 (309 years); forecast one ~11-year cycle.",
    source="statsmodels (statsmodels/datasets/sunspots/sunspots.csv); NOAA NGDC yearly sunspot numbers",
    license="statsmodels package: BSD-3-Clause. Data: public domain (NOAA), per statsmodels' COPYRIGHT",
    extra={"season_length": 11})
CO2 = _info(
    "co2", window=104, horizon=52, metric="mae", sizes={"steps": 2284},
    description="Weekly atmospheric CO2 (ppm) at Mauna Loa, 1958-03 to 2001-12 (2,284 weeks); the 59 "
                "missing weeks are interpolated linearly and counted in info.extra['missing_filled'].",
    source="statsmodels (statsmodels/datasets/co2/co2.csv); Keeling & Whorf (2004), SIO flask "
           "samples, via CDIAC",
    license="statsmodels package: BSD-3-Clause. Data: public domain, per statsmodels' COPYRIGHT",
    extra={"season_length": 52})
M1_YEARLY = _info(
    "m1_yearly", window=6, horizon=6, metric="mase", sizes={"series": 181},
    description="The 181 yearly series of the M1 forecasting competition (15-58 years each); "
                "forecast each series' last 6 years.",
    source="aeon (aeon/datasets/data/m1_yearly_dataset/m1_yearly_dataset.tsf); Makridakis et al. "
           "(1982), via the Monash Time Series Forecasting Repository",
    license="aeon package: BSD-3-Clause. Data: Monash Time Series Forecasting Repository, CC BY 4.0",
    extra={"season_length": 1, "num_series": 181})

TAYLOR = _info(
    "taylor", window=336, horizon=48, metric="mae", sizes={"steps": 4032},
    description="Half-hourly electricity demand in England and Wales (MW), 2000-06-05 to 2000-08-27 "
                "(4,032 points, 12 weeks); forecast the next day (48 half-hours) over the last week.",
    source="pmdarima (pmdarima/datasets/taylor.py); Taylor (2003), J. Oper. Res. Soc. 54, 799-805, "
           "also R's forecast::taylor",
    license="pmdarima package: MIT. Data: provided by James W. Taylor for research use, as "
            "distributed in R's forecast package (GPL-3) and pmdarima (MIT)",
    extra={"season_length": 48, "weekly_season": 336})


@register(AIR_PASSENGERS)
def air_passengers(*, window: int = 24, horizon: int = 36, test_size: int = 36, valid_size: int = 36,
                   stride: int = 1) -> SequenceDataset:
    """AirPassengers: 144 months; test = 1958-01..1960-12 (one 36-month window by default)."""
    return series_dataset(AIR_PASSENGERS, read_air_passengers(), window=window, horizon=horizon,
                          test_size=test_size, valid_size=valid_size, stride=stride)


@register(SUNSPOTS)
def sunspots(*, window: int = 33, horizon: int = 11, test_size: int = 33, valid_size: int = 33,
             stride: int = 1) -> SequenceDataset:
    """Sunspots: 309 years; test targets = the last 33 years (1976..2008)."""
    return series_dataset(SUNSPOTS, read_sunspots(), window=window, horizon=horizon,
                          test_size=test_size, valid_size=valid_size, stride=stride)


@register(CO2)
def co2(*, window: int = 104, horizon: int = 52, test_size: int = 104, valid_size: int = 104,
        stride: int = 1, nan_policy: NanPolicy = "interpolate") -> SequenceDataset:
    """CO2: 2,284 weeks; test targets = the last 104 weeks (2000..2001)."""
    return series_dataset(CO2, read_co2(), window=window, horizon=horizon, test_size=test_size,
                          valid_size=valid_size, stride=stride, nan_policy=nan_policy)


@register(TAYLOR)
def taylor(*, window: int = 336, horizon: int = 48, test_size: int = 336, valid_size: int = 336,
           stride: int = 1) -> SequenceDataset:
    """Taylor: 4,032 half-hours; test targets = the last week (336 half-hours)."""
    return series_dataset(TAYLOR, read_taylor(), window=window, horizon=horizon,
                          test_size=test_size, valid_size=valid_size, stride=stride)


@register(M1_YEARLY)
def m1_yearly(*, window: int = 6, horizon: int = 6, valid_size: int = 6, stride: int = 1) -> SequenceDataset:
    """M1 yearly: each series' last ``horizon`` years are its test targets, the ``valid_size``
    years before them its valid targets; one global model learns from all series' train windows."""
    for name, value in (("window", window), ("horizon", horizon), ("stride", stride)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if isinstance(valid_size, bool) or not isinstance(valid_size, int) or valid_size < 0:
        raise ValueError(f"valid_size must be an integer >= 0 (0: no valid split), got {valid_size!r}")
    if 0 < valid_size < horizon:
        raise ValueError(f"valid_size={valid_size} is shorter than horizon={horizon}: no window fits in it")
    all_series = read_m1_yearly()
    parts: list[list[Example]] = [[], [], []]
    scalers, splits, no_train = {}, {}, []
    for name, series in all_series.items():
        values = series.to_numpy()
        n = len(values)
        if n < window + horizon:
            raise ValueError(f"m1_yearly series {name} has {n} values: too short for window={window} "
                             f"plus horizon={horizon}")
        test_start = n - horizon
        valid_start = max(0, test_start - valid_size)
        split = ChronoSplit(Segment(0, valid_start), Segment(valid_start, test_start), Segment(test_start, n))
        for bucket, seg in zip(parts, (split.train, split.valid, split.test)):
            bucket.extend(make_windows(values, window=window, horizon=horizon, stride=stride, targets=0,
                                       segment=seg, meta={"series": name}))
        if n < window + valid_size + 2 * horizon:
            no_train.append(name)  # too short for a training window; still forecast in test
        if split.train.stop >= 2:
            scalers[name] = StandardScaler().fit(values[: split.train.stop])  # train segment only
        splits[name] = split
    extra = {**M1_YEARLY.extra, "valid_size": valid_size, "stride": stride,
             "series_without_train_windows": len(no_train)}
    loaded = dataclasses.replace(M1_YEARLY, window=window, horizon=horizon, extra=extra)
    extras = {"series": all_series, "split": splits, "scaler": scalers, "series_without_train_windows": no_train}
    return SequenceDataset(loaded, ExampleList(parts[0]), ExampleList(parts[1]), ExampleList(parts[2]),
                           extras=extras)

"""The forecasting baselines: each is scored on the test windows only, in the data set's metric; the
airline model recovers a series that follows it exactly, and a cycle that repeats exactly is forecast
exactly from every test origin."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from rnnkit.bench.baselines_series import forecasting_baselines


def _one_series(values: np.ndarray, horizon: int, season: int, *, test_size: int | None = None,
                metric: str = "mape") -> SimpleNamespace:
    n = len(values)
    return SimpleNamespace(
        extras={"series": values, "split": SimpleNamespace(test=slice(n - (test_size or horizon), n))},
        info=SimpleNamespace(name="synthetic", horizon=horizon, window=None, metric=metric,
                             extra={"season_length": season}))


def test_every_forecasting_baseline_scores_the_test_window_and_the_airline_model_fits_a_log_seasonal_trend():
    t = np.arange(120)
    values = np.exp(4.0 + 0.01 * t + 0.2 * np.sin(2 * np.pi * t / 12))  # growth x a fixed monthly pattern
    rows = {r["name"].split(" (")[0]: r["value"] for r in forecasting_baselines(_one_series(values, 24, 12))}
    assert set(rows) == {"Holt-Winters ETS, multiplicative season", "airline SARIMA", "autoregression, order by AIC",
                         "seasonal naive"}
    assert rows["airline SARIMA"] < 0.5  # percent: the model is exact up to its fitted noise
    assert rows["seasonal naive"] > 5.0  # it misses two years of 1%-a-month growth
    assert all(np.isfinite(v) for v in rows.values())


def test_a_long_test_is_forecast_from_every_origin_in_the_data_sets_metric():
    t = np.arange(300)
    values = 50 + 40 * np.sin(2 * np.pi * t / 11)  # an exact 11-step cycle: x_t = 2cos(w) x_(t-1) - x_(t-2) + c
    rows = {r["name"].split(" (")[0]: r["value"] for r in
            forecasting_baselines(_one_series(values, 11, 11, test_size=33, metric="mae"))}
    assert set(rows) == {"Holt-Winters ETS, multiplicative season", "autoregression, order by AIC",
                         "seasonal naive"}  # no airline model: test holds 23 windows
    assert rows["seasonal naive"] < 1e-9 and rows["autoregression, order by AIC"] < 0.05  # MAE, not percent
    shifted = values.copy()
    shifted[-5:] += 100.0  # the last 5 test steps: every window that reaches them is scored on them
    naive = {r["name"]: r["value"] for r in
             forecasting_baselines(_one_series(shifted, 11, 11, test_size=33, metric="mae"))}["seasonal naive"]
    windows = [(o, np.arange(o, o + 11)) for o in range(267, 290)]
    expected = np.mean([np.abs(np.resize(shifted[o - 11: o], 11) - shifted[s]).mean() for o, s in windows])
    assert naive == pytest.approx(expected)


def test_the_models_form_is_chosen_from_the_values_before_the_first_origin():
    """A value at or below zero inside the test segment (an input of later windows only) must not turn
    the multiplicative season additive: the form is chosen where the fit is, before the first origin."""
    t = np.arange(300)
    values = 50 + 40 * np.sin(2 * np.pi * t / 11)
    values[280] = 0.0  # in the test segment (origins 267..289): history of the windows from 281 on
    names = [r["name"] for r in forecasting_baselines(_one_series(values, 11, 11, test_size=33, metric="mae"))]
    assert "Holt-Winters ETS, multiplicative season (statsmodels)" in names


def test_panel_baselines_forecast_each_series_from_its_own_test_origin():
    from rnnkit.bench.baselines_series import panel_baselines
    from rnnkit.data.batch import Example

    lines = {"a": 10.0 + 2.0 * np.arange(20), "b": 100.0 - 3.0 * np.arange(30)}  # straight lines, own lengths
    test = [Example(x=None, y=None, meta={"series": name, "target_start": len(v) - 4}) for name, v in lines.items()]
    ds = SimpleNamespace(extras={"series": lines}, test=SimpleNamespace(examples=test),
                         info=SimpleNamespace(name="panel", horizon=4, window=6, metric="mase",
                                              extra={"season_length": 1}))
    rows = {r["name"].split(" (")[0].split(",")[0]: r["value"] for r in panel_baselines(ds)}
    assert set(rows) == {"Holt linear trend", "random walk with drift", "naive"}
    assert rows["random walk with drift"] < 1e-9 and rows["Holt linear trend"] < 0.01  # a line is its own trend
    assert rows["naive"] == pytest.approx(2.5)  # MASE: steps 1..4 of the slope over a lag-1 naive error of one slope


def test_double_seasonal_holt_winters_forecasts_a_day_and_week_pattern_without_reading_ahead():
    from rnnkit.bench.baselines_series import double_seasonal_holt_winters

    day, week = 8, 56  # a "day" of 8 steps, a "week" of 7 days whose last two are lower
    t = np.arange(6 * week)
    daily = 1.0 + 0.3 * np.sin(2 * np.pi * t / day)
    weekly = np.where((t % week) >= 5 * day, 0.7, 1.0)
    values = 1000.0 * daily * weekly
    origins = list(range(4 * week, 6 * week - day + 1))
    paths = double_seasonal_holt_winters(values, origins, day, day, week)
    err = np.mean([np.abs(p - values[o: o + day]).mean() for o, p in zip(origins, paths)])
    assert err < 1.0  # MW-like units: an exact pattern is forecast to within 0.1%
    changed = values.copy()
    changed[origins[-1]:] *= 3.0  # values from the last origin on: no forecast may move
    assert np.allclose(double_seasonal_holt_winters(changed, origins, day, day, week)[-1], paths[-1])
    with pytest.raises(ValueError, match="two weeks"):
        double_seasonal_holt_winters(values, [week], day, day, week)


def test_a_set_with_a_week_of_seasons_gets_double_seasonal_holt_winters_first_and_a_weekly_naive():
    day, week = 8, 56
    t = np.arange(8 * week)
    values = 1000.0 * (1.0 + 0.3 * np.sin(2 * np.pi * t / day)) * np.where((t % week) >= 5 * day, 0.7, 1.0)
    ds = _one_series(values, day, day, test_size=week, metric="mae")
    ds.info.extra["weekly_season"] = week
    rows = forecasting_baselines(ds)
    names = [r["name"] for r in rows]
    assert names[0].startswith("double seasonal Holt-Winters") and names[-1] == "weekly seasonal naive"
    assert rows[-1]["value"] < 1e-9  # the pattern repeats every week exactly
    assert rows[0]["value"] < 1.0

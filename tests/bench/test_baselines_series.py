"""The forecasting baselines: each is scored on the test window only, and the airline model
recovers a series that follows it exactly."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from rnnkit.bench.baselines_series import forecasting_baselines


def _one_series(values: np.ndarray, horizon: int, season: int) -> SimpleNamespace:
    n = len(values)
    return SimpleNamespace(
        extras={"series": values, "split": SimpleNamespace(test=slice(n - horizon, n))},
        info=SimpleNamespace(name="synthetic", horizon=horizon, extra={"season_length": season}))


def test_every_forecasting_baseline_scores_the_test_window_and_the_airline_model_fits_a_log_seasonal_trend():
    t = np.arange(120)
    values = np.exp(4.0 + 0.01 * t + 0.2 * np.sin(2 * np.pi * t / 12))  # growth x a fixed monthly pattern
    rows = {r["name"].split(" (")[0]: r["value"] for r in forecasting_baselines(_one_series(values, 24, 12))}
    assert set(rows) == {"Holt-Winters ETS, multiplicative season", "airline SARIMA", "seasonal naive"}
    assert rows["airline SARIMA"] < 0.5  # percent: the model is exact up to its fitted noise
    assert rows["seasonal naive"] > 5.0  # it misses two years of 1%-a-month growth
    assert all(np.isfinite(v) for v in rows.values())

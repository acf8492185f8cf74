"""The estimators refuse bad arguments and data with one message naming them (sklearn's own input
checks, which sklearn's estimator checks demand word for word, are left as they are)."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.estimators import RNNForecaster, RNNRegressor

TINY = {"epochs": 1, "hidden_size": 4, "batch_size": 8}
SERIES = np.sin(np.arange(30) / 3).astype(np.float32)


@pytest.mark.parametrize("name,value", [("window", 0), ("window", -1), ("window", 4.5), ("horizon", 0),
                                        ("stride", 0), ("stride", True)])
def test_forecaster_sizes(name, value):
    options = {"window": 4, "horizon": 2, "stride": 1, name: value}
    with pytest.raises(ValueError, match=f"{name} must be a positive integer \\(steps\\), got {value!r}"):
        RNNForecaster(**options, **TINY).fit(SERIES)


@pytest.fixture(scope="module")
def fitted_forecaster():
    return RNNForecaster(window=4, horizon=2, **TINY).fit(SERIES)


@pytest.mark.parametrize("X", [np.ones((0, 4)), np.ones((2, 0))])
def test_forecaster_predict_needs_windows(fitted_forecaster, X):
    with pytest.raises(ValueError, match=r"X must be \(N, window\) or \(N, window, 1\) with N >= 1 windows"):
        fitted_forecaster.predict(X)


def test_forecaster_predict_and_score_check_values_and_sizes(fitted_forecaster):
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        fitted_forecaster.predict(np.full((2, 4), np.nan))
    with pytest.raises(ValueError, match=r"y must hold the true next 2 steps of each of the 2 windows .* got \(3, 2\)"):
        fitted_forecaster.score(np.ones((2, 4)), np.ones((3, 2)))
    assert fitted_forecaster.predict(np.ones((2, 4))).shape == (2, 2)


@pytest.mark.parametrize("y", [np.zeros((6, 2, 2)), np.float32(1.0), np.zeros((6, 0))])
def test_regressor_target_shape(y):
    X = np.random.default_rng(0).normal(size=(6, 5, 2))
    with pytest.raises(ValueError, match=r"y must be \(n_samples,\) or \(n_samples, n_targets\) with n_targets >= 1"):
        RNNRegressor(**TINY).fit(X, y)

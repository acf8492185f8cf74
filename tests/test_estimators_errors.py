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


def test_fit_leaves_the_global_random_generators_as_they_were():
    """A bootstrap loop around fit drew the same resample every time: fit had reseeded numpy."""
    import random

    import torch

    X = np.random.default_rng(0).normal(size=(20, 5, 2)).astype(np.float32)
    y = (X[:, :, 0].sum(1) > 0).astype(int)
    np.random.seed(1)
    random.seed(1)
    torch.manual_seed(1)
    want = (np.random.rand(), random.random(), torch.rand(1).item())
    np.random.seed(1)
    random.seed(1)
    torch.manual_seed(1)
    from rnnkit.estimators import RNNClassifier

    RNNClassifier(**TINY).fit(X, y)
    assert (np.random.rand(), random.random(), torch.rand(1).item()) == want


def test_random_state_takes_none_an_int_or_a_random_state():
    from rnnkit.estimators import RNNClassifier

    X = np.random.default_rng(0).normal(size=(20, 5, 2)).astype(np.float32)
    y = (X[:, :, 0].sum(1) > 0).astype(int)
    for state in (None, np.random.RandomState(0), np.int64(3)):
        assert RNNClassifier(**TINY, random_state=state).fit(X, y).predict(X).shape == (20,)
    same = [RNNClassifier(**TINY, random_state=np.random.RandomState(5)).fit(X, y).predict_proba(X) for _ in range(2)]
    np.testing.assert_array_equal(*same)
    with pytest.raises(ValueError, match="random_state must be None, an int or a numpy RandomState, got 'x'"):
        RNNClassifier(**TINY, random_state="x").fit(X, y)


def test_a_model_fitted_on_sequences_reads_univariate_series_of_any_layout_and_length():
    from rnnkit.estimators import RNNClassifier

    rng = np.random.default_rng(0)
    X3 = rng.normal(size=(20, 8, 1)).astype(np.float32)
    y = (X3[:, :, 0].sum(1) > 0).astype(int)
    clf = RNNClassifier(**TINY).fit(X3, y)
    np.testing.assert_array_equal(clf.predict_proba(X3[:, :, 0]), clf.predict_proba(X3))  # (N, T) = (N, T, 1)
    assert clf.predict(X3[:, :5, 0]).shape == (20,)
    ragged = RNNClassifier(**TINY).fit([s[: 4 + i % 4, 0] for i, s in enumerate(X3)], y)
    assert ragged.predict([X3[0, :7, 0]]).shape == (1,)  # one series
    assert ragged.predict([X3[0, :6, 0], X3[1, :6, 0]]).shape == (2,)  # equal lengths: still series
    with pytest.raises(ValueError, match="X has 1 features per step, but this estimator was fitted with 2"):
        RNNClassifier(**TINY).fit(rng.normal(size=(20, 8, 2)), y).predict(X3[:, :, 0])
    tabular = RNNClassifier(**TINY).fit(X3[:, :, 0], y)  # (N, T) at fit: sklearn's columns, checked as such
    with pytest.raises(ValueError, match="X has 5 features"):
        tabular.predict(X3[:, :5, 0])


def test_the_regressor_standardises_targets_in_float64():
    y = 1e8 + np.arange(40.0)
    X = np.random.default_rng(0).normal(size=(40, 4, 1))
    reg = RNNRegressor(**TINY).fit(X, y)
    assert reg.y_mean_[0] == pytest.approx(1e8 + 19.5, abs=1e-6) and reg.y_std_[0] == pytest.approx(y.std())
    assert len(np.unique(reg.predict(X))) > 20  # float32 targets of 1e8 had kept 6 distinct values of 40


def test_the_forecaster_keeps_its_fitted_sizes_and_reads_windows_by_their_last_steps():
    s = np.sin(np.arange(80) / 4) + 3
    f = RNNForecaster(window=8, horizon=4, **TINY).fit(s[:60])
    f.set_params(horizon=8)  # no refit: score and predict keep what was fitted
    assert f.predict().shape == (4,) and isinstance(f.score(s[60:70]), float)
    windows = np.stack([s[i : i + 20] for i in range(0, 40, 10)])
    np.testing.assert_allclose(f.predict(windows), f.predict(windows[:, -8:]))
    with pytest.raises(ValueError, match="at least window = 8 steps"):
        f.predict(windows[:, :5])
    with pytest.warns(UserWarning, match="1 of 2 series are shorter than window \\+ horizon = 12"):
        two = RNNForecaster(window=8, horizon=4, **TINY).fit([s, s[:5]])
    with pytest.raises(ValueError, match="the last training series has fewer than window = 8 steps"):
        two.predict()
    assert RNNForecaster(window=8, horizon=4, target_transform="none", **TINY).fit(s * 10 ** np.linspace(0, 1, 80)) \
        .model_.config.transform == "none"


def test_a_text_series_that_starts_with_a_missing_value_is_named_as_such():
    import pandas as pd

    from rnnkit.estimators import RNNClassifier

    texts = pd.Series([np.nan, "a b", "b c", "c a"])
    with pytest.raises(ValueError, match="X mixes texts and other values: item 0 is a float"):
        RNNClassifier(**TINY).fit(texts, [0, 1, 0, 1])

"""The estimators' fitted state: a fit that raises leaves it as it was, ``device="auto"`` fits, the
forecaster is no transformer, scores in float64 and keeps its own copy of the last window, and ragged
data in an object array or a pandas Series reads as a list of sequences."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.utils import estimator_checks
from sklearn.utils.validation import check_is_fitted

from rnnkit.estimators import RNNClassifier, RNNForecaster, RNNRegressor

TINY = {"epochs": 1, "hidden_size": 4, "batch_size": 64}
RNG = np.random.default_rng(0)
X = RNG.normal(size=(24, 5, 2)).astype(np.float32)
TARGET = X[:, :, 0].mean(1)
SERIES = np.sin(np.arange(40) / 3) + 2


def _state(est: Any) -> dict[str, Any]:
    """Everything a fit writes, as bytes: equal state, equal bytes (the model's weights included)."""
    return {k: pickle.dumps(v) for k, v in vars(est).items()}


def _fail(est: Any, *args: Any, error: type[BaseException] = ValueError, **params: Any) -> None:
    """``fit(*args)`` with ``params`` raises ``error``; the parameters are set back after it."""
    old = est.get_params()
    with pytest.raises(error):
        est.set_params(**params).fit(*args)
    est.set_params(**{k: old[k] for k in params})


def test_a_failed_refit_leaves_a_classifier_as_it_was() -> None:
    clf = RNNClassifier(**TINY).fit(X, np.where(TARGET > 0, "pos", "neg"))
    state, proba = _state(clf), clf.predict_proba(X)
    _fail(clf, X, np.where(TARGET > 0, "yes", "no"), lr=-1.0)  # the Trainer refuses lr after classes_ were set
    _fail(clf, X[:, :, :1], TARGET[:10] > 0)  # a new width, and y of the wrong length
    _fail(clf, X, np.zeros(24))  # one class
    assert _state(clf) == state and list(clf.classes_) == ["neg", "pos"] and clf.n_features_in_ == 2
    np.testing.assert_array_equal(clf.predict_proba(X), proba)


def test_a_failed_refit_leaves_a_regressor_as_it_was() -> None:
    reg = RNNRegressor(**TINY).fit(X, TARGET)
    state, pred = _state(reg), reg.predict(X)
    _fail(reg, X, TARGET * 1000 + 5000, lr=-1.0)  # had decoded the old model with y_mean_ 5000
    assert _state(reg) == state
    np.testing.assert_array_equal(reg.predict(X), pred)


def test_a_failed_refit_leaves_a_forecaster_as_it_was() -> None:
    f = RNNForecaster(window=6, horizon=2, **TINY).fit(SERIES)
    state, pred = _state(f), f.predict()
    _fail(f, SERIES[:5])  # too short
    _fail(f, np.stack([SERIES, SERIES], 1), lr=-1.0, random_state=1)  # had left num_targets_ 2 and seed_ 1
    assert _state(f) == state and f.num_targets_ == 1
    np.testing.assert_array_equal(f.predict(), pred)


@pytest.mark.parametrize("make, data", [(lambda: RNNClassifier(**TINY), (X, TARGET > 0)),
                                        (lambda: RNNRegressor(**TINY), (X, TARGET)),
                                        (lambda: RNNForecaster(window=6, horizon=2, **TINY), (SERIES,))])
def test_a_failed_first_fit_leaves_the_estimator_unfitted(make: Any, data: tuple[Any, ...]) -> None:
    """scikit-learn's generic check_is_fitted (what meta-estimators call) read seed_ and n_features_in_."""
    est = make()
    _fail(est, *data, lr=-1.0)
    assert vars(est) == vars(make())
    with pytest.raises(NotFittedError):
        check_is_fitted(est)


def test_an_interrupted_or_diverged_training_leaves_the_old_model(monkeypatch: pytest.MonkeyPatch) -> None:
    from rnnkit.train.trainer import Trainer, TrainingDiverged

    reg = RNNRegressor(**TINY).fit(X, TARGET)
    state = _state(reg)
    for error in (TrainingDiverged("the training loss became nan"), KeyboardInterrupt()):
        def stop(*args: Any, error: BaseException = error, **kwargs: Any) -> Any:
            raise error

        monkeypatch.setattr(Trainer, "fit", stop)
        _fail(reg, X[:, :3], TARGET * 1e6, error=type(error))
        assert _state(reg) == state


def test_device_auto_fits_as_the_trainer_reads_it() -> None:
    y = TARGET > 0
    auto = RNNClassifier(**TINY, device="auto").fit(X, y).predict_proba(X)
    if not torch.cuda.is_available():  # "auto" is the CPU here: the same model
        np.testing.assert_array_equal(auto, RNNClassifier(**TINY).fit(X, y).predict_proba(X))
    assert RNNForecaster(window=6, horizon=2, device="auto", **TINY).fit(SERIES).predict().shape == (2,)
    with pytest.raises(ValueError, match="device must be 'auto', 'cpu', 'cuda'"):
        RNNClassifier(**TINY, device="gpu").fit(X, y)


def test_the_forecaster_is_no_transformer() -> None:
    f = RNNForecaster(target_transform="none")
    assert not hasattr(f, "transform") and not hasattr(make_pipeline(f), "transform")
    assert clone(f).get_params()["target_transform"] == "none" and "transform" not in f.get_params()
    with pytest.raises(TypeError, match="unexpected keyword argument 'transform'"):
        RNNForecaster(transform="none")  # type: ignore[call-arg]
    for check in ("check_no_attributes_set_in_init", "check_parameters_default_constructible",
                  "check_get_params_invariance", "check_set_params", "check_estimator_cloneable",
                  "check_do_not_raise_errors_in_init_or_set_params"):  # sklearn's checks that need no fit(X, y)
        getattr(estimator_checks, check)("RNNForecaster", f)


def test_the_forecaster_scores_in_float64() -> None:
    """float32 rounds 1e8 + 3 sin(t) to 1e8: any forecast had scored R² 1.0 against the rounded truth."""
    t = np.arange(60.0)
    s = 1e8 + 3 * np.sin(t / 4)
    f = RNNForecaster(window=8, horizon=3, **TINY).fit(s[:48])
    assert np.abs(f.predict() - s[48:51]).max() > 1  # the float32 model cannot forecast below 8 near 1e8
    assert f.score(s[48:51]) < 0


def test_the_forecasters_last_window_is_its_own_copy() -> None:
    s = SERIES.astype(np.float32)
    f = RNNForecaster(window=6, horizon=2, **TINY).fit(s)
    before = f.predict()
    assert not np.shares_memory(f.last_window_, s)
    s[:] = 100.0  # a rolling buffer, overwritten in place
    np.testing.assert_array_equal(f.predict(), before)


def test_ragged_data_in_an_object_array_or_a_series_reads_as_a_list() -> None:
    import pandas as pd

    seqs = [RNG.normal(size=(2 + i % 5, 2)) for i in range(20)]
    y = np.arange(20) % 2
    items = np.empty(20, dtype=object)
    items[:] = seqs
    want = RNNClassifier(**TINY).fit(seqs, y).predict_proba(seqs)
    for X_ in (items, pd.Series(seqs)):
        np.testing.assert_array_equal(RNNClassifier(**TINY).fit(X_, y).predict_proba(X_), want)
    several = np.empty(2, dtype=object)
    several[:] = [SERIES, SERIES[:30]]
    np.testing.assert_array_equal(RNNForecaster(window=6, horizon=2, **TINY).fit(several).predict(),
                                  RNNForecaster(window=6, horizon=2, **TINY).fit(list(several)).predict())

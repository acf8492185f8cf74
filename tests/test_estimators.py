"""scikit-learn estimators: sklearn's own estimator checks, learning on real shapes, the input layouts."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from rnnkit.estimators import RNNClassifier, RNNForecaster, RNNRegressor

TINY = {"epochs": 1, "hidden_size": 4, "lr": 2e-2, "batch_size": 256}

# The only checks that fail, and why: they demand accuracy > 0.83 / R² > 0.5 after fitting, and a
# 1-epoch, 4-unit RNN (all the test budget allows over ~50 checks) does not get there. That learning
# works is proven below with a few more epochs (test_classifier_learns, test_regressor_learns).
TRAIN_BAR = "a 1-epoch RNN sized for the test budget does not reach sklearn's score bar; see test_*_learns"
# sklearn wants predictions on a subset equal to those on the whole to 1e-7. In float32 a matrix
# product over 1 row and over 20 rows may round differently (one AMD EPYC CPU gave 1.8e-7 where an
# Intel Xeon gave 0); test_predictions_do_not_depend_on_the_batch holds them to 1e-5 instead.
SUBSET = ("float32 products round differently by batch size on some CPUs; "
          "see test_predictions_do_not_depend_on_the_batch")
EXPECTED = {
    "RNNClassifier": {"check_classifiers_train": TRAIN_BAR},
    "RNNRegressor": {"check_regressors_train": TRAIN_BAR, "check_methods_subset_invariance": SUBSET},
}


@parametrize_with_checks([RNNClassifier(**TINY), RNNRegressor(**TINY)],
                         expected_failed_checks=lambda est: EXPECTED.get(type(est).__name__, {}))
def test_sklearn_estimator_checks(estimator, check) -> None:  # type: ignore[no-untyped-def]
    check(estimator)


def _sequences(n: int, seed: int, steps: int = 6) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, steps, 2)).astype(np.float32)
    return X, X[:, :, 0].mean(1)  # the target needs every step of feature 0, none of feature 1


def test_classifier_learns_and_gives_probabilities() -> None:
    X, target = _sequences(200, 0)
    y = np.where(target > 0, "up", "down")
    clf = RNNClassifier(epochs=8, hidden_size=16, lr=2e-2).fit(X[:150], y[:150])
    assert list(clf.classes_) == ["down", "up"]
    assert clf.score(X[150:], y[150:]) > 0.85
    proba = clf.predict_proba(X[150:])
    assert proba.shape == (50, 2) and np.allclose(proba.sum(1), 1.0, atol=1e-5)
    assert len(clf.history_) == 8


def test_regressor_learns_and_handles_multi_output() -> None:
    X, target = _sequences(200, 1)
    reg = RNNRegressor(epochs=8, hidden_size=16, lr=2e-2).fit(X[:150], target[:150])
    assert reg.score(X[150:], target[150:]) > 0.8
    multi = RNNRegressor(**TINY).fit(X, np.stack([target, -target], 1))
    assert multi.predict(X[:3]).shape == (3, 2)


def test_layouts_give_the_same_model() -> None:
    X, target = _sequences(40, 2)
    y = (target > 0).astype(int)
    ntf = RNNClassifier(**TINY).fit(X, y).predict_proba(X)
    nct = RNNClassifier(layout="NCT", **TINY).fit(X.transpose(0, 2, 1), y).predict_proba(X.transpose(0, 2, 1))
    ragged = RNNClassifier(**TINY).fit(list(X), y).predict_proba(list(X))
    np.testing.assert_allclose(nct, ntf, atol=1e-6)
    np.testing.assert_allclose(ragged, ntf, atol=1e-6)


def test_variable_length_sequences_and_clone() -> None:
    rng = np.random.default_rng(3)
    X = [rng.normal(size=(int(n), 3)) for n in rng.integers(3, 15, 30)]
    y = np.array([int(s[:, 0].sum() > 0) for s in X])
    clf = RNNClassifier(**TINY).fit(X, y)
    assert clf.predict(X).shape == (30,)
    assert clone(clf).get_params() == clf.get_params()
    with pytest.raises(ValueError, match="3 features per step, but this estimator was fitted with 2"):
        RNNClassifier(**TINY).fit([s[:, :2] for s in X], y).predict(X)


def test_forecaster_predicts_the_next_horizon() -> None:
    t = np.arange(240, dtype=np.float64)
    series = 10 * np.sin(2 * np.pi * t / 24) + 0.05 * t
    f = RNNForecaster(window=24, horizon=6, epochs=6, lr=1e-2, hidden_size=16, stride=3, batch_size=16)
    f.fit(series[:200])
    nxt = f.predict()
    assert nxt.shape == (6,)
    assert np.abs(nxt - series[200:206]).mean() < 3.0  # the seasonal swing is ±10
    windows = np.stack([series[i : i + 24] for i in range(150, 210, 5)])
    futures = np.stack([series[i + 24 : i + 30] for i in range(150, 210, 5)])
    assert f.predict(windows).shape == (12, 6)
    assert f.score(windows, futures) > 0.5
    with pytest.raises(ValueError, match="too short"):
        RNNForecaster(window=24, horizon=6).fit(series[:20])


def test_forecaster_tunes_with_grid_search_over_time_ordered_folds() -> None:
    from sklearn.metrics import r2_score
    from sklearn.model_selection import GridSearchCV, TimeSeriesSplit

    t = np.arange(96, dtype=np.float64)
    series = 10 * np.sin(2 * np.pi * t / 12) + 0.1 * t
    f = RNNForecaster(window=12, horizon=6, epochs=1, hidden_size=4).fit(series[:80])
    # score(X) reads X as what follows the training series: R² of predict() against its first horizon steps
    assert f.score(series[80:96]) == pytest.approx(r2_score(series[80:86], f.predict()))
    assert f.score(series[80:84]) == pytest.approx(r2_score(series[80:84], f.predict()[:4]))
    with pytest.raises(ValueError, match=r"score\(X\) without y reads X as the 1-column series"):
        f.score(series[80:81])
    search = GridSearchCV(RNNForecaster(window=12, horizon=6, epochs=1), {"hidden_size": [2, 4]},
                          cv=TimeSeriesSplit(n_splits=2, test_size=6), error_score="raise").fit(series)
    assert search.best_params_["hidden_size"] in (2, 4)
    # each fold fits on the past and scores the 6 steps after it, as the estimator's own score does
    fold = RNNForecaster(window=12, horizon=6, epochs=1, hidden_size=4).fit(series[:84])
    assert search.cv_results_["split0_test_score"][1] == pytest.approx(fold.score(series[84:90]))


def test_ema_decay_reaches_the_trainer() -> None:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(24, 5, 2)).astype(np.float32)
    y = (X[:, :, 0].sum(1) > 0).astype(int)
    averaged = RNNClassifier(**{**TINY, "ema_decay": 0.9}).fit(X, y)
    plain = RNNClassifier(**TINY).fit(X, y)
    assert averaged.get_params()["ema_decay"] == 0.9
    assert not np.allclose(averaged.predict_proba(X), plain.predict_proba(X))  # the averaged weights, not the live
    with pytest.raises(ValueError, match="ema_decay must be between 0 and 1"):
        RNNClassifier(**{**TINY, "ema_decay": 1.5}).fit(X, y)


def test_an_ensemble_averages_its_members() -> None:
    import torch

    from rnnkit.data.batch import Example, collate
    from rnnkit.models import Ensemble

    rng = np.random.default_rng(5)
    X = rng.normal(size=(24, 5, 2)).astype(np.float32)
    y = (X[:, :, 0].sum(1) > 0).astype(int)
    clf = RNNClassifier(**{**TINY, "ensemble": 3}).fit(X, y)
    assert isinstance(clf.model_, Ensemble) and len(clf.model_.members) == 3
    batch = collate([Example(x=torch.from_numpy(x)) for x in X])
    with torch.no_grad():
        want = torch.stack([m.predict_proba(batch) for m in clf.model_.members]).mean(0).numpy()
    np.testing.assert_allclose(clf.predict_proba(X), want, rtol=1e-5, atol=1e-6)
    series = np.sin(np.arange(80) / 4).astype(np.float32) + 2
    f = RNNForecaster(window=12, horizon=4, epochs=2, ensemble=2).fit(series)
    assert isinstance(f.model_, Ensemble) and f.predict().shape == (4,)
    with pytest.raises(ValueError, match="ensemble must be a positive integer"):
        RNNClassifier(**{**TINY, "ensemble": 0}).fit(X, y)


def test_a_read_only_input_is_copied_not_shared() -> None:
    """A read-only array (a memmap opened for reading) must not become a torch tensor over memory that
    torch may not write: torch warns, and a write would be undefined."""
    import warnings

    rng = np.random.default_rng(0)
    X = rng.random((12, 5, 2), dtype=np.float32)
    X.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        RNNRegressor(epochs=1, hidden_size=4, batch_size=8).fit(X, rng.random(12)).predict(X)


def test_predictions_do_not_depend_on_the_batch() -> None:
    """What sklearn's subset-invariance check asks, at float32's precision: predicting rows one at
    a time gives what predicting them together gives."""
    X, y = _sequences(40, seed=3)
    reg = RNNRegressor(**TINY).fit(X, y.astype(np.float32))
    clf = RNNClassifier(**TINY).fit(X, (y > np.median(y)).astype(int))
    for predict in (reg.predict, clf.predict_proba):
        whole = predict(X)
        one_by_one = np.concatenate([predict(X[i:i + 1]) for i in range(len(X))])
        np.testing.assert_allclose(one_by_one, whole, rtol=1e-5, atol=1e-5)


def _reviews(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    words = {"pos": ["great", "love", "good", "fast"], "neg": ["bad", "awful", "slow", "broken"]}
    labels = rng.choice(["neg", "pos"], size=n)
    return [" ".join(rng.choice(words[str(lab)], size=3)) + " phone" for lab in labels], labels


def test_texts_are_tokenized_and_learned() -> None:
    import pandas as pd

    X, y = _reviews(200, 0)
    clf = RNNClassifier(epochs=6, hidden_size=16, lr=1e-2).fit(X[:150], y[:150])
    assert clf.score(X[150:], y[150:]) > 0.9  # one word decides the class
    assert clf.tokenizer_.vocab.encode(["awful"]) != [clf.tokenizer_.vocab.unk_id]
    assert not hasattr(clf, "n_features_in_")
    as_series = clf.predict_proba(pd.Series(X[150:160]))
    assert np.allclose(as_series, clf.predict_proba(np.array(X[150:160])))  # list, array and Series alike
    assert clf.predict(["awful slow phone", "never seen words good"]).tolist() == ["neg", "pos"]  # unseen: <unk>
    chars = RNNRegressor(tokenizer="char", lowercase=True, epochs=1, hidden_size=4).fit(
        [t.upper() for t in X[:40]], (y[:40] == "pos").astype(float))
    assert chars.tokenizer_.kind == "char" and "A" not in chars.tokenizer_.vocab.stoi
    assert chars.predict(X[:3]).shape == (3,)
    twin = clone(clf)
    assert twin.get_params()["tokenizer"] == "word" and not hasattr(twin, "tokenizer_")


def test_texts_and_numbers_are_not_mixed_up() -> None:
    X, y = _reviews(20, 1)
    clf = RNNClassifier(**TINY).fit(X, y)
    with pytest.raises(ValueError, match="fitted on texts: X must be a list of texts"):
        clf.predict(np.zeros((2, 5)))
    numeric = RNNClassifier(**TINY).fit(np.zeros((10, 5)), [0, 1] * 5)
    with pytest.raises(ValueError, match="X holds texts, but this estimator was fitted on numeric sequences"):
        numeric.predict(["a text"])
    with pytest.raises(ValueError, match="X is one string"):
        clf.predict("a text")
    with pytest.raises(ValueError, match="item 1 is a int, not a str"):
        clf.predict(["a text", 3])
    with pytest.raises(ValueError, match=r"text 1 \('   '\) gives no word tokens"):
        clf.predict(["good", "   "])
    refit = clf.fit(np.zeros((10, 5)), [0, 1] * 5)  # refitting on numbers drops the tokenizer
    assert refit.tokenizer_ is None and refit.n_features_in_ == 5


def test_a_list_of_equal_length_series_is_several_series_not_one_wide_one() -> None:
    rng = np.random.default_rng(0)
    series = [100 + np.cumsum(rng.normal(size=40)) for _ in range(6)]
    est = RNNForecaster(window=8, horizon=4, hidden_size=4, epochs=1).fit(series)
    assert est.num_targets_ == 1 and est.predict().shape == (4,)
    ragged = RNNForecaster(window=8, horizon=4, hidden_size=4, epochs=1).fit(series[:-1] + [series[-1][:-1]])
    assert ragged.num_targets_ == 1
    wide = RNNForecaster(window=8, horizon=4, hidden_size=4, epochs=1).fit(np.stack(series, axis=1))  # (T, 6)
    assert wide.num_targets_ == 6 and wide.predict().shape == (4, 6)
    two = RNNForecaster(window=8, horizon=4, hidden_size=4, epochs=1).fit(tuple(np.arange(100.0) for _ in range(2)))
    assert two.num_targets_ == 1  # two series of 100 steps: plenty of windows


def test_three_dimensional_input_may_change_its_number_of_steps_at_predict() -> None:
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 10, 2)).astype(np.float32), np.arange(30) % 2
    est = RNNClassifier(hidden_size=4, epochs=1).fit(X, y)
    assert est.n_features_in_ == 2 and est.predict(rng.normal(size=(3, 12, 2))).shape == (3,)
    with pytest.raises(ValueError, match="features"):
        est.predict(rng.normal(size=(3, 12, 3)))
    nct = RNNClassifier(hidden_size=4, epochs=1, layout="NCT").fit(X.transpose(0, 2, 1), y)
    assert nct.n_features_in_ == 2 and nct.predict(rng.normal(size=(3, 2, 7))).shape == (3,)
    est.fit([x[: 5 + i % 4] for i, x in enumerate(X)], y)  # refit on sequences of several lengths
    assert est.n_features_in_ == 2


@pytest.mark.parametrize("Estimator", [RNNClassifier, RNNRegressor])
def test_nct_layout_applies_to_a_list_of_sequences_as_to_an_array(Estimator) -> None:  # type: ignore[no-untyped-def]
    """A list of (C, T) arrays under layout="NCT" is read as the (N, C, T) array is: C channels, T steps
    (it was read as C steps of T features, and predicting on the array then refused)."""
    rng = np.random.default_rng(6)
    X = rng.normal(size=(20, 2, 12)).astype(np.float32)  # (N, C, T): aeon's numpy3D
    y = np.arange(20) % 2
    from_list = Estimator(layout="NCT", **TINY).fit(list(X), y)
    from_array = Estimator(layout="NCT", **TINY).fit(X, y)
    assert from_list.num_features_ == 2 and from_list.n_features_in_ == 2
    predict = from_list.predict_proba if hasattr(from_list, "predict_proba") else from_list.predict
    want = from_array.predict_proba(X) if hasattr(from_array, "predict_proba") else from_array.predict(X)
    np.testing.assert_allclose(predict(list(X)), want, atol=1e-6)
    np.testing.assert_allclose(predict(X), want, atol=1e-6)  # fitted on a list, predicts on the array
    ragged = Estimator(layout="NCT", **TINY).fit([x[:, : 6 + i % 5] for i, x in enumerate(X)], y)
    assert ragged.num_features_ == 2 and ragged.predict(X[:3, :, :9]).shape == (3,)
    with pytest.raises(ValueError, match="sequence 1 must be"):
        ragged.predict([X[0], X[1, :, :0]])

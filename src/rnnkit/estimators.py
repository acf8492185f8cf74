"""scikit-learn estimators over rnnkit models: ``RNNClassifier``, ``RNNRegressor``, ``RNNForecaster``.

They follow scikit-learn's API (``fit`` / ``predict`` / ``score``, ``get_params`` / ``set_params``,
``clone``, pipelines, grid search) and build an rnnkit ``SequenceDataset``, a model and a
``Trainer`` inside ``fit``.

Input layouts accepted by ``RNNClassifier`` / ``RNNRegressor`` (``X``):

* ``(N, T)`` array — N univariate series of T steps (also what plain tabular data looks like: the
  features are read as a sequence);
* ``(N, T, F)`` array — N series of T steps and F features (``layout="NTF"``, the default);
* ``(N, C, T)`` array — aeon / sktime "numpy3D" (channels first): pass ``layout="NCT"``;
* a list of ``(T_i, F)`` or ``(T_i,)`` arrays of different lengths (no padding needed); with
  ``layout="NCT"`` its items are ``(C, T_i)``, as the rows of an ``(N, C, T)`` array are;
* a list (or array, or pandas Series) of texts: each is tokenized (``tokenizer="word"``, ``"char"``
  or ``"bpe"``; ``lowercase``, ``min_freq``) with a vocabulary fitted in ``fit``, and the model reads the
  token ids (``SequenceClassifier.from_dataset`` then builds its text architecture). Tokens unseen in
  ``fit`` are read as ``<unk>``; a text with no tokens at all is an error naming its index.

``RNNForecaster`` fits on a series ``y`` ``(T,)`` / ``(T, K)`` (or a list or tuple of series, of any
lengths), cuts it into ``window -> horizon`` pairs and ``predict()`` forecasts the ``horizon`` steps
after the end of the (last) training series; ``predict(X)`` forecasts after each given window.
``score(X)`` without ``y`` compares that forecast with ``X``, the steps that follow the training series,
so ``GridSearchCV`` and ``cross_val_score`` tune it with ``cv=TimeSeriesSplit(test_size=horizon)``.

The shared parameters, seeding and fitting live in :mod:`rnnkit.estimators_base`; how ``X`` and the
series are read and checked in :mod:`rnnkit.estimators_inputs`.

Example:
    >>> clf = RNNClassifier(cell="gru", hidden_size=32, epochs=20).fit(X_train, y_train)
    >>> clf.predict(X_test), clf.predict_proba(X_test), clf.score(X_test, y_test)
    >>> RNNClassifier(tokenizer="char", epochs=5).fit(["great phone", "broke in a week"], ["pos", "neg"])
    >>> RNNForecaster(window=24, horizon=12).fit(passengers).predict()
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d

from rnnkit.data.batch import Example
from rnnkit.data.dataset import DatasetInfo, ExampleList, SequenceDataset
from rnnkit.estimators_base import _FIT_PARAMS as _FIT_PARAMS
from rnnkit.estimators_base import RandomStateLike as RandomStateLike
from rnnkit.estimators_base import _fit_or_nothing
from rnnkit.estimators_base import _keeping_global_rng as _keeping_global_rng
from rnnkit.estimators_base import _RNNEstimator as _RNNEstimator
from rnnkit.estimators_inputs import _forecast_windows, _listed
from rnnkit.estimators_inputs import _is_ragged as _is_ragged
from rnnkit.estimators_inputs import _is_text as _is_text
from rnnkit.estimators_inputs import _ndim as _ndim
from rnnkit.estimators_inputs import _one_sequence as _one_sequence
from rnnkit.estimators_inputs import _require_y as _require_y
from rnnkit.estimators_inputs import _SequenceInputs as _SequenceInputs
from rnnkit.estimators_inputs import _series as _series


class RNNClassifier(ClassifierMixin, _SequenceInputs):
    """A recurrent sequence classifier (``SequenceClassifier``) with scikit-learn's API.

    Parameters: ``cell`` ("rnn", "lstm", "gru", "mingru", "minlstm"), ``hidden_size``, ``num_layers``,
    ``dropout``, ``epochs``, ``batch_size``, ``lr``, ``weight_decay``, ``early_stopping`` (patience, uses
    a ``valid_fraction`` of the training data), ``ema_decay`` (an average of the weights, as ``Trainer``'s),
    ``ensemble`` (k > 1: k models averaged, ``rnnkit.models.Ensemble``),
    ``layout`` ("NTF" or aeon's "NCT", for an array and for the items of a list alike), for texts
    ``tokenizer`` ("word", "char", "bpe"), ``lowercase`` and ``min_freq``, ``device`` ("cpu", "auto":
    CUDA where torch sees a GPU, "cuda:N" ...), ``random_state``, ``verbose``. A fit that raises leaves the
    estimator as it was (fitted as before, or unfitted). Fitted: ``classes_``, ``model_``, ``history_``,
    ``n_features_in_`` (numeric input) or ``tokenizer_`` (texts).
    """

    @_fit_or_nothing
    def fit(self, X: Any, y: Any) -> RNNClassifier:
        self._draw_seed()
        seqs = self._sequences(X, reset=True)
        y = column_or_1d(_require_y(self, y), warn=True)
        if len(y) != len(seqs):
            raise ValueError(f"X has {len(seqs)} samples but y has {len(y)}")
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"RNNClassifier needs at least 2 classes in y; got 1 class ({self.classes_[0]!r})")
        examples = [Example(x=torch.from_numpy(s), y=torch.tensor(int(c))) for s, c in zip(seqs, codes)]
        info = DatasetInfo(name="sklearn", shape="many-to-one", task="classification", **self._input_info(),
                           classes=[str(c) for c in self.classes_], metric="accuracy")
        self._fit_model(self._model(info, examples, "classification"), examples, info)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """``(N, n_classes)`` probabilities, columns in the order of ``classes_``."""
        check_is_fitted(self, "model_")
        return self._run(self._sequences(X, reset=False), self.model_.predict_proba).astype(np.float64)

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        return self.classes_[self.predict_proba(X).argmax(1)]


class RNNRegressor(RegressorMixin, _SequenceInputs):
    """A recurrent sequence regressor (``SequenceClassifier(task="regression")``); ``y`` ``(N,)`` or ``(N, K)``.

    Targets are standardised for training and mapped back in ``predict``. ``score`` is R².
    """

    @_fit_or_nothing
    def fit(self, X: Any, y: Any) -> RNNRegressor:
        self._draw_seed()
        seqs = self._sequences(X, reset=True)
        # standardised in float64, and only z in float32: targets of 1e8 +- 20 kept 6 distinct values of 40
        y = np.asarray(_require_y(self, y), dtype=np.float64)
        if y.ndim not in (1, 2) or (y.ndim == 2 and y.shape[1] == 0):
            raise ValueError(f"y must be (n_samples,) or (n_samples, n_targets) with n_targets >= 1, got shape "
                             f"{y.shape}")
        if len(y) != len(seqs):
            raise ValueError(f"X has {len(seqs)} samples but y has {len(y)}")
        if not np.isfinite(y).all():
            raise ValueError("y contains NaN or infinity")
        self._y_1d = y.ndim == 1
        y2 = y.reshape(len(y), -1)
        self.y_mean_, self.y_std_ = y2.mean(0), np.where(y2.std(0) > 0, y2.std(0), 1.0)
        z = ((y2 - self.y_mean_) / self.y_std_).astype(np.float32)
        targets = [torch.tensor(r[0] if self._y_1d else r) for r in z]
        examples = [Example(x=torch.from_numpy(s), y=t) for s, t in zip(seqs, targets)]
        info = DatasetInfo(name="sklearn", shape="many-to-one", task="regression", **self._input_info(),
                           num_targets=y2.shape[1], metric="rmse", higher_is_better=False)
        self._fit_model(self._model(info, examples, "regression"), examples, info)
        return self

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # y may be (N, K)
        return tags

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        z = self._run(self._sequences(X, reset=False), self.model_.predict).reshape(-1, len(self.y_mean_))
        y = z.astype(np.float64) * self.y_std_ + self.y_mean_
        return (y[:, 0] if self._y_1d else y).astype(np.float64)


class RNNForecaster(RegressorMixin, _RNNEstimator):
    """A recurrent forecaster (``Forecaster``): ``fit(y)`` on a series, ``predict()`` its next ``horizon`` values.

    ``window`` past steps predict ``horizon`` future steps; training pairs are cut from ``y`` with
    ``stride``. ``predict(X)`` with ``X`` ``(N, window)`` or ``(N, window, K)`` forecasts after each window;
    ``score(X, y)`` is R² of those forecasts against ``y`` ``(N, horizon[, K])``; ``score(X)`` is R² of
    ``predict()`` against ``X``, the steps after the training series (how ``GridSearchCV`` with a
    ``TimeSeriesSplit`` scores each fold).

    ``target_transform`` is how the model reads the series' values: None (the default) what the data
    suggest (``"log"`` for a positive series whose level grows), ``"none"``, ``"log"`` or ``"boxcox"``
    (``Forecaster``'s ``transform``; not named ``transform``, which scikit-learn reads as a transformer's
    method). The model reads the series in float32, so the digits a float32 cannot hold (below 8 for
    values near 1e8) are lost to it; ``score`` compares its forecast with the truth in float64.

    ``valid_fraction`` (what ``early_stopping`` and ``history_``'s valid loss read) is the fraction of
    each series' pairs held out for validation, in time: its latest ``round(valid_fraction * pairs)``
    pairs (at least one), stepped back by ``stride`` from the series' end. Training keeps the pairs
    whose inputs and targets end before the first valid target; the few that straddle it are in
    neither, so no valid target is a training step (the chronological split of the forecasting data
    sets, ``docs/DATA.md``). Several series are each cut at their own end; a series that cannot hold
    its valid pairs and one training pair is an error.
    """

    def __init__(self, *, window: int = 24, horizon: int = 12, stride: int = 1, target_transform: str | None = None,
                 cell: str = "gru",
                 hidden_size: int = 32,
                 num_layers: int = 1, dropout: float = 0.0, epochs: int = 30, batch_size: int = 32, lr: float = 3e-3,
                 weight_decay: float = 0.01, early_stopping: int | None = None, ema_decay: float | None = None,
                 ensemble: int = 1, valid_fraction: float = 0.0, device: str = "cpu", random_state: RandomStateLike = 0,
                 verbose: bool = False) -> None:
        # no **kwargs to name target_transform to a caller of the old transform=: sklearn's estimator checks
        # construct the estimator with every name its signature has, **kwargs too
        super().__init__(cell=cell, hidden_size=hidden_size, num_layers=num_layers, dropout=dropout, epochs=epochs,
                         batch_size=batch_size, lr=lr, weight_decay=weight_decay, early_stopping=early_stopping,
                         ema_decay=ema_decay, ensemble=ensemble, valid_fraction=valid_fraction, device=device,
                         random_state=random_state, verbose=verbose)
        self.window = window
        self.horizon = horizon
        self.stride = stride
        self.target_transform = target_transform

    @_fit_or_nothing
    def fit(self, y: Any, X: Any = None) -> RNNForecaster:
        from rnnkit.models import Forecaster

        if X is not None:
            raise ValueError("RNNForecaster.fit(y) takes the series only (exogenous X is not supported)")
        self._draw_seed()
        for name in ("window", "horizon", "stride"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"{name} must be a positive integer (steps), got {value!r}")
        # a list or tuple of sequences is several series, whatever their lengths (equal lengths too); a
        # list of numbers, an array or a DataFrame is one series (2-D: one column per target)
        y = _listed(y)  # an object array or pandas Series of series: several, as a list of them is
        several = isinstance(y, list | tuple) and len(y) > 0 and all(np.ndim(s) >= 1 for s in y)
        series = [_series(s) for s in (y if several else [y])]
        widths = {s.shape[1] for s in series}
        if len(widths) > 1:
            raise ValueError(f"series have different numbers of columns: {sorted(widths)}")
        self.num_targets_ = widths.pop()
        short = [i for i, s in enumerate(series) if len(s) < self.window + self.horizon]
        if short and len(short) < len(series):
            warnings.warn(f"{len(short)} of {len(series)} series are shorter than window + horizon = "
                          f"{self.window + self.horizon} steps and give no training pairs (series {short[:5]})",
                          stacklevel=2)
        train, valid = _forecast_windows(series, window=int(self.window), horizon=int(self.horizon),
                                         stride=int(self.stride), valid_fraction=self.valid_fraction)
        if not train:
            raise ValueError(f"the series is too short: it needs at least window + horizon = "
                             f"{self.window + self.horizon} steps")
        info = DatasetInfo(name="sklearn", shape="forecasting", task="forecasting", input_kind="series",
                           num_features=self.num_targets_, num_targets=self.num_targets_, horizon=self.horizon,
                           window=self.window, metric="mae", higher_is_better=False)
        dataset = SequenceDataset(info, ExampleList(train), ExampleList([]), ExampleList([]))  # options from train only
        # target_transform None: what the data suggest (a log for a positive series whose level grows); "none": off
        chosen = {} if self.target_transform is None else {"transform": self.target_transform}
        model = self._build(lambda: Forecaster.from_dataset(dataset, cell=self.cell, hidden_size=self.hidden_size,
                                                            num_layers=self.num_layers, dropout=self.dropout,
                                                            **chosen))
        self._fit_split(model, train, valid, info)
        self.window_, self.horizon_ = int(self.window), int(self.horizon)  # what predict and score use
        # predict() forecasts after the last series, from its last window (None: it has fewer steps)
        # (a copy: a float32 series is not copied by _series, and the caller may overwrite it later)
        self.last_window_ = series[-1][-self.window :].copy() if len(series[-1]) >= self.window else None
        return self

    def predict(self, X: Any = None) -> np.ndarray:
        """The next ``horizon`` steps after the training series, or ``(N, horizon[, K])`` after each window of X."""
        check_is_fitted(self, "model_")
        window = getattr(self, "window_", self.window)  # (estimators pickled before window_ existed)
        if X is None:
            if self.last_window_ is None:
                raise ValueError(f"the last training series has fewer than window = {window} steps: pass the "
                                 "windows to forecast after, predict(X)")
            return self._run([self.last_window_], self.model_.predict)[0].astype(np.float64)
        arr = np.asarray(X, dtype=np.float32)
        if arr.ndim == 2 and self.num_targets_ == 1:
            arr = arr[:, :, None]
        if arr.ndim != 3 or arr.shape[2] != self.num_targets_ or arr.shape[0] == 0 or arr.shape[1] < window:
            raise ValueError(f"X must be (N, window) or (N, window, {self.num_targets_}) with N >= 1 windows of "
                             f"at least window = {window} steps (longer ones are read by their last {window}), "
                             f"got {arr.shape}")
        if not np.isfinite(arr).all():
            raise ValueError("X contains NaN or infinity; fill gaps first (rnnkit.data.windows.fill_missing)")
        arr = np.ascontiguousarray(arr[:, -window:])  # the steps the model learnt from: the last window
        return self._run(list(arr), self.model_.predict).astype(np.float64)

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """R² of forecasts: after each window of ``X`` against ``y``, or, with ``y`` omitted, of ``predict()``
        against ``X`` read as the series' continuation (its first ``horizon`` steps).

        The second form is what scikit-learn's model selection calls with a time-ordered splitter:
        ``GridSearchCV(RNNForecaster(...), grid, cv=TimeSeriesSplit(n_splits=3, test_size=horizon)).fit(series)``
        fits on each fold's past and scores the forecast from its end against the steps that follow.
        """
        from sklearn.metrics import r2_score

        if y is None:
            check_is_fitted(self, "model_")
            horizon = getattr(self, "horizon_", self.horizon)  # as fitted, whatever set_params said since
            actual = _series(X, dtype=np.float64)  # float32 had rounded 1e8 + 3 sin(t) to 1e8: R² 1.0 for any forecast
            if actual.shape[1] != self.num_targets_ or len(actual) < 2:
                raise ValueError(f"score(X) without y reads X as the {self.num_targets_}-column series that follows "
                                 f"the training series (at least 2 of its next {horizon} steps), got shape "
                                 f"{np.shape(X)}; to score windows pass score(X, y) with y the steps after each window")
            actual = actual[:horizon]
            pred = self.predict().reshape(horizon, self.num_targets_)[: len(actual)]
            return float(r2_score(actual, pred, sample_weight=sample_weight))
        pred = self.predict(X)
        y = np.asarray(y, dtype=np.float64)
        if y.ndim == 0 or len(y) != len(pred) or y.size != pred.size:
            raise ValueError(f"y must hold the true next {getattr(self, 'horizon_', self.horizon)} steps of each of "
                             f"the {len(pred)} windows of "
                             f"X, shape {pred.shape}, got {y.shape}")
        return float(r2_score(y.reshape(len(pred), -1), pred.reshape(len(pred), -1),
                              sample_weight=sample_weight))

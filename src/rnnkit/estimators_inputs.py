"""The inputs of :mod:`rnnkit.estimators`: how ``RNNClassifier`` and ``RNNRegressor`` read ``X``
(:class:`_SequenceInputs`: arrays or lists of sequences in the ``NTF`` or ``NCT`` layout, of any
lengths, or texts, tokenized with a vocabulary fitted in ``fit``), the checks of single sequences
and of the series ``RNNForecaster`` fits on, and how those series are cut in time into training and
valid windows (:func:`_forecast_windows`). Every refusal names the sample and says what shape was
expected.

Example:
    >>> _one_sequence([1.0, 2.0, 3.0], 0).shape        # (T, F)
    (3, 1)
    >>> _is_text(["great phone", "broke in a week"])
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils.validation import check_array, validate_data

from rnnkit.data.batch import Example
from rnnkit.data.dataset import DatasetInfo, ExampleList, SequenceDataset, valid_count
from rnnkit.data.windows import chronological_split, make_windows
from rnnkit.estimators_base import RandomStateLike, _RNNEstimator


class _SequenceInputs(_RNNEstimator):
    """Classifier/regressor input handling: arrays or lists of sequences -> list of (T_i, F) float32.

    The one ``__init__`` of both estimators (scikit-learn reads their parameters from its signature)."""

    tokenizer_: Any  # set by fit: the fitted tokenizer when X holds texts, else None

    def __init__(self, *, layout: str = "NTF", tokenizer: str = "word", lowercase: bool = False, min_freq: int = 1,
                 cell: str = "gru", hidden_size: int = 32,
                 num_layers: int = 1, dropout: float = 0.0, epochs: int = 30, batch_size: int = 32, lr: float = 3e-3,
                 weight_decay: float = 0.01, early_stopping: int | None = None, ema_decay: float | None = None,
                 ensemble: int = 1, valid_fraction: float = 0.0, device: str = "cpu", random_state: RandomStateLike = 0,
                 verbose: bool = False) -> None:
        super().__init__(cell=cell, hidden_size=hidden_size, num_layers=num_layers, dropout=dropout, epochs=epochs,
                         batch_size=batch_size, lr=lr, weight_decay=weight_decay, early_stopping=early_stopping,
                         ema_decay=ema_decay, ensemble=ensemble, valid_fraction=valid_fraction, device=device,
                         random_state=random_state, verbose=verbose)
        self.layout = layout
        self.tokenizer = tokenizer
        self.lowercase = lowercase
        self.min_freq = min_freq

    def _texts(self, X: Any, *, reset: bool) -> list[np.ndarray]:
        """Texts -> token-id arrays, with the tokenizer fitted on them when ``reset``."""
        from rnnkit.data.tokenizers import make_tokenizer

        texts = list(X)
        if not texts:
            raise ValueError("X holds 0 texts; at least 1 is needed")
        bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
        if bad is not None:
            raise ValueError(f"X mixes texts and other values: item {bad} is a {type(texts[bad]).__name__}, "
                             f"not a str")
        if reset:
            self.tokenizer_ = make_tokenizer(self.tokenizer, lowercase=self.lowercase,
                                             min_freq=self.min_freq).fit(texts)
            self.__dict__.pop("num_features_", None)
            self.__dict__.pop("n_features_in_", None)
        elif getattr(self, "tokenizer_", None) is None:
            raise ValueError("X holds texts, but this estimator was fitted on numeric sequences")
        seqs = []
        for i, text in enumerate(texts):
            ids = self.tokenizer_.encode(text)
            if not ids:
                raise ValueError(f"text {i} ({text[:40]!r}) gives no {self.tokenizer} tokens")
            seqs.append(np.asarray(ids, dtype=np.int64))
        return seqs

    def _input_info(self) -> dict[str, Any]:
        """The input fields of the ``DatasetInfo`` that ``fit`` builds: tokens or numeric series."""
        if getattr(self, "tokenizer_", None) is not None:
            return {"input_kind": "tokens", "input_vocab": self.tokenizer_.vocab}
        return {"input_kind": "series", "num_features": self.num_features_}


    def _sequences(self, X: Any, *, reset: bool) -> list[np.ndarray]:
        if isinstance(X, str):
            raise ValueError("X is one string: pass a list of texts (one per sample)")
        if _is_text(X):
            return self._texts(X, reset=reset)
        X = _listed(X)
        if reset:
            self.tokenizer_ = None
        elif getattr(self, "tokenizer_", None) is not None:
            raise ValueError("this estimator was fitted on texts: X must be a list of texts")
        if self.layout not in ("NTF", "NCT"):
            raise ValueError(f"layout must be 'NTF' or 'NCT', got {self.layout!r}")
        # sequences of any lengths, or (N, T, F) / (N, C, T) arrays whose T may differ at predict: the
        # features per step are what predict must match, not sklearn's columns (validate_data's n_features_in_)
        # fitted on sequences of their own lengths ((N, T, F) or a list), the model reads any T: then
        # (N, T) and a list of equal 1-D series are univariate sequences too, not sklearn's columns
        fitted_per_step = not reset and getattr(self, "per_step_", False)
        ragged = _is_ragged(X) or (fitted_per_step and isinstance(X, list | tuple) and len(X) > 0
                                   and all(np.ndim(s) == 1 for s in X))
        per_step = ragged or _ndim(X) == 3 or fitted_per_step
        if ragged:
            seqs = [_one_sequence(s, i, layout=self.layout) for i, s in enumerate(X)]
            if not seqs:
                raise ValueError("X holds 0 sequences; at least 1 is needed")
            widths = {s.shape[1] for s in seqs}
            if len(widths) > 1:
                raise ValueError(f"sequences have different numbers of features: {sorted(widths)}")
            width = widths.pop()
        else:
            if per_step:
                arr = check_array(X, allow_nd=True, dtype=np.float32)
            else:
                arr = validate_data(self, X, reset=reset, allow_nd=True, dtype=np.float32)
            if arr.ndim == 2:
                arr = arr[:, :, None]
            elif arr.ndim == 3 and self.layout == "NCT":
                arr = arr.transpose(0, 2, 1)
            elif arr.ndim != 3:
                raise ValueError(f"X must be (N, T), (N, T, F) or (N, C, T); got {arr.ndim} dimensions")
            seqs = list(np.require(arr, requirements=["C", "W"]))  # a read-only input (memmap) is copied:
            # torch tensors cannot share memory they may not write
            width = arr.shape[2]
        if reset:
            self.per_step_ = per_step
        if reset and per_step:
            self.n_features_in_ = width
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        if reset:
            self.num_features_ = width
        elif width != self.num_features_:
            raise ValueError(f"X has {width} features per step, but this estimator was fitted with "
                             f"{self.num_features_}")
        return seqs

    def _model(self, info: DatasetInfo, examples: list[Example], task: str) -> Any:
        from rnnkit.models import SequenceClassifier

        dataset = SequenceDataset(info, ExampleList(examples), ExampleList([]), ExampleList([]))
        return self._build(lambda: SequenceClassifier.from_dataset(
            dataset, task=task, cell=self.cell, hidden_size=self.hidden_size, num_layers=self.num_layers,
            dropout=self.dropout))


def _require_y(estimator: Any, y: Any) -> Any:
    if y is None:
        raise ValueError(f"{type(estimator).__name__} requires y to be passed, but the target y is None")
    return y


def _is_text(X: Any) -> bool:
    """A list, tuple, 1-d array or pandas Series whose first item is a str."""
    if isinstance(X, np.ndarray):
        return X.ndim == 1 and X.size > 0 and isinstance(X.flat[0], str)
    if type(X).__name__ == "Series" and hasattr(X, "iloc"):  # pandas, without importing it
        # the first value that is not missing: a Series of texts may start with NaN (named as such later)
        first = X.first_valid_index()
        return first is not None and isinstance(X.loc[first], str)
    return isinstance(X, list | tuple) and len(X) > 0 and isinstance(X[0], str)


def _ndim(X: Any) -> int | None:
    """The dimensions of an array, a tensor or nested lists; None for anything else (sklearn's checks
    pass array-likes that refuse numpy's functions)."""
    nd = getattr(X, "ndim", None)
    if isinstance(nd, int):
        return nd
    if isinstance(X, list | tuple):
        try:
            return int(np.asarray(X).ndim)
        except ValueError:
            return None
    return None


def _listed(X: Any) -> Any:
    """A 1-d object array or pandas Series whose items are sequences (how ragged data often arrives) as
    the list of them, read as a list is; anything else as it is (numpy had refused those with a bare
    "setting an array element with a sequence")."""
    values = X.to_numpy() if type(X).__name__ == "Series" and hasattr(X, "to_numpy") else X
    if (isinstance(values, np.ndarray) and values.dtype == object and values.ndim == 1 and values.size > 0
            and all(np.ndim(v) >= 1 for v in values)):
        return list(values)
    return X


def _is_ragged(X: Any) -> bool:
    if not isinstance(X, list | tuple) or not X:
        return False
    shapes = {np.shape(s) for s in X}
    return len(shapes) > 1 or np.ndim(X[0]) == 2


def _one_sequence(s: Any, i: int, *, layout: str = "NTF") -> np.ndarray:
    """One item of a list X as ``(T, F)`` float32: ``(T,)``, or ``(T, F)`` (``layout="NTF"``) or ``(C, T)``
    (``"NCT"``, transposed as the array path transposes ``(N, C, T)``)."""
    a = np.asarray(s, dtype=np.float32)
    if a.ndim == 1:
        a = a[:, None]
    elif a.ndim == 2 and layout == "NCT":
        a = np.ascontiguousarray(a.T)  # (C, T) -> (T, C)
    if a.ndim != 2 or a.shape[0] == 0:
        shape = "(C, T)" if layout == "NCT" else "(T, F)"
        raise ValueError(f"sequence {i} must be (T,) or {shape} with T >= 1, got shape {np.shape(s)}")
    if not np.isfinite(a).all():
        raise ValueError(f"sequence {i} contains NaN or infinity")
    return a


def _series(s: Any, dtype: type = np.float32) -> np.ndarray:
    """One series as ``(T, K)``: float32 for the model; float64 for the truth ``score`` compares with."""
    a: np.ndarray = np.asarray(s, dtype=dtype)
    a = a[:, None] if a.ndim == 1 else a
    if a.ndim != 2:
        raise ValueError(f"a series must be (T,) or (T, K), got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError("the series contains NaN or infinity; fill gaps first (rnnkit.data.windows.fill_missing)")
    return a


def _forecast_windows(series: list[np.ndarray], *, window: int, horizon: int, stride: int,
                      valid_fraction: float) -> tuple[list[Example], list[Example]]:
    """The ``window -> horizon`` pairs of each series, cut every ``stride`` steps: (train, valid).

    Each series is cut in time at its own end (:func:`rnnkit.data.windows.chronological_split`, as
    the forecasting data sets are): its valid pairs are its latest ``valid_fraction`` of its pairs
    (rounded, at least one when the fraction is positive), stepped back by ``stride`` from its last
    step; its training pairs are those whose inputs and targets all end before its first valid target,
    so the pairs that straddle that step are in neither. A series shorter than ``window + horizon``
    gives no pairs; one that cannot hold its valid pairs and one training pair is an error.
    """
    train: list[Example] = []
    valid: list[Example] = []
    for i, s in enumerate(series):
        n = len(s)
        n_pairs = len(range(0, n - window - horizon + 1, stride))
        if n_pairs == 0:
            continue
        n_valid = max(1, valid_count(n_pairs, valid_fraction)) if valid_fraction > 0 else 0
        valid_size = horizon + (n_valid - 1) * stride if n_valid else 0  # steps of valid targets
        try:
            split = chronological_split(n, test_size=0, valid_size=valid_size, window=window, horizon=horizon)
        except ValueError as e:
            name = f"series {i}" if len(series) > 1 else "the series"
            raise ValueError(f"{name} ({n} steps) is too short for valid_fraction={valid_fraction}: its last "
                             f"{n_valid} of {n_pairs} window(s) hold out its last {valid_size} steps as valid "
                             f"targets, which leaves {n - valid_size} steps before them, and a training window "
                             f"needs window + horizon = {window + horizon}; pass a longer series or a smaller "
                             f"valid_fraction (0: no valid windows)") from e
        # training pairs from step 0 (as without valid), valid ones back from the series' last step
        for part, segment, align_end in ((train, split.train, False), (valid, split.valid, True)):
            part += make_windows(s, window=window, horizon=horizon, stride=stride, segment=segment,
                                 align_end=align_end, meta={"series": i})
    return train, valid

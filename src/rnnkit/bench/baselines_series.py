"""Classical baselines for series: MiniRocket + ridge and 1-NN DTW (aeon) for the UCR/UEA sets,
seasonal-naive, Holt-Winters exponential smoothing and the seasonal "airline" ARIMA (statsmodels)
for forecasting.

They learn from every training example the recipe's data set holds (``train`` plus ``valid``: they
select nothing on valid) and are scored on the same ``test`` split as the recurrent models.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

MINIROCKET_MIN_LENGTH = 9  # MiniRocket's kernels have length 9


def timed(name: str, fn: Callable[[], float]) -> dict[str, Any]:
    start = time.perf_counter()
    value = float(fn())
    return {"name": name, "value": value, "seconds": time.perf_counter() - start}


def _panel(examples: list[Any], length: int) -> np.ndarray:
    """Examples' ``(T, C)`` series as aeon's ``(N, C, length)`` array; a shorter series is padded
    with its last value (JapaneseVowels runs 7..29 frames), a longer one is cut."""
    out = []
    for e in examples:
        x = e.x.detach().cpu().numpy().astype(np.float64)  # (T, C)
        if len(x) < length:
            x = np.concatenate([x, np.repeat(x[-1:], length - len(x), axis=0)])
        out.append(x[:length].T)
    return np.stack(out)


def _labels(examples: list[Any]) -> np.ndarray:
    return np.asarray([int(e.y) for e in examples])


def ucr_baselines(dataset: Any, *, seed: int = 0) -> list[dict[str, Any]]:
    """``[MiniRocket + ridge, 1-NN DTW]`` test accuracies of a many-to-one classification set."""
    from aeon.classification.convolution_based import MiniRocketClassifier
    from aeon.classification.distance_based import KNeighborsTimeSeriesClassifier

    train = dataset.train.examples + dataset.valid.examples
    test = dataset.test.examples
    length = max(MINIROCKET_MIN_LENGTH, max(len(e.x) for e in train + test))
    X_tr, y_tr, X_te, y_te = _panel(train, length), _labels(train), _panel(test, length), _labels(test)

    def minirocket() -> float:
        clf = MiniRocketClassifier(random_state=seed)
        clf.fit(X_tr, y_tr)
        return float((clf.predict(X_te) == y_te).mean())

    def dtw() -> float:
        clf = KNeighborsTimeSeriesClassifier(distance="dtw", n_neighbors=1)
        clf.fit(X_tr, y_tr)
        return float((clf.predict(X_te) == y_te).mean())

    return [timed("MiniRocket + ridge (aeon)", minirocket), timed("1-NN DTW (aeon)", dtw)]


def _history_and_future(dataset: Any) -> tuple[np.ndarray, np.ndarray, int]:
    """``(values before the test segment, test targets, season)`` of a one-series forecasting set
    whose test split is one window (AirPassengers: 1949-01..1957-12, then 36 months)."""
    series, split = dataset.extras.get("series"), dataset.extras.get("split")
    if series is None or split is None or isinstance(series, dict):
        raise ValueError(f"{dataset.info.name}: baselines need extras['series'] and extras['split'] of one series")
    values = np.asarray(series, dtype=np.float64).reshape(-1)
    start, stop = split.test.start, split.test.stop
    if stop - start != dataset.info.horizon:
        raise ValueError(f"{dataset.info.name}: the test segment ({stop - start} steps) is not one horizon "
                         f"({dataset.info.horizon}); these baselines forecast once from the test origin")
    season = int(dataset.info.extra.get("season_length", 1))
    return values[:start], values[start:stop], season


def forecasting_baselines(dataset: Any) -> list[dict[str, Any]]:
    """``[Holt-Winters (additive trend, multiplicative season), airline SARIMA, seasonal naive]`` test
    MAPE (percent). The airline model is Box and Jenkins' ARIMA(0,1,1)(0,1,1)s on the logarithm of a
    positive series (on the values themselves otherwise), fitted by maximum likelihood."""
    import warnings

    from statsmodels.tsa.holtwinters import ExponentialSmoothing
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    from rnnkit.train.metrics import mape

    history, future, season = _history_and_future(dataset)
    horizon = len(future)

    def holt_winters() -> float:
        fit = ExponentialSmoothing(history, trend="add", seasonal="mul", seasonal_periods=season).fit()
        return mape(future, fit.forecast(horizon))

    def airline() -> float:
        positive = bool((history > 0).all())
        with warnings.catch_warnings():  # convergence chatter on short series; the score says how it did
            warnings.simplefilter("ignore")
            fit = SARIMAX(np.log(history) if positive else history, order=(0, 1, 1),
                          seasonal_order=(0, 1, 1, season)).fit(disp=False)
        path = np.asarray(fit.forecast(horizon))
        return mape(future, np.exp(path) if positive else path)

    def seasonal_naive() -> float:
        last = history[-season:]
        return mape(future, np.resize(last, horizon))

    return [timed("Holt-Winters ETS, multiplicative season (statsmodels)", holt_winters),
            timed("airline SARIMA (0,1,1)(0,1,1) on log (statsmodels)", airline),
            timed("seasonal naive", seasonal_naive)]


__all__ = ["forecasting_baselines", "timed", "ucr_baselines"]

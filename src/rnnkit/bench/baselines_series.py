"""Classical baselines for series: MiniRocket + ridge and 1-NN DTW (aeon) for the UCR/UEA sets;
Holt-Winters exponential smoothing, an autoregression, the seasonal "airline" ARIMA (statsmodels),
double seasonal Holt-Winters (Taylor 2003) for half-hourly demand, and the seasonal naive for
forecasting.

They learn from every training example the recipe's data set holds (``train`` plus ``valid``: they
select nothing on valid) and are scored on the same ``test`` split as the recurrent models.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import SimpleNamespace
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


def _test_windows(dataset: Any) -> tuple[np.ndarray, list[int], int, int]:
    """``(values, origins, horizon, season)`` of a one-series forecasting set: the origin (first
    forecast step) of every test window, taken from the test examples where they say it, else
    every step from the test segment's start that leaves a whole horizon."""
    series, split = dataset.extras.get("series"), dataset.extras.get("split")
    if series is None or split is None or isinstance(series, dict):
        raise ValueError(f"{dataset.info.name}: baselines need extras['series'] and extras['split'] of one series")
    values = np.asarray(series, dtype=np.float64).reshape(-1)
    horizon = int(dataset.info.horizon)
    start, stop = split.test.start, split.test.stop
    test = getattr(dataset, "test", None)
    metas = [getattr(e, "meta", None) or {} for e in getattr(test, "examples", [])]
    origins = sorted({int(m["target_start"]) for m in metas if "target_start" in m})
    if not origins:
        origins = list(range(start, stop - horizon + 1))
    if not origins or origins[0] < start or origins[-1] + horizon > stop:
        raise ValueError(f"{dataset.info.name}: no test window of {horizon} steps inside the test segment "
                         f"[{start}, {stop})")
    season = int(dataset.info.extra.get("season_length", 1) or 1)
    return values, origins, horizon, season


def forecast_scorer(info: Any, windows: list[tuple[np.ndarray, int]],
                    horizon: int) -> Callable[[list[np.ndarray]], float]:
    """Scores one forecast per window ``(its series' raw values, its origin)`` on the ``horizon``
    steps from the origin, in the data set's metric (``info.metric``), as the models' evaluation
    does (rnnkit.train.evaluation: MASE scales each window's error by its input window's seasonal
    naive). The baselines and ``rnnkit bench cv``'s backtest folds score with it."""
    import torch

    from rnnkit.data.batch import Batch
    from rnnkit.train.evaluation import TaskMetrics, metric_key

    metric = info.metric or "mae"
    window = int(getattr(info, "window", None) or 0) or None

    def score(forecasts: list[np.ndarray]) -> float:
        acc = TaskMetrics(SimpleNamespace(task="forecasting", extra=info.extra, metric=metric))  # type: ignore[arg-type]
        for (values, origin), path in zip(windows, forecasts, strict=True):
            past = values[origin - window: origin] if window else values[:origin]
            acc.add(Batch(x=torch.tensor(past, dtype=torch.float64).reshape(1, -1, 1),
                          y=torch.tensor(values[origin: origin + horizon]).reshape(1, horizon)),
                    torch.tensor(np.asarray(path, dtype=np.float64)[:horizon]).reshape(1, horizon))
        out = acc.compute()
        # nan where the metric is not computed (MASE of windows that are all flat: no scale)
        return float(out[metric] if metric in out else out.get(metric_key(metric), float("nan")))

    return score


def panel_baselines(dataset: Any) -> list[dict[str, Any]]:
    """Classical forecasts for a set of many series (M1 yearly), one per test window, each from its
    own series' values before the window: Holt's linear trend (statsmodels; the naive forecast where
    a series is too short to fit), the random walk with drift, and the naive (last value), scored in
    the data set's metric. Each series is fitted on its own."""
    import warnings

    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    series = dataset.extras.get("series")
    if not isinstance(series, dict):
        raise ValueError(f"{dataset.info.name}: panel baselines need extras['series'], a dict of series")
    horizon = int(dataset.info.horizon)
    windows = []
    for e in dataset.test.examples:
        meta = e.meta or {}
        values = np.asarray(series[meta["series"]], dtype=np.float64).reshape(-1)
        windows.append((values, int(meta["target_start"])))
    score = forecast_scorer(dataset.info, windows, horizon)
    steps = np.arange(1, horizon + 1)

    def holt() -> float:
        paths = []
        for values, origin in windows:
            past = values[:origin]
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    path = np.asarray(ExponentialSmoothing(past, trend="add").fit().forecast(horizon))
                if not np.isfinite(path).all():
                    raise ValueError("non-finite forecast")
            except (ValueError, np.linalg.LinAlgError):
                path = np.full(horizon, past[-1])
            paths.append(path)
        return score(paths)

    def drift() -> float:
        return score([v[o - 1] + steps * (v[o - 1] - v[0]) / max(o - 1, 1) for v, o in windows])

    def naive() -> float:
        return score([np.full(horizon, v[o - 1]) for v, o in windows])

    return [timed("Holt linear trend, per series (statsmodels)", holt), timed("random walk with drift", drift),
            timed("naive (last value)", naive)]


def double_seasonal_holt_winters(values: np.ndarray, origins: list[int], horizon: int, day: int,
                                 week: int) -> list[np.ndarray]:
    """Forecasts from each origin by Taylor's (2003) double seasonal Holt-Winters: a level, a
    within-day and a within-week multiplicative index, and an AR(1) adjustment of the one-step
    error (J. Oper. Res. Soc. 54, 799-805):

        l_t = a y_t / (d_{t-day} w_{t-week}) + (1 - a) l_{t-1}
        d_t = b y_t / (l_t w_{t-week}) + (1 - b) d_{t-day}
        w_t = c y_t / (l_t d_{t-day}) + (1 - c) w_{t-week}
        y_t(k) = l_t d_{t-day+k} w_{t-week+k} + phi^k (y_t - l_{t-1} d_{t-day} w_{t-week})

    The indices start from the first two weeks (day shapes averaged, then the week's ratios to
    them); a, b, c and phi minimise the one-step squared error over the values before the first
    origin (L-BFGS-B in [0, 1]). Later origins run the same filter on, so nothing is refitted on
    the values it scores. Needs a positive series, ``horizon <= day`` and two whole weeks before
    the first origin."""
    from scipy.optimize import minimize

    if horizon > day or origins[0] < 2 * week or week % day or (values[: origins[0]] <= 0).any():
        raise ValueError(f"double seasonal Holt-Winters needs a positive series, horizon <= {day} and two weeks "
                         f"({2 * week} steps) before the first origin")
    first = values[: 2 * week]
    days = first.reshape(-1, day)
    daily = (days / days.mean(1, keepdims=True)).mean(0)
    weekly = (first / (np.tile(daily, 2 * week // day) * first[:week].mean())).reshape(2, week).mean(0)
    start = (float(first[:week].mean()), (daily / daily.mean()).tolist(), (weekly / weekly.mean()).tolist())

    def run(series: list[float], params: Any) -> tuple[float, list[float], list[float], list[float], list[float]]:
        a, b, c, phi = (float(p) for p in params)
        level, error, sse = start[0], 0.0, 0.0
        d = start[1] + [0.0] * len(series)  # d[t + day]: the day index after step t
        w = start[2] + [0.0] * len(series)
        levels, errors = [0.0] * len(series), [0.0] * len(series)
        for t, y in enumerate(series):
            dt, wt = d[t], w[t]
            sse += (y - level * dt * wt - phi * error) ** 2
            error = y - level * dt * wt
            new = a * y / (dt * wt) + (1 - a) * level
            d[t + day] = b * y / (new * wt) + (1 - b) * dt
            w[t + week] = c * y / (new * dt) + (1 - c) * wt
            level = levels[t] = new
            errors[t] = error
        return sse, levels, errors, d, w

    fit_on = values[: origins[0]].tolist()
    params = minimize(lambda p: run(fit_on, p)[0] / len(fit_on), x0=[0.1, 0.1, 0.1, 0.5], method="L-BFGS-B",
                      bounds=[(0.0, 1.0)] * 4).x
    _, levels, errors, d, w = run(values[: origins[-1]].tolist(), params)
    return [np.asarray([levels[o - 1] * d[o - 1 + k] * w[o - 1 + k] + params[3] ** k * errors[o - 1]
                        for k in range(1, horizon + 1)]) for o in origins]


def forecasting_baselines(dataset: Any) -> list[dict[str, Any]]:
    """Classical forecasts from every test window's origin, scored in the data set's metric (MAPE
    in percent for AirPassengers): Holt-Winters exponential smoothing (additive trend; season
    multiplicative for a positive series, else additive; a linear trend alone without a season),
    an autoregression of order chosen by AIC (statsmodels ``ar_select_order``, up to two seasons of
    lags), the airline model (Box and Jenkins' ARIMA(0,1,1)(0,1,1)s, on the logarithm of a positive
    series) where test is one window, and the seasonal naive (the last season repeated; the last
    value without a season). A set with a week of seasons (``info.extra["weekly_season"]``, the
    half-hourly Taylor demand) gets double seasonal Holt-Winters first and a weekly seasonal naive.

    Each model is fitted once, on the values before the first test window, by maximum likelihood;
    later windows are forecast with those parameters from their own origin (Holt-Winters refiltered
    over the longer history, the autoregression applied to its last lags), so no fit sees the values
    it is scored on and a long test is not a refit per window."""
    import warnings

    from statsmodels.tsa.ar_model import ar_select_order
    from statsmodels.tsa.holtwinters import ExponentialSmoothing
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    values, origins, horizon, season = _test_windows(dataset)
    score = forecast_scorer(dataset.info, [(values, o) for o in origins], horizon)
    first = values[: origins[0]]
    positive = bool((first > 0).all())  # the model's form is chosen before the first origin, like its fit
    seasonal = season > 1 and len(first) >= 2 * season
    kind = "mul" if positive else "add"

    def holt_winters() -> float:
        fits: dict[str, tuple[Any, dict[str, Any], dict[str, Any], dict[str, Any]]] = {}

        def fitted(form: str) -> tuple[Any, dict[str, Any], dict[str, Any], dict[str, Any]]:
            """The model of ``form`` fitted before the first origin: its fit, options, initial state and
            smoothing parameters (fixed for the later origins)."""
            if form not in fits:
                options = {"trend": "add", "seasonal": form if seasonal else None,
                           "seasonal_periods": season if seasonal else None}
                fit = ExponentialSmoothing(first, **options).fit()  # type: ignore[arg-type]
                params = fit.params
                fixed = {k: params[k] for k in ("smoothing_level", "smoothing_trend", "smoothing_seasonal")
                         if params.get(k) is not None and params[k] == params[k]}
                known = {"initialization_method": "known", "initial_level": params["initial_level"],
                         "initial_trend": params["initial_trend"],
                         **({"initial_seasonal": params["initial_seasons"]} if seasonal else {})}
                fits[form] = (fit, options, known, fixed)
            return fits[form]

        paths = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for o in origins:
                # a multiplicative season cannot filter a history that reaches zero after the first
                # origin: that window (and its kind) falls back to the additive form fitted on `first`
                form = kind if kind == "add" or bool((values[:o] > 0).all()) else "add"
                fit, options, known, fixed = fitted(form)
                paths.append(fit.forecast(horizon) if o == origins[0] else  # the same filter, run on to o
                             ExponentialSmoothing(values[:o], **options, **known).fit(  # type: ignore[arg-type]
                                 optimized=False, **fixed).forecast(horizon))
        return score([np.asarray(p) for p in paths])

    def autoregression() -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            chosen = ar_select_order(first, maxlag=max(2, min(2 * season, len(first) // 4)), ic="aic", trend="c")
            params = np.asarray(chosen.model.fit().params, dtype=np.float64)
        lags = list(chosen.ar_lags or [])
        paths = []
        for o in origins:
            path = list(values[:o])
            for _ in range(horizon):
                path.append(params[0] + sum(params[1 + i] * path[-lag] for i, lag in enumerate(lags)))
            paths.append(np.asarray(path[o:]))
        return score(paths)

    def airline() -> float:
        with warnings.catch_warnings():  # convergence chatter on short series; the score says how it did
            warnings.simplefilter("ignore")
            fit = SARIMAX(np.log(first) if positive else first, order=(0, 1, 1),
                          seasonal_order=(0, 1, 1, season)).fit(disp=False)
        path = np.asarray(fit.forecast(horizon))
        return score([np.exp(path) if positive else path])

    week = int(dataset.info.extra.get("weekly_season", 0) or 0)
    naive_season = max(season, week)

    def seasonal_naive() -> float:
        return score([np.resize(values[o - naive_season: o], horizon) for o in origins])

    def double_seasonal() -> float:
        return score(double_seasonal_holt_winters(values, origins, horizon, season, week))

    season_word = ("multiplicative" if kind == "mul" else "additive") + " season" if seasonal else "no season"
    rows = [timed("double seasonal Holt-Winters with AR(1) error (Taylor 2003)", double_seasonal)] if week else []
    rows.append(timed(f"Holt-Winters ETS, {season_word} (statsmodels)", holt_winters))
    if seasonal and len(origins) == 1:
        rows.append(timed(f"airline SARIMA (0,1,1)(0,1,1){'' if season == 12 else season}"
                          f"{' on log' if positive else ''} (statsmodels)", airline))
    rows.append(timed("autoregression, order by AIC (statsmodels)", autoregression))
    rows.append(timed(("weekly seasonal naive" if week else "seasonal naive") if naive_season > 1
                      else "naive (last value)", seasonal_naive))
    return rows


__all__ = ["double_seasonal_holt_winters", "forecast_scorer", "forecasting_baselines", "panel_baselines", "timed",
           "ucr_baselines"]

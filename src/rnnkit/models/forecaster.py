"""forecasting: ``Forecaster``, a window of a series -> its next ``horizon`` values.

Column convention of ``batch.x`` ``(B, T, F)``: the first ``num_targets`` columns are the series to
forecast, the rest are past covariates. Known-future covariates come in ``batch.future`` ``(B, H, C)``.

Scaling (``scaling="instance"``, RevIN-like, Kim et al. 2022): every window is standardised by its
own mean and std per column; the loss is computed on that scale and outputs are mapped back, so raw
values (passengers, megawatts) can be passed and forecasts come back in the original units.

Target transforms (``models/forecast_transforms.py``), applied to the target columns before scaling
and inverted exactly after it: ``transform="log"`` (or ``"boxcox"`` with ``boxcox_lambda``) for a
season that grows with the level, and ``difference=[1]`` / ``[12]`` / ``[1, 12]`` for a trend or a
stable season (lag 12 on monthly data). The network then forecasts the differences, and the forecast
is rebuilt over the horizon from the window's last values, so a trend goes on growing past the window's
range. The loss is computed on the scaled differences. A differenced window is ``sum(difference)``
steps shorter: read a longer window (e.g. 24-36 months with ``[12]``). With the Gaussian head the
distribution is over the transformed differences; ``sample()`` sums each path back and inverts the
transform, so quantiles of the paths are forecast intervals in the series' units. The quantile head
takes a transform (a monotone map keeps quantiles) but no differencing (quantiles do not add up).

Known-future covariates are standardised per column, ``(future - future_mean) / future_std``, with
statistics of the training data (buffers saved with the weights, like a Keras ``Normalization``
layer after ``adapt``): :meth:`Forecaster.from_dataset` fits them on the train split;
:meth:`Forecaster.fit_future_scaling` does for a model built by hand. Unfitted they are 0 and 1.

The class holds the network; its config is ``forecast_config``'s, its parts are plain functions beside
it: ``forecast_inputs`` (batches and raw series), ``forecast_heads``, ``forecast_transforms``,
``forecast_quantiles`` and ``forecast_options``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.data.batch import Batch, Example
from rnnkit.data.dataset import SequenceDataset
from rnnkit.layers.pooling import last_valid_step
from rnnkit.layers.recurrent import Recurrent
from rnnkit.models.base import Model, ModelOutput, recurrent_options, with_recurrent_options
from rnnkit.models.forecast_config import ForecasterConfig
from rnnkit.models.forecast_heads import head_loss, head_params, num_params, ranked
from rnnkit.models.forecast_inputs import (
    check_batch,
    check_targets,
    covariate_rows,
    forecast_series,
    last_steps,
    require_batch,
)
from rnnkit.models.forecast_options import (
    HEADS,
    LOG_RATIO,
    SEASONAL_ACF,
    STRATEGIES,
    check_options,
    dataset_options,
)
from rnnkit.models.forecast_options import suggested_options as _suggested_options
from rnnkit.models.forecast_quantiles import (
    SAMPLED_LEVELS,
    check_levels,
    forecast_quantiles,
    quantiles_of_paths,
    sample_paths,
)
from rnnkit.models.forecast_transforms import (
    TRANSFORMS,
    box_cox,
    check_lags,
    difference_future,
    difference_window,
    future_statistics,
    inverse_box_cox,
    target_lambda,
    to_model_space,
    to_series_space,
    transform_targets,
    undifference,
    window_stats,
)


class Forecaster(Model):
    """Recurrent forecaster with a ``direct`` or ``autoregressive`` strategy and a point, Gaussian or
    quantile head.

    Args: the fields of :class:`ForecasterConfig`.

    Shape: ``batch.x`` ``(B, T, F)`` float, ``batch.y`` ``(B, H)`` or ``(B, H, K)``,
    ``batch.future`` ``(B, H, C)``. Returns ``ModelOutput(loss, predictions (B, H) or (B, H, K))`` in
    the batch's units; ``extras``: ``mean``/``std`` (gaussian; ``loc``/``scale`` of the transformed
    differences when ``transform`` or ``difference`` is set: use :meth:`sample` for intervals) or
    ``quantiles`` ``(..., Q)``.

    Buffers: ``future_mean``, ``future_std`` ``(C,)``, the known-future covariates' training
    statistics (see :meth:`fit_future_scaling`); saved in ``state_dict`` with the weights.

    Example:
        >>> model = Forecaster(horizon=6)
        >>> model.forecast(torch.sin(torch.arange(48.0) / 3) * 100 + 500).shape
        torch.Size([6])
    """

    bare_input_hint = "for a raw series call forecast(series)"
    config_class = ForecasterConfig
    q: Tensor  # (Q,) quantile levels, a buffer
    future_mean: Tensor  # (C,) the known-future covariates' training mean, a buffer
    future_std: Tensor  # (C,) ... and std

    def __init__(self, *, horizon: int, num_features: int = 1, num_targets: int = 1, num_future: int = 0,
                 cell: str = "lstm", strategy: str = "direct", head: str = "point", point_loss: str = "mse",
                 quantiles: tuple[float, ...] = (0.1, 0.5, 0.9), hidden_size: int = 64, num_layers: int = 1,
                 dropout: float = 0.0, scaling: str = "instance", window: int | None = None,
                 transform: str = "none", boxcox_lambda: float = 0.0, difference: Sequence[int] = (),
                 highway: int = 0,
                 recurrent_dropout: float = 0.0, zoneout: float = 0.0, weight_drop: float = 0.0,
                 layer_norm: bool = False) -> None:
        super().__init__()
        quantiles, lags, highway = check_options(
            horizon=horizon, num_features=num_features, num_targets=num_targets, num_future=num_future,
            strategy=strategy, head=head, point_loss=point_loss, quantiles=quantiles, scaling=scaling, window=window,
            transform=transform, difference=difference, highway=highway)
        self.config = ForecasterConfig(horizon, num_features, num_targets, num_future, cell, strategy, head,
                                       point_loss, quantiles, hidden_size, num_layers, dropout, scaling, window,
                                       transform, float(boxcox_lambda), lags, highway)
        self.config = with_recurrent_options(self.config, recurrent_dropout, zoneout, weight_drop,
                                             layer_norm)
        self.num_params = num_params(head, quantiles)
        K, P, H = num_targets, self.num_params, horizon
        self.enc_proj = nn.Linear(num_features, hidden_size)
        self.rnn = Recurrent(cell, hidden_size, hidden_size, num_layers=num_layers, dropout=dropout,
                             **recurrent_options(self.config))
        self.drop = nn.Dropout(dropout)
        self.highway: nn.Linear | None = None
        if strategy == "direct":
            self.head = nn.Linear(hidden_size + H * num_future, H * K * P)
            if highway:  # shared by the targets, as LSTNet's; starts at zero: the network alone
                self.highway = nn.Linear(highway, H)
                nn.init.zeros_(self.highway.weight)
                nn.init.zeros_(self.highway.bias)
        else:
            self.dec_proj = nn.Linear(K + num_future, hidden_size)
            self.head = nn.Linear(hidden_size, K * P)
        self.register_buffer("q", torch.tensor(quantiles), persistent=False)
        self.register_buffer("future_mean", torch.zeros(num_future))  # the identity until fitted
        self.register_buffer("future_std", torch.ones(num_future))
        self.median_index = min(range(len(quantiles)), key=lambda i: abs(quantiles[i] - 0.5))
        self.level_order = sorted(range(len(quantiles)), key=lambda i: quantiles[i])

    # -- scaling -----------------------------------------------------------------------------------
    @torch.no_grad()
    def fit_future_scaling(self, future: Tensor | np.ndarray | Iterable[Example | Tensor | np.ndarray]
                           ) -> Forecaster:
        """Set ``future_mean`` and ``future_std`` to the per-column statistics of training covariates;
        the network then reads ``(future - future_mean) / future_std``. :meth:`from_dataset` calls it
        on the train split; call it yourself, before training, for a model built by hand, and pass
        training data only (never validation or test data).

        Every row of an array counts. Training examples are windows that overlap, so that a row of
        the series is in the ``future`` of up to ``H`` of them: where they say where their horizon
        starts (``meta["target_start"]``, as the data sets' windows do), each row of the series counts
        once (:func:`covariate_rows`), else every row of every window.

        Args:
            future: ``(N, H, C)`` (or any ``(..., C)``) covariate values, or training
                examples (:class:`Example`, their ``future``), or a list of ``(H, C)`` arrays.

        Returns:
            the model itself. A constant column gets std 1 (it is only centred).

        Example:
            >>> train_future = torch.randn(100, 7, 2) * 50 + 290  # (N, H, C): a temperature in Kelvin, ...
            >>> model = Forecaster(horizon=7, num_future=2).fit_future_scaling(train_future)
            >>> model.future_mean.shape
            torch.Size([2])
        """
        if not self.config.num_future:
            raise ValueError("this model reads no known-future covariates (num_future=0), so it has none to "
                             "scale; build it with num_future=C to use them")
        if not isinstance(future, Tensor | np.ndarray):
            future = covariate_rows(future)
        mean, std = future_statistics(future, self.config.num_future)
        self.future_mean.copy_(mean)
        self.future_std.copy_(std)
        return self

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, local_metadata: dict[str, Any],
                              strict: bool, missing_keys: list[str], unexpected_keys: list[str],
                              error_msgs: list[str]) -> None:
        # a state dict written before the covariate statistics existed: that model read its covariates
        # raw, which is the identity scaling (mean 0, std 1)
        for name, fill in (("future_mean", 0.0), ("future_std", 1.0)):
            if prefix + name not in state_dict:
                state_dict[prefix + name] = torch.full_like(self.get_buffer(name), fill)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)

    def _stats(self, x: Tensor, lengths: Tensor | None) -> tuple[Tensor, Tensor]:
        """Per-window, per-column mean and std over valid steps: two ``(B, 1, F)`` tensors."""
        return window_stats(x, lengths, self.config.scaling)

    def _check(self, batch: Batch) -> tuple[Tensor, Tensor | None]:
        """``(x, future)`` checked (:func:`~rnnkit.models.forecast_inputs.check_batch`)."""
        return check_batch(batch, self.config, self.enc_proj.weight.dtype)

    # -- the network -------------------------------------------------------------------------------
    def _params(self, raw: Tensor) -> Tensor:
        """Head output ``(..., K*P)`` -> ``(..., K, P)``; Gaussian std made positive."""
        return head_params(raw, self.config.head, self.config.num_targets, self.num_params)

    def _point(self, p: Tensor) -> Tensor:
        """``(..., K, P)`` -> the point value ``(..., K)``: mean, or the quantile nearest 0.5."""
        if self.config.head == "quantile":
            return self._ranked(p)[..., self.median_index]
        return p[..., 0]

    def _ranked(self, p: Tensor) -> Tensor:
        """Quantile outputs ``(..., Q)`` sorted to the order of their levels (:func:`forecast_heads.ranked`)."""
        return ranked(p, self.level_order)

    def _run(self, x_s: Tensor, lengths: Tensor | None, future: Tensor | None,
             choose: Callable[[Tensor], Tensor] | None = None) -> Tensor:
        """Scaled window ``(B, T, F)`` and raw known-future covariates ``(B, H, C)`` (standardised here
        with the training statistics) -> scaled parameters ``(B, H, K, P)``. ``choose`` picks the value
        fed back in the autoregressive rollout (default: the point forecast)."""
        cfg = self.config
        if future is not None:
            future = (future - self.future_mean) / self.future_std  # (B, H, C)
        outputs, state = self.rnn(self.enc_proj(x_s), lengths)  # (B, T, H)
        if cfg.strategy == "direct":
            z = last_valid_step(outputs, lengths)  # (B, hidden)
            if future is not None:
                z = torch.cat([z, future.flatten(1)], dim=-1)
            p = self._params(self.head(self.drop(z)).unflatten(-1, (cfg.horizon, -1)))  # (B, H, K, P)
            if self.highway is not None:
                linear = self.highway(last_steps(x_s[..., : cfg.num_targets], lengths, cfg.highway))  # (B, K, H)
                linear = linear.transpose(1, 2).unsqueeze(-1)  # (B, H, K, 1)
                if cfg.head == "gaussian":  # the location moves; the scale stays the network's
                    p = torch.cat([p[..., :1] + linear, p[..., 1:]], dim=-1)
                else:  # the point, or every quantile alike
                    p = p + linear
            return p
        prev = last_valid_step(x_s[..., : cfg.num_targets], lengths)  # (B, K)
        steps = future.unbind(1) if future is not None else [None] * cfg.horizon
        params = []
        for f_t in steps:
            inp = prev if f_t is None else torch.cat([prev, f_t], dim=-1)
            y_t, state = self.rnn.step(self.dec_proj(inp), state)
            p = self._params(self.head(self.drop(y_t)))  # (B, K, P)
            params.append(p)
            prev = (choose or self._point)(p)
        return torch.stack(params, dim=1)  # (B, H, K, P)

    def _loss(self, p: Tensor, y_s: Tensor) -> Tensor:
        cfg = self.config
        return head_loss(p, y_s, cfg.head, point_loss=cfg.point_loss, levels=self.q, level_order=self.level_order)

    # -- target transforms (models/forecast_transforms.py) ----------------------------------------
    def _lam(self) -> float:
        return target_lambda(self.config)

    def _transform(self, t: Tensor, what: str) -> Tensor:
        """Box-Cox / log of target values (``what`` names them in the error for values <= 0)."""
        return transform_targets(t, self.config, what)

    def _to_model_space(self, x: Tensor, lengths: Tensor | None) -> tuple[Tensor, Tensor | None, list[Tensor]]:
        """Raw window ``(B, T, F)`` -> the window the network reads, its lengths, and the heads that
        invert the differences (:func:`~rnnkit.models.forecast_transforms.to_model_space`)."""
        return to_model_space(x, lengths, self.config)

    def _to_series_space(self, w: Tensor, heads: list[Tensor]) -> Tensor:
        """Forecasts ``(B, H, K[, Q])`` in the network's space -> the series' units."""
        return to_series_space(w, heads, self.config)

    def forward(self, batch: Batch) -> ModelOutput:
        cfg = self.config
        x, future = self._check(batch)
        xm, lengths, heads = self._to_model_space(x, batch.lengths)
        mean, std = self._stats(xm, lengths)  # (B, 1, F)
        p = self._run((xm - mean) / std, lengths, future)  # (B, H, K, P) scaled
        m_k, s_k = mean[..., : cfg.num_targets].unsqueeze(-1), std[..., : cfg.num_targets].unsqueeze(-1)
        squeeze = (lambda t: t.squeeze(2)) if cfg.num_targets == 1 else (lambda t: t)
        point = self._point(p) * s_k[..., 0] + m_k[..., 0]  # (B, H, K) transformed, differenced units
        pred = squeeze(self._to_series_space(point, heads))  # (B, H[, K]) original units
        extras: dict[str, Any] = {}
        if cfg.head == "gaussian" and not heads and cfg.transform == "none":
            extras = {"mean": pred, "std": squeeze(p[..., 1] * s_k[..., 0])}
        elif cfg.head == "gaussian":  # a Gaussian of the transformed differences: sample() for intervals
            extras = {"loc": squeeze(point), "scale": squeeze(p[..., 1] * s_k[..., 0])}
        elif cfg.head == "quantile":  # no differencing here; a monotone transform maps quantiles to quantiles
            extras = {"quantiles": squeeze(self._to_series_space(self._ranked(p) * s_k + m_k, []))}
        loss = None
        if batch.y is not None:
            y_m = self._transform(check_targets(batch.y, cfg, x.shape[0]), "batch.y")  # (B, H, K)
            if heads:
                y_m = difference_future(y_m, heads)
            y_s = (y_m - m_k[..., 0]) / s_k[..., 0]
            loss = self._loss(p, y_s)
        return ModelOutput(loss=loss, predictions=pred, extras=extras)

    @torch.no_grad()
    def predict(self, batch: Batch) -> Tensor:
        """Point forecasts ``(B, H)`` or ``(B, H, K)`` in the batch's units."""
        require_batch(batch)
        out = self.forward(Batch(x=batch.x, lengths=batch.lengths, future=batch.future))
        assert out.predictions is not None
        return out.predictions

    @torch.no_grad()
    def sample(self, batch: Batch, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """``n`` sample paths ``(n, B, H[, K])`` in original units (Gaussian head). The autoregressive
        strategy feeds each path's own samples back; the direct one samples each step independently.
        With ``transform`` / ``difference`` the Gaussian is over the transformed differences: each
        path is summed back and untransformed, so empirical quantiles of the paths are forecast
        intervals in the series' units (log: log-normal steps)."""
        return sample_paths(self, batch, n, generator)

    @torch.no_grad()
    def quantiles(self, batch: Batch, levels: Sequence[float] | None = None, *, samples: int = 1000,
                  generator: torch.Generator | None = None) -> Tensor:
        """Forecast quantiles ``(B, H[, K], Q)`` in the batch's units, one per level of ``levels``.

        The quantile head returns its own: ``levels`` must be among those it was trained for (default:
        all of them). The Gaussian head takes any levels in (0, 1) (default 0.1, 0.5, 0.9) and reads
        them off ``samples`` sample paths (:meth:`sample`), so that transforms and differencing carry
        the uncertainty through. A point head has no distribution: that is a ValueError."""
        require_batch(batch)
        return forecast_quantiles(self, batch, levels, samples, generator)

    @torch.no_grad()
    def forecast(self, series: Tensor | np.ndarray, horizon: int | None = None, *,
                 future: Tensor | np.ndarray | None = None) -> Tensor | np.ndarray:
        """Forecast the next ``horizon`` values of a raw series, in its own units.

        Args:
            series: ``(T,)`` (univariate) or ``(T, F)``. A model with a ``config.window`` reads the
                last ``window`` steps and needs ``T >= window`` (the network learnt from windows of
                exactly that length). numpy (or pandas) in -> numpy out; a tensor -> a tensor.
            horizon: 1 <= horizon <= ``config.horizon`` (default: ``config.horizon``).
            future: known-future covariates ``(config.horizon, C)`` when the model uses them.

        Returns:
            ``(horizon,)`` or ``(horizon, K)``, in the series' float type: float64 for a float64 array or
            tensor and for pandas; the model's (float32) for integers.
        """
        return forecast_series(self, series, horizon, future)

    @classmethod
    def suggested_options(cls, dataset: SequenceDataset, head: str = "point") -> dict[str, Any]:
        """What the training data suggest for ``transform`` and ``difference``, read off the train split
        by classical rules (:func:`rnnkit.models.forecast_options.suggested_options`): ``"log"`` for a
        positive series whose level grows by :data:`LOG_RATIO` within an example, ``[m]`` for a season
        of ``m`` steps whose lag-``m`` autocorrelation reaches :data:`SEASONAL_ACF` (not with the
        quantile head: quantiles do not add up)."""
        return _suggested_options(dataset, head)

    @classmethod
    def from_dataset(cls, dataset: SequenceDataset, **hyper: Any) -> Forecaster:
        """Reads ``horizon``, ``window``, ``num_features`` and ``num_targets`` from the dataset info and
        ``num_future`` from the first training item's ``future``; ``transform`` and ``difference``,
        unless given, follow :meth:`suggested_options` (pass ``transform="none"``, ``difference=()``
        for a plain network). With known-future covariates, their scaling statistics are fitted on
        the train split's ``future`` (:meth:`fit_future_scaling`), never on valid or test: each row of
        the series that a training window's horizon covers counts once, however many windows hold it."""
        hyper = dataset_options(dataset, hyper, cls.suggested_options(dataset, hyper.get("head", "point")))
        model = cls(**hyper)
        if model.config.num_future and len(dataset.train):
            model.fit_future_scaling(dataset.train[i] for i in range(len(dataset.train)))
        return model


__all__ = ["HEADS", "LOG_RATIO", "SAMPLED_LEVELS", "SEASONAL_ACF", "STRATEGIES", "TRANSFORMS", "Forecaster",
           "ForecasterConfig", "box_cox", "check_lags", "check_levels", "covariate_rows", "difference_future",
           "difference_window", "future_statistics", "inverse_box_cox", "last_steps", "quantiles_of_paths",
           "undifference"]

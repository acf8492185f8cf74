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
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.data.batch import Batch, Example, lengths_to_mask
from rnnkit.data.dataset import SequenceDataset
from rnnkit.layers.pooling import last_valid_step
from rnnkit.layers.recurrent import Recurrent
from rnnkit.models.base import Model, ModelOutput, checked_series, recurrent_options, with_recurrent_options
from rnnkit.models.forecast_transforms import (
    TRANSFORMS,
    box_cox,
    check_lags,
    difference_future,
    difference_window,
    future_statistics,
    inverse_box_cox,
    undifference,
)

STRATEGIES = ("direct", "autoregressive")
HEADS = ("point", "gaussian", "quantile")
_EPS = 1e-5


def last_steps(x: Tensor, lengths: Tensor | None, n: int) -> Tensor:
    """The last ``n`` valid steps of each series: ``(B, T, K)`` -> ``(B, K, n)``, oldest first; a series
    shorter than ``n`` is padded with zeros on the left (the scaled window's mean)."""
    B, T, K = x.shape
    end = torch.full((B,), T, device=x.device) if lengths is None else lengths.to(x.device)
    idx = end.unsqueeze(1) - n + torch.arange(n, device=x.device)  # (B, n)
    valid = (idx >= 0).unsqueeze(-1)
    out = x.gather(1, idx.clamp_min(0).unsqueeze(-1).expand(B, n, K))
    return torch.where(valid, out, torch.zeros_like(out)).transpose(1, 2)


def covariate_rows(items: Iterable[Example | Tensor | np.ndarray]) -> list[Example | Tensor | np.ndarray]:
    """The known-future covariates of forecasting windows with each row of the series once.

    Windows overlap: with stride 1 and horizon H, a row is in the ``future`` of up to H windows (rows
    near the ends of the training part in fewer), and statistics of the windows' rows would weigh
    each row by how many windows hold it. When every item is an :class:`Example` whose ``meta``
    says where its horizon starts (``target_start``, as :func:`rnnkit.data.windows.make_windows`
    writes, with ``series`` for a table of several), the rows are read back by ``(series, step)``,
    each once. Otherwise (arrays, or examples without that index) the items are returned as given,
    and every row of every window counts.

    Returns:
        ``[rows (N, C)]``, the distinct rows, or the items unchanged.
    """
    items = list(items)
    if not items or not all(isinstance(e, Example) and e.future is not None and e.future.dim() == 2
                            and "target_start" in e.meta for e in items):
        return items
    codes: dict[Any, int] = {}  # series key -> a number
    keys, rows = [], []
    for e in items:
        assert isinstance(e, Example) and e.future is not None
        H, start = e.future.shape[0], int(e.meta["target_start"])
        code = codes.setdefault(e.meta.get("series"), len(codes))
        keys.append(np.stack([np.full(H, code), np.arange(start, start + H)], axis=1))  # (H, 2): series, step
        rows.append(e.future)
    _, first = np.unique(np.concatenate(keys), axis=0, return_index=True)  # each (series, step) once
    return [torch.cat(rows)[torch.as_tensor(np.sort(first))]]  # (N, C) in the windows' order


SAMPLED_LEVELS = (0.1, 0.5, 0.9)  # the levels a Gaussian head's quantiles default to


def check_levels(levels: Sequence[float] | None, default: Sequence[float]) -> list[float]:
    """Quantile levels as floats in (0, 1), in the order given (``default`` when None)."""
    chosen = [float(q) for q in (default if levels is None else levels)]
    if not chosen or any(not 0.0 < q < 1.0 for q in chosen):
        raise ValueError(f"quantile levels must be a non-empty list of values in (0, 1), got {chosen}")
    return chosen


def quantiles_of_paths(sample: Callable[..., Tensor], batch: Batch, levels: list[float], samples: int,
                       generator: torch.Generator | None) -> Tensor:
    """Quantiles ``(B, H[, K], Q)`` read off ``samples`` paths of ``sample(batch, n, generator=...)``
    (a Gaussian forecaster's, or an ensemble's mixture)."""
    if samples < 2:
        raise ValueError(f"samples must be >= 2 to read quantiles off them, got {samples}")
    paths = sample(batch, samples, generator=generator)  # (n, B, H[, K])
    q = torch.tensor(levels, dtype=paths.dtype, device=paths.device)
    return torch.quantile(paths, q, dim=0).movedim(0, -1)


def _require_batch(batch: Batch) -> None:
    if not isinstance(batch, Batch):
        raise TypeError(f"Forecaster takes a Batch, got {type(batch).__name__}; for a raw series call "
                        "forecast(series)")


@dataclass(frozen=True)
class ForecasterConfig:
    """``num_features``: F columns of x (targets first); ``num_targets``: K series forecast;
    ``num_future``: C known-future covariates; ``point_loss``: ``mse`` or ``mae``; ``window``: when
    set, ``forecast()`` reads the last ``window`` steps of a series and refuses a shorter one; ``transform``: ``none``,
    ``log`` or ``boxcox`` (with ``boxcox_lambda``) of the targets; ``difference``: lags differenced
    in turn after the transform (see the module docstring); ``highway``: with the direct strategy, a
    linear map from the last ``highway`` steps of each target (as the network reads them: transformed,
    differenced, scaled) to its ``horizon`` forecasts, added to the head's output (LSTNet's
    autoregressive "highway", Lai et al. 2018): the linear part of the forecast, which the recurrent
    network then corrects; 0: off."""

    horizon: int
    num_features: int = 1
    num_targets: int = 1
    num_future: int = 0
    cell: str = "lstm"
    strategy: str = "direct"
    head: str = "point"
    point_loss: str = "mse"
    quantiles: tuple[float, ...] = (0.1, 0.5, 0.9)
    hidden_size: int = 64
    num_layers: int = 1
    dropout: float = 0.0
    scaling: str = "instance"
    window: int | None = None
    transform: str = "none"
    boxcox_lambda: float = 0.0
    difference: tuple[int, ...] = ()
    highway: int = 0
    recurrent_dropout: float = 0.0
    zoneout: float = 0.0
    weight_drop: float = 0.0
    layer_norm: bool = False


SEASONAL_ACF = 0.5  # from_dataset differences a season whose lag-m autocorrelation reaches this
LOG_RATIO = 1.5  # ... and takes logs of a positive series whose level moves by this factor in an example


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
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon}")
        if num_features < 1 or not 1 <= num_targets <= num_features:
            raise ValueError(f"need 1 <= num_targets <= num_features, got {num_targets} and {num_features}")
        if num_future < 0:
            raise ValueError(f"num_future must be >= 0, got {num_future}")
        for name, value, allowed in (("strategy", strategy, STRATEGIES), ("head", head, HEADS),
                                     ("point_loss", point_loss, ("mse", "mae")),
                                     ("scaling", scaling, ("instance", "none")), ("transform", transform, TRANSFORMS)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        quantiles = tuple(float(q) for q in quantiles)
        if head == "quantile" and (not quantiles or any(not 0.0 < q < 1.0 for q in quantiles)):
            raise ValueError(f"quantiles must be a non-empty list of values in (0, 1), got {quantiles}")
        lags = check_lags(difference)
        if lags and head == "quantile":
            raise ValueError("difference needs head='point' or 'gaussian': quantiles of the differences do not "
                             "add up over the horizon (the Gaussian head's sample() paths do)")
        if window is not None and window <= sum(lags):
            raise ValueError(f"window={window} leaves nothing after difference={list(lags)}; read a window "
                             f"longer than {sum(lags)} steps")
        highway = int(highway)
        if highway < 0:
            raise ValueError(f"highway must be >= 0 (steps read by the linear part; 0: off), got {highway}")
        if highway and strategy != "direct":
            raise ValueError("highway maps the window's last steps to all horizon steps at once: it needs "
                             "strategy='direct'")
        if highway and window is not None and highway > window - sum(lags):
            raise ValueError(f"highway={highway} reads more steps than the window gives the network "
                             f"({window - sum(lags)} = window {window} - difference {list(lags)})")
        self.config = ForecasterConfig(horizon, num_features, num_targets, num_future, cell, strategy, head,
                                       point_loss, quantiles, hidden_size, num_layers, dropout, scaling, window,
                                       transform, float(boxcox_lambda), lags, highway)
        self.config = with_recurrent_options(self.config, recurrent_dropout, zoneout, weight_drop,
                                             layer_norm)
        self.num_params = {"point": 1, "gaussian": 2, "quantile": len(quantiles)}[head]
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
        if self.config.scaling == "none":
            return torch.zeros_like(x[:, :1]), torch.ones_like(x[:, :1])
        m = (torch.ones_like(x[..., 0]) if lengths is None else lengths_to_mask(lengths, x.shape[1]).to(x))
        m = m.unsqueeze(-1)  # (B, T, 1)
        n = m.sum(1, keepdim=True)
        mean = (x * m).sum(1, keepdim=True) / n
        var = ((x - mean) ** 2 * m).sum(1, keepdim=True) / n
        return mean, var.sqrt().clamp_min(_EPS)  # a floor, not var + eps: scaling stays exact (a*s+b)

    def _check(self, batch: Batch) -> tuple[Tensor, Tensor | None]:
        _require_batch(batch)
        cfg, x = self.config, batch.x
        if x is None or not x.is_floating_point() or x.dim() != 3 or x.shape[-1] != cfg.num_features:
            got = None if x is None else (tuple(x.shape), x.dtype)
            raise ValueError(f"Forecaster expects x of shape (B, T, {cfg.num_features}) float (targets first, "
                             f"then past covariates), got {got}; set num_features to match the data")
        dtype = self.enc_proj.weight.dtype
        if x.dtype != dtype:
            raise ValueError(f"batch.x is {x.dtype} but the model's parameters are {dtype}; convert one of them "
                             f"(x.to({dtype}) or model.to(x.dtype))")
        if batch.lengths is not None and batch.lengths.shape != x.shape[:1]:
            raise ValueError(f"batch.lengths must be ({x.shape[0]},), one length per window, got "
                             f"{tuple(batch.lengths.shape)}")
        # torch.export / compile trace symbolic values: a Python `if` on them cannot be traced
        checks_values = not torch.compiler.is_compiling()
        x = checked_series(x, batch.lengths, "the input window")
        future = batch.future
        if cfg.num_future:
            if future is None or tuple(future.shape) != (x.shape[0], cfg.horizon, cfg.num_future):
                raise ValueError(f"this model needs batch.future of shape (B, {cfg.horizon}, {cfg.num_future}) "
                                 f"with B = {x.shape[0]} (x's batch), "
                                 f"got {None if future is None else tuple(future.shape)}")
            if checks_values and torch.isnan(future).any():
                raise ValueError("NaN in batch.future (known-future covariates)")
        return x, future if cfg.num_future else None

    # -- the network -------------------------------------------------------------------------------
    def _params(self, raw: Tensor) -> Tensor:
        """Head output ``(..., K*P)`` -> ``(..., K, P)``; Gaussian std made positive."""
        p = raw.unflatten(-1, (self.config.num_targets, self.num_params))
        if self.config.head == "gaussian":
            p = torch.stack([p[..., 0], F.softplus(p[..., 1]) + 1e-3], dim=-1)
        return p

    def _point(self, p: Tensor) -> Tensor:
        """``(..., K, P)`` -> the point value ``(..., K)``: mean, or the quantile nearest 0.5."""
        if self.config.head == "quantile":
            return self._ranked(p)[..., self.median_index]
        return p[..., 0]

    def _ranked(self, p: Tensor) -> Tensor:
        """Quantile outputs ``(..., Q)`` sorted to the order of their levels: quantiles that cross are
        rearranged (Chernozhukov et al. 2010). Their pinball loss is never higher than the crossed
        outputs' (for levels a < b and values u < v, giving u to a and v to b lowers the sum by
        (b - a)(v - u)), so the loss reads them as well as the forecasts."""
        order = self.level_order  # a permutation; placing values back is its inverse
        back = sorted(range(len(order)), key=lambda i: order[i])
        return p[..., order].sort(dim=-1).values[..., back]

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
        head = self.config.head
        if head == "point":
            return F.mse_loss(p[..., 0], y_s) if self.config.point_loss == "mse" else F.l1_loss(p[..., 0], y_s)
        if head == "gaussian":
            return F.gaussian_nll_loss(p[..., 0], y_s, p[..., 1] ** 2, full=True)
        err = y_s.unsqueeze(-1) - self._ranked(p)  # (B, H, K, Q); the pinball loss of the quantiles reported
        return torch.maximum(self.q * err, (self.q - 1) * err).mean()

    # -- target transforms (models/forecast_transforms.py) ----------------------------------------
    def _lam(self) -> float:
        return 0.0 if self.config.transform == "log" else self.config.boxcox_lambda

    def _transform(self, t: Tensor, what: str) -> Tensor:
        """Box-Cox / log of target values (``what`` names them in the error for values <= 0)."""
        if self.config.transform == "none":
            return t
        if not torch.compiler.is_compiling() and (t <= 0).any():
            rows = (t <= 0).flatten(1).any(1).nonzero().flatten().tolist()
            raise ValueError(f"transform={self.config.transform!r} needs target values > 0, but {what} of batch "
                             f"items {rows[:10]} has values <= 0; shift the series or use transform='none'")
        return box_cox(t, self._lam())

    def _to_model_space(self, x: Tensor, lengths: Tensor | None) -> tuple[Tensor, Tensor | None, list[Tensor]]:
        """Raw window ``(B, T, F)`` -> the window the network reads (targets transformed, then
        differenced; past covariates cut to the same steps), its lengths, and the heads that invert
        the differences."""
        cfg = self.config
        if cfg.transform == "none" and not cfg.difference:
            return x, lengths, []
        K, short = cfg.num_targets, sum(cfg.difference)
        target, rest = x[..., :K], x[..., K:]
        if cfg.transform != "none" and lengths is not None:  # right padding is no data: keep it out of the log
            valid = lengths_to_mask(lengths, x.shape[1]).unsqueeze(-1)  # (B, T, 1)
            target = torch.where(valid, target, torch.ones_like(target))
        target = self._transform(target, "the input window")
        heads: list[Tensor] = []
        if cfg.difference:
            # traced (torch.export) the lengths are symbolic: the check is the exported program's caller's
            n = x.shape[1] if lengths is None or torch.compiler.is_compiling() else int(lengths.min())
            if n <= short:
                raise ValueError(f"a window of {n} steps is too short for difference={list(cfg.difference)}: "
                                 f"it needs more than {short} steps; pass a longer series or window")
            target, lengths, heads = difference_window(target, cfg.difference, lengths)
            rest = rest[:, short:]
        return torch.cat([target, rest], dim=-1), lengths, heads

    def _to_series_space(self, w: Tensor, heads: list[Tensor]) -> Tensor:
        """Forecasts ``(B, H, K[, Q])`` in the network's space -> the series' units."""
        if heads:
            w = undifference(w, heads, self.config.difference)
        return w if self.config.transform == "none" else inverse_box_cox(w, self._lam())

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
            y = batch.y
            if (not y.is_floating_point() or y.numel() != x.shape[0] * cfg.horizon * cfg.num_targets
                    or (y.dim() > 0 and y.shape[0] != x.shape[0])):
                raise ValueError(f"batch.y must be (B, {cfg.horizon}) or (B, {cfg.horizon}, {cfg.num_targets}) "
                                 f"float with B = {x.shape[0]} (x's batch), got {tuple(y.shape)} {y.dtype}")
            if not torch.compiler.is_compiling() and not torch.isfinite(y).all():
                rows = (~torch.isfinite(y)).flatten(1).any(1).nonzero().flatten().tolist()
                raise ValueError(f"NaN or infinity in batch.y (the targets) of batch items {rows[:10]}")
            y_m = self._transform(y.reshape(x.shape[0], cfg.horizon, cfg.num_targets), "batch.y")
            if heads:
                y_m = difference_future(y_m, heads)
            y_s = (y_m - m_k[..., 0]) / s_k[..., 0]
            loss = self._loss(p, y_s)
        return ModelOutput(loss=loss, predictions=pred, extras=extras)

    @torch.no_grad()
    def predict(self, batch: Batch) -> Tensor:
        """Point forecasts ``(B, H)`` or ``(B, H, K)`` in the batch's units."""
        _require_batch(batch)
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
        cfg = self.config
        if cfg.head != "gaussian":
            raise ValueError(f"sample() needs head='gaussian', this model has head={cfg.head!r}")
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        x, future = self._check(batch)
        B = x.shape[0]

        def rep(t: Tensor | None) -> Tensor | None:  # n copies of the batch, copy-major
            return None if t is None else t.repeat(n, *([1] * (t.dim() - 1)))

        x, lengths, future = x.repeat(n, 1, 1), rep(batch.lengths), rep(future)
        x, lengths, heads = self._to_model_space(x, lengths)
        mean, std = self._stats(x, lengths)

        fed: list[Tensor] = []

        def draw(p: Tensor) -> Tensor:
            noise = torch.randn(p[..., 0].shape, generator=generator, device=p.device, dtype=p.dtype)
            fed.append(p[..., 0] + p[..., 1] * noise)
            return fed[-1]

        p = self._run((x - mean) / std, lengths, future, choose=draw)  # (n*B, H, K, 2)
        # autoregressive: the path is what was fed back; direct: each step drawn independently
        paths = torch.stack(fed, dim=1) if cfg.strategy == "autoregressive" else draw(p)  # (n*B, H, K)
        paths = paths * std[..., : cfg.num_targets] + mean[..., : cfg.num_targets]  # (n*B, H, K)
        paths = self._to_series_space(paths, heads)  # each path summed back and untransformed
        paths = paths.view(n, B, cfg.horizon, cfg.num_targets)
        return paths.squeeze(-1) if cfg.num_targets == 1 else paths

    @torch.no_grad()
    def quantiles(self, batch: Batch, levels: Sequence[float] | None = None, *, samples: int = 1000,
                  generator: torch.Generator | None = None) -> Tensor:
        """Forecast quantiles ``(B, H[, K], Q)`` in the batch's units, one per level of ``levels``.

        The quantile head returns its own: ``levels`` must be among those it was trained for (default:
        all of them). The Gaussian head takes any levels in (0, 1) (default 0.1, 0.5, 0.9) and reads
        them off ``samples`` sample paths (:meth:`sample`), so that transforms and differencing carry
        the uncertainty through. A point head has no distribution: that is a ValueError."""
        _require_batch(batch)
        cfg = self.config
        levels = check_levels(levels, cfg.quantiles if cfg.head == "quantile" else SAMPLED_LEVELS)
        if cfg.head == "quantile":
            known = [float(q) for q in cfg.quantiles]
            missing = [q for q in levels if not any(abs(q - k) < 1e-9 for k in known)]
            if missing:
                raise ValueError(f"this forecaster's quantile head was trained for the levels {known}, not "
                                 f"{missing}: ask for some of those, or train with quantiles={sorted(known + missing)}")
            out = self.forward(Batch(x=batch.x, lengths=batch.lengths, future=batch.future)).extras["quantiles"]
            index = [min(range(len(known)), key=lambda i: abs(known[i] - level)) for level in levels]
            return out[..., index]
        if cfg.head != "gaussian":
            raise ValueError(f"this forecaster has head={cfg.head!r}, a point forecast without a distribution: "
                             "train with head='gaussian' (any levels) or head='quantile' for quantiles")
        return quantiles_of_paths(self.sample, batch, levels, samples, generator)

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
            ``(horizon,)`` or ``(horizon, K)``.
        """
        cfg = self.config
        if horizon is not None and (isinstance(horizon, bool) or not isinstance(horizon, int | np.integer)):
            raise TypeError(f"horizon must be an int (steps to forecast), got {horizon!r}")
        horizon = cfg.horizon if horizon is None else int(horizon)
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon}")
        if horizon > cfg.horizon:
            raise ValueError(f"this model forecasts at most {cfg.horizon} steps, asked for {horizon}; "
                             f"train with horizon={horizon} or forecast in chunks")
        if hasattr(series, "to_numpy") and hasattr(series, "index"):  # a pandas Series or DataFrame: its values
            series = np.array(series, dtype=np.float64)  # a writable copy: pandas may hand out read-only views
        is_numpy = isinstance(series, np.ndarray)
        dtype = self.enc_proj.weight.dtype  # float32 unless the model was converted
        try:
            if isinstance(series, np.ndarray) and not series.flags.writeable:  # pandas to_numpy(): torch would warn
                series = series.copy()
            x = torch.as_tensor(series, dtype=dtype, device=self.device)
        except (TypeError, ValueError, RuntimeError) as e:
            raise TypeError(f"series must be numbers, (T,) or (T, {cfg.num_features}), got {type(series).__name__} "
                            f"that does not convert to a float tensor: {e}") from e
        if x.dim() == 1:
            x = x.unsqueeze(-1)
        if x.dim() != 2 or x.shape[-1] != cfg.num_features or x.shape[0] < 1:
            raise ValueError(f"series must be (T,) or (T, {cfg.num_features}) with T >= 1 "
                             f"(this model reads {cfg.num_features} features), got {tuple(x.shape)}")
        if cfg.window is not None:
            if x.shape[0] < cfg.window:
                raise ValueError(f"series has {x.shape[0]} steps, fewer than this model's window of {cfg.window} "
                                 f"steps (it learnt from windows of exactly {cfg.window}); pass at least "
                                 f"{cfg.window} steps of history")
            x = x[-cfg.window:]
        if future is None and cfg.num_future:
            raise ValueError(f"this model reads {cfg.num_future} known-future covariate(s): pass future=, their "
                             f"values over the next {cfg.horizon} steps, ({cfg.horizon}, {cfg.num_future})")
        if future is not None and not cfg.num_future:
            raise ValueError("future holds known-future covariates, but this model was trained without them "
                             "(num_future=0): leave future out")
        if hasattr(future, "to_numpy") and hasattr(future, "index"):
            future = np.array(future, dtype=np.float64)  # a pandas frame of the covariates (a writable copy)
        f = None if future is None else torch.as_tensor(np.asarray(future), dtype=dtype,
                                                        device=self.device).unsqueeze(0)
        if f is not None and not torch.isfinite(f).all():
            raise ValueError("future (the known covariates) holds NaN or infinity: fill it first")
        was_training = self.training
        self.eval()
        try:
            pred = self.forward(Batch(x=x.unsqueeze(0), future=f)).predictions
        finally:
            self.train(was_training)
        assert pred is not None
        out = pred[0, :horizon]
        return out.cpu().numpy() if is_numpy else out

    @classmethod
    def suggested_options(cls, dataset: SequenceDataset, head: str = "point") -> dict[str, Any]:
        """What the training data suggest for ``transform`` and ``difference`` (classical rules, as
        a statistician would read the series; only the train split is read):

        * ``transform="log"`` when every target value is positive and, in the median training
          example (window and horizon), the level varies by a factor of :data:`LOG_RATIO` or more
          (growth that scales the season with it, as in AirPassengers);
        * ``difference=[m]`` for a season of ``m`` steps (``info.extra["season_length"]``) that is
          strong in the training windows: autocorrelation at lag ``m`` of the (transformed) first
          differences at least :data:`SEASONAL_ACF`, in windows of at least ``2m`` steps.

        The quantile head takes the transform but no difference (quantiles do not add up).
        """
        if not len(dataset.train):
            return {}
        K = dataset.info.num_targets or 1
        windows = []  # per training example, (K, W + H): each target's window followed by its horizon
        n = len(dataset.train)
        for ex in (dataset.train[i] for i in range(0, n, max(1, n // 256))):  # at most ~256 examples
            if ex.x is None:
                continue
            x = ex.x.double().reshape(ex.x.shape[0], -1)[:, :K]
            if ex.y is not None and ex.y.numel() % K == 0:
                x = torch.cat([x, ex.y.double().reshape(-1, K)])
            windows.append(x.t())
        if not windows:
            return {}
        values = torch.cat([w.reshape(-1) for w in windows])
        out: dict[str, Any] = {}
        positive = bool((values > 0).all()) and bool(torch.isfinite(values).all())
        if positive and float(torch.tensor([float(w.max() / w.min()) for w in windows]).median()) >= LOG_RATIO:
            out["transform"] = "log"
        m = int(dataset.info.extra.get("season_length", 1) or 1)
        if m > 1 and (dataset.info.window is None or dataset.info.window > m):  # the window must outlast the lag
            acfs = []
            for w in windows:
                z = w.log() if out.get("transform") == "log" else w
                for row in z:
                    if row.numel() < 2 * m + 1:
                        continue
                    d = row.diff()
                    a, b = d[m:] - d[m:].mean(), d[:-m] - d[:-m].mean()
                    den = float((a.square().sum() * b.square().sum()).sqrt())
                    if den > 0:
                        acfs.append(float((a * b).sum()) / den)
            if acfs and sum(acfs) / len(acfs) >= SEASONAL_ACF and head != "quantile":
                out["difference"] = [m]
        return out

    @classmethod
    def from_dataset(cls, dataset: SequenceDataset, **hyper: Any) -> Forecaster:
        """Reads ``horizon``, ``window``, ``num_features`` and ``num_targets`` from the dataset info and
        ``num_future`` from the first training item's ``future``; ``transform`` and ``difference``,
        unless given, follow :meth:`suggested_options` (pass ``transform="none"``, ``difference=()``
        for a plain network). With known-future covariates, their scaling statistics are fitted on
        the train split's ``future`` (:meth:`fit_future_scaling`), never on valid or test: each row of
        the series that a training window's horizon covers counts once, however many windows hold it."""
        info = dataset.info
        for key, value in cls.suggested_options(dataset, hyper.get("head", "point")).items():
            hyper.setdefault(key, value)
        first = dataset.train[0] if len(dataset.train) else None
        if "horizon" not in hyper:
            if info.horizon is None:
                raise ValueError(f"dataset {info.name!r} gives no horizon; pass horizon=")
            hyper["horizon"] = info.horizon
        if "num_features" not in hyper:
            if info.num_features is not None:
                hyper["num_features"] = info.num_features
            elif first is not None and first.x is not None:
                hyper["num_features"] = int(first.x.shape[-1]) if first.x.dim() == 2 else 1
        hyper.setdefault("num_targets", info.num_targets or 1)
        hyper.setdefault("window", info.window)
        if "num_future" not in hyper and first is not None and first.future is not None:
            hyper["num_future"] = int(first.future.shape[-1])
        model = cls(**hyper)
        if model.config.num_future and len(dataset.train):
            model.fit_future_scaling(dataset.train[i] for i in range(len(dataset.train)))
        return model

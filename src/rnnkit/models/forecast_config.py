"""``ForecasterConfig``: what a :class:`~rnnkit.models.forecaster.Forecaster` is built from, saved with
its weights (``config.json``) and read back by ``rnnkit.load``."""

from __future__ import annotations

from dataclasses import dataclass


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

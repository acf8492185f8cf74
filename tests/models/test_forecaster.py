"""Forecaster: beats seasonal-naive on a noisy sine, scaling round-trips, forecasts come back in the
series' own units, and bad input is refused with a clear message."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from rnnkit.data.batch import Batch, Example
from rnnkit.data.dataset import DatasetInfo, ExampleList, SequenceDataset
from rnnkit.models import Forecaster

PERIOD, WINDOW, HORIZON = 12, 24, 6



def noisy_sines(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Windows ``(n, WINDOW, 1)`` and targets ``(n, HORIZON)`` in raw units: level 10-100, amplitude 1-5."""
    t = torch.arange(WINDOW + HORIZON, dtype=torch.float32)
    phase = torch.rand(n, 1, generator=gen) * 2 * math.pi
    amp = 1 + 4 * torch.rand(n, 1, generator=gen)
    level = 10 + 90 * torch.rand(n, 1, generator=gen)
    series = level + amp * torch.sin(2 * math.pi * t / PERIOD + phase)
    series = series + 0.3 * amp * torch.randn(series.shape, generator=gen)
    return series[:, :WINDOW, None], series[:, WINDOW:]


@pytest.mark.parametrize("strategy", ["direct", "autoregressive"])
def test_beats_seasonal_naive_on_a_noisy_sine(strategy: str) -> None:
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    x, y = noisy_sines(512, gen)
    x_test, y_test = noisy_sines(256, gen)
    model = Forecaster(horizon=HORIZON, cell="gru", strategy=strategy, hidden_size=24, point_loss="mae")
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for step in range(100):
        i = (step * 64) % 512
        loss = model(Batch(x=x[i : i + 64], y=y[i : i + 64])).loss
        assert loss is not None
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    mae = (model.predict(Batch(x=x_test)) - y_test).abs().mean().item()
    naive = x_test[:, WINDOW - PERIOD : WINDOW - PERIOD + HORIZON, 0]  # the same phase one period ago
    naive_mae = (naive - y_test).abs().mean().item()
    assert mae < 0.9 * naive_mae, (mae, naive_mae)


@pytest.mark.parametrize("head", ["point", "gaussian", "quantile"])
@pytest.mark.parametrize("strategy", ["direct", "autoregressive"])
def test_instance_scaling_makes_forecasts_follow_the_units(head: str, strategy: str) -> None:
    """Scaling is inverted exactly: forecast(a * s + b) == a * forecast(s) + b for a > 0."""
    torch.manual_seed(1)
    model = Forecaster(horizon=4, num_features=2, num_targets=2, cell="lstm", strategy=strategy, head=head,
                       hidden_size=8).eval()
    s = torch.randn(20, 2)
    a, b = torch.tensor([250.0, 0.01]), torch.tensor([1000.0, -3.0])
    out, out_scaled = model(Batch(x=s[None])), model(Batch(x=(a * s + b)[None]))
    assert out.predictions is not None and out_scaled.predictions is not None
    torch.testing.assert_close(out_scaled.predictions, a * out.predictions + b, atol=1e-3, rtol=1e-4)
    if head == "quantile":
        torch.testing.assert_close(out_scaled.extras["quantiles"], a[:, None] * out.extras["quantiles"] + b[:, None],
                                   atol=1e-3, rtol=1e-4)
    if head == "gaussian":
        torch.testing.assert_close(out_scaled.extras["std"], a * out.extras["std"], atol=1e-4, rtol=1e-4)


def test_scaling_round_trips_and_forecast_returns_original_units() -> None:
    model = Forecaster(horizon=3, cell="gru", hidden_size=8)
    x = torch.randn(2, 10, 1) * 40 + 500
    mean, std = model._stats(x, None)
    torch.testing.assert_close((x - mean) / std * std + mean, x)
    torch.testing.assert_close(((x - mean) / std).mean(1), torch.zeros(2, 1), atol=1e-5, rtol=0)
    # a flat series has nothing to forecast but its level, whatever the (untrained) weights
    flat = np.full(16, 1234.5)
    out = model.forecast(flat)
    assert isinstance(out, np.ndarray) and out.shape == (3,)
    np.testing.assert_allclose(out, 1234.5, atol=0.05)
    series = torch.sin(torch.arange(30.0)) * 100 + 1000
    torch.testing.assert_close(model.forecast(series, 2), model.predict(Batch(x=series[None, :, None]))[0, :2])
    unscaled = Forecaster(horizon=3, cell="gru", hidden_size=8, scaling="none")
    assert float(torch.as_tensor(unscaled.forecast(flat)).abs().max()) < 100  # no way back to 1234.5
    frozen = np.full(16, 1234.5)
    frozen.flags.writeable = False  # as pandas' to_numpy() hands them out: read without a torch warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(model.forecast(frozen), out)


def test_forecast_answers_in_the_series_own_float_type() -> None:
    import pandas as pd

    model = Forecaster(horizon=3, cell="gru", hidden_size=8)
    series = np.sin(np.arange(20.0)) * 10 + 50
    assert model.forecast(series).dtype == np.float64
    assert model.forecast(series.astype(np.float32)).dtype == np.float32
    assert model.forecast(series.round().astype(np.int64)).dtype == np.float32  # integers: the model's
    assert model.forecast(pd.Series(series)).dtype == np.float64
    assert model.forecast(torch.from_numpy(series)).dtype == torch.float64
    assert model.forecast(torch.from_numpy(series).float()).dtype == torch.float32
    np.testing.assert_allclose(model.forecast(series), model.forecast(series.astype(np.float32)), rtol=1e-6)


def test_padded_windows_forecast_like_unpadded_ones() -> None:
    torch.manual_seed(2)
    for strategy in ("direct", "autoregressive"):
        model = Forecaster(horizon=3, cell="gru", strategy=strategy, hidden_size=6).eval()
        short, long = torch.randn(5, 1) + 7, torch.randn(9, 1) - 2
        x = torch.zeros(2, 9, 1)
        x[0, :5], x[1] = short, long
        batch_pred = model.predict(Batch(x=x, lengths=torch.tensor([5, 9])))
        torch.testing.assert_close(batch_pred[0], model.predict(Batch(x=short[None]))[0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(batch_pred[1], model.predict(Batch(x=long[None]))[0], atol=1e-5, rtol=1e-5)


def test_heads_losses_and_sample_paths() -> None:
    torch.manual_seed(3)
    x, y = torch.randn(4, 10, 1), torch.randn(4, 3)
    q = Forecaster(horizon=3, head="quantile", quantiles=(0.2, 0.5, 0.8), cell="gru", hidden_size=6)
    out = q(Batch(x=x, y=y))
    mean, std = q._stats(x, None)
    qs = (out.extras["quantiles"] - mean) / std  # (B, H, Q), scaled; mean, std: (B, 1, 1)
    err = ((y - mean[..., 0]) / std[..., 0]).unsqueeze(-1) - qs
    tau = torch.tensor([0.2, 0.5, 0.8])
    torch.testing.assert_close(out.loss, torch.maximum(tau * err, (tau - 1) * err).mean())
    torch.testing.assert_close(out.predictions, out.extras["quantiles"][..., 1])  # the median
    for strategy in ("direct", "autoregressive"):
        g = Forecaster(horizon=3, head="gaussian", strategy=strategy, cell="gru", hidden_size=6)
        paths = g.sample(Batch(x=x), 500, generator=torch.Generator().manual_seed(0))
        assert paths.shape == (500, 4, 3)
        out = g(Batch(x=x))
        if strategy == "direct":  # independent draws: their mean and spread match the head
            torch.testing.assert_close(paths.mean(0), out.extras["mean"], atol=0.2 * float(std.max()), rtol=0)
        assert torch.all(paths.std(0) > 0)


def test_covariates_past_and_known_future() -> None:
    torch.manual_seed(4)
    for strategy in ("direct", "autoregressive"):
        model = Forecaster(horizon=4, num_features=3, num_targets=1, num_future=2, cell="gru",
                           strategy=strategy, hidden_size=6)
        future = torch.randn(2, 4, 2)
        out = model(Batch(x=torch.randn(2, 12, 3), y=torch.randn(2, 4), future=future))
        assert out.predictions is not None and out.predictions.shape == (2, 4)
        assert out.loss is not None
        out.loss.backward()
        other = model(Batch(x=torch.randn(2, 12, 3), future=future + 1)).predictions
        assert other is not None and not torch.allclose(other, out.predictions)  # the future is read
        assert model.forecast(torch.randn(12, 3), future=future[0]).shape == (4,)


def test_bad_input_gets_a_clear_error() -> None:
    model = Forecaster(horizon=3, num_features=2, num_targets=1, cell="gru", hidden_size=4)
    x = torch.randn(2, 8, 2)
    x[1, 4, 0] = float("nan")
    with pytest.raises(ValueError, match=r"NaN in the input window \(at valid steps\) of batch items \[1\]"):
        model(Batch(x=x))
    with pytest.raises(ValueError, match="NaN"):
        model.forecast(np.array([[1.0, 2.0], [np.nan, 1.0]]))
    with pytest.raises(ValueError, match=r"\(B, T, 2\)"):
        model(Batch(x=torch.randn(2, 8, 3)))
    with pytest.raises(ValueError, match=r"\(T, 2\)"):
        model.forecast(torch.randn(10))
    with pytest.raises(ValueError, match="horizon must be >= 1"):
        model.forecast(torch.randn(10, 2), 0)
    with pytest.raises(ValueError, match="horizon must be >= 1"):
        Forecaster(horizon=0)
    with pytest.raises(ValueError, match="at most 3 steps"):
        model.forecast(torch.randn(10, 2), 5)
    with pytest.raises(ValueError, match=r"batch.y must be \(B, 3\)"):
        model(Batch(x=torch.randn(2, 8, 2), y=torch.randn(2, 4)))
    with pytest.raises(ValueError, match="batch.future"):
        Forecaster(horizon=3, num_future=1)(Batch(x=torch.randn(1, 5, 1)))


def test_from_dataset_reads_horizon_window_and_features() -> None:
    examples = [Example(x=torch.randn(WINDOW, 1), y=torch.randn(HORIZON)) for _ in range(3)]
    info = DatasetInfo(name="sine", shape="forecasting", task="forecasting", input_kind="series",
                       num_features=1, horizon=HORIZON, window=WINDOW, num_targets=1)
    ds = SequenceDataset(info, ExampleList(examples), ExampleList([]), ExampleList([]))
    model = Forecaster.from_dataset(ds, cell="gru", hidden_size=8)
    assert (model.config.horizon, model.config.window, model.config.num_features) == (HORIZON, WINDOW, 1)
    assert Forecaster.from_config(model.config_dict()).config == model.config
    assert model.forecast(torch.randn(100)).shape == (HORIZON,)  # reads the last WINDOW steps
    assert model(ds.collate(examples)).loss is not None


# -- target transforms: log / Box-Cox and differencing ------------------------------------------------
def airline_like(n: int) -> torch.Tensor:
    """A growing series whose season grows with its level (multiplicative), like AirPassengers."""
    t = torch.arange(n, dtype=torch.float64)
    return 100 * torch.exp(0.01 * t) * (1 + 0.2 * torch.sin(2 * math.pi * t / 12))


@pytest.mark.parametrize("lags", [(1,), (12,), (1, 12), (12, 1), (5,), (40,)])
@pytest.mark.parametrize("lam", [0.0, 0.5])
def test_transform_and_differences_round_trip_exactly(lags: tuple[int, ...], lam: float) -> None:
    from rnnkit.models.forecast_transforms import (
        box_cox,
        difference_future,
        difference_window,
        inverse_box_cox,
        undifference,
    )

    series = airline_like(60 + 36)[None, :, None]  # (1, T, 1)
    window, future = series[:, :60], series[:, 60:]
    torch.testing.assert_close(inverse_box_cox(box_cox(window, lam), lam), window)
    w, lengths, heads = difference_window(box_cox(window, lam), lags, None)
    assert w.shape[1] == 60 - sum(lags) and lengths is None and [h.shape[1] for h in heads] == list(lags)
    # the differenced future is what differencing the whole series gives after the window
    whole, _, _ = difference_window(box_cox(series, lam), lags, None)
    w_future = difference_future(box_cox(future, lam), heads)
    torch.testing.assert_close(w_future, whole[:, -36:])
    torch.testing.assert_close(inverse_box_cox(undifference(w_future, heads, lags), lam), future)


def test_padded_windows_difference_like_unpadded_ones() -> None:
    from rnnkit.models.forecast_transforms import difference_window

    short, long = airline_like(30)[:, None], airline_like(40)[:, None]
    x = torch.zeros(2, 40, 1, dtype=torch.float64)
    x[0, :30], x[1] = short, long
    w, lengths, heads = difference_window(x, (1, 12), torch.tensor([30, 40]))
    assert lengths is not None and lengths.tolist() == [17, 27]
    w_short, _, heads_short = difference_window(short[None], (1, 12), None)
    torch.testing.assert_close(w[0, :17], w_short[0])
    for h, h_short in zip(heads, heads_short):
        torch.testing.assert_close(h[0], h_short[0])


@pytest.mark.parametrize("strategy", ["direct", "autoregressive"])
@pytest.mark.parametrize("transform,lags", [("log", (12,)), ("log", (1, 12)), ("none", (1,)), ("boxcox", (12,))])
def test_predicting_the_true_differences_gives_back_the_truth(strategy: str, transform: str,
                                                               lags: tuple[int, ...]) -> None:
    """The network's output is replaced by the scaled true differences of the future: the forecast
    must then be the true future over the whole horizon, and the loss zero."""
    from rnnkit.models.forecast_transforms import box_cox, difference_future, difference_window

    model = Forecaster(horizon=36, cell="gru", hidden_size=4, strategy=strategy, transform=transform,
                       boxcox_lambda=0.3, difference=lags).eval()
    lam = 0.0 if transform == "log" else 0.3
    series = airline_like(24 + 36).float()
    x, y = torch.stack([series[:24], 2 * series[:24]])[..., None], torch.stack([series[24:], 2 * series[24:]])
    g = (lambda t: t) if transform == "none" else (lambda t: box_cox(t, lam))
    w, _, heads = difference_window(g(x), lags, None)
    mean, std = model._stats(w, None)
    true = (difference_future(g(y[..., None]), heads) - mean) / std  # (B, H, 1) scaled
    model._run = lambda *args, **kwargs: true.unsqueeze(-1)  # (B, H, K, P)
    out = model(Batch(x=x, y=y))
    assert out.predictions is not None and out.loss is not None
    torch.testing.assert_close(out.predictions, y, rtol=1e-4, atol=1e-3)
    assert out.loss.item() < 1e-8
    np.testing.assert_allclose(model.forecast(series[:24].numpy()), series[24:].numpy(), rtol=1e-4)


def test_untrained_differenced_forecast_repeats_the_last_season() -> None:
    """A flat window of differences leaves nothing to learn: the forecast is the last season again
    (with the lag-12 difference) whatever the weights, in the series' units."""
    model = Forecaster(horizon=24, cell="gru", hidden_size=8, transform="log", difference=[12])
    season = torch.linspace(100, 200, 12)
    out = model.forecast(torch.cat([season, season, season]))
    torch.testing.assert_close(out, torch.cat([season, season]), rtol=1e-3, atol=0)


def test_transform_options_are_checked_and_saved(tmp_path) -> None:
    import rnnkit

    model = Forecaster(horizon=6, cell="gru", hidden_size=8, transform="log", difference=[1, 12], window=24)
    assert model.config.difference == (1, 12) and model.config.transform == "log"
    model.save(tmp_path)
    loaded = rnnkit.load(tmp_path)
    assert isinstance(loaded, Forecaster) and loaded.config == model.config
    series = airline_like(40).float()
    torch.testing.assert_close(loaded.forecast(series), model.forecast(series))
    assert Forecaster.from_config(model.config_dict()).config == model.config
    with pytest.raises(ValueError, match="transform must be one of"):
        Forecaster(horizon=3, transform="sqrt")
    with pytest.raises(ValueError, match="positive integer lags"):
        Forecaster(horizon=3, difference=[0])
    with pytest.raises(ValueError, match="difference needs head='point' or 'gaussian'"):
        Forecaster(horizon=3, difference=[1], head="quantile")
    with pytest.raises(ValueError, match="window=12 leaves nothing after difference"):
        Forecaster(horizon=3, difference=[12], window=12)


def test_transformed_input_errors_are_clear() -> None:
    model = Forecaster(horizon=3, cell="gru", hidden_size=4, transform="log", difference=[12])
    with pytest.raises(ValueError, match="too short for difference=\\[12\\]: it needs more than 12 steps"):
        model.forecast(airline_like(12).float())
    with pytest.raises(ValueError, match="too short"):
        model(Batch(x=airline_like(30).float()[None, :, None].repeat(2, 1, 1), lengths=torch.tensor([30, 10])))
    with pytest.raises(ValueError, match=r"needs target values > 0, but the input window of batch items \[0\]"):
        model.forecast(torch.cat([torch.zeros(1), airline_like(20).float()]))
    with pytest.raises(ValueError, match=r"batch.y of batch items \[1\]"):
        model(Batch(x=airline_like(20).float()[None, :, None].repeat(2, 1, 1), y=torch.tensor([[1.0] * 3, [-1.0] * 3])))
    x = airline_like(20).float()
    x[5] = float("nan")
    with pytest.raises(ValueError, match="NaN in the input window"):
        model.forecast(x)
    # right padding is not data: a padded window is not refused by the log
    padded = torch.zeros(2, 20, 1)
    padded[0, :15, 0], padded[1, :, 0] = airline_like(15).float(), airline_like(20).float()
    pred = model.predict(Batch(x=padded, lengths=torch.tensor([15, 20])))
    torch.testing.assert_close(pred[0], model.predict(Batch(x=padded[:1, :15]))[0], rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("strategy", ["direct", "autoregressive"])
def test_gaussian_paths_through_log_and_differences_come_back_in_series_units(strategy: str) -> None:
    """The Gaussian head over log differences: with its location set to the true scaled differences
    and a tiny scale, every sampled path is the true future; the point forecast is too."""
    from rnnkit.models.forecast_transforms import box_cox, difference_future, difference_window

    model = Forecaster(horizon=36, cell="gru", hidden_size=4, strategy=strategy, head="gaussian",
                       transform="log", difference=[12]).eval()
    series = airline_like(24 + 36).float()
    x, y = torch.stack([series[:24], 2 * series[:24]])[..., None], torch.stack([series[24:], 2 * series[24:]])
    w, _, heads = difference_window(box_cox(x, 0.0), (12,), None)
    mean, std = model._stats(w, None)
    true = (difference_future(box_cox(y[..., None], 0.0), heads) - mean) / std  # (B, H, 1) scaled

    def fake_run(x_s, lengths, future, choose=None):  # the rollout feeds back what choose draws
        p = torch.stack([true, torch.full_like(true, 1e-6)], dim=-1)  # (B', H, K, 2)
        p = p.repeat(x_s.shape[0] // p.shape[0], 1, 1, 1)
        if choose is not None:
            for t in range(p.shape[1]):
                choose(p[:, t])
        return p

    model._run = fake_run
    out = model(Batch(x=x, y=y))
    assert out.predictions is not None and set(out.extras) == {"loc", "scale"}
    torch.testing.assert_close(out.predictions, y, rtol=1e-4, atol=1e-3)
    paths = model.sample(Batch(x=x), 5, generator=torch.Generator().manual_seed(0))
    assert paths.shape == (5, 2, 36)
    torch.testing.assert_close(paths, y.expand(5, 2, 36), rtol=1e-4, atol=1e-3)


def test_gaussian_log_paths_are_positive_and_centred_on_the_point_forecast() -> None:
    torch.manual_seed(0)
    model = Forecaster(horizon=6, cell="gru", hidden_size=8, head="gaussian", transform="log").eval()
    x = airline_like(30).float()[None, :, None]
    paths = model.sample(Batch(x=x), 4000, generator=torch.Generator().manual_seed(1))  # (n, 1, H)
    assert (paths > 0).all()
    median = paths.median(dim=0).values  # exp of the log-space mean: the log-normal median
    torch.testing.assert_close(median, model.predict(Batch(x=x)), rtol=0.05, atol=0)


@pytest.mark.parametrize("head", ["point", "gaussian", "quantile"])
def test_highway_by_hand_repeats_the_last_season_and_ignores_padding(head: str) -> None:
    """With the network's head silenced and the highway reading 'the value one period back', the
    forecast is the seasonal naive one in the series' units, for every head, padded or not."""
    torch.manual_seed(3)
    model = Forecaster(horizon=HORIZON, cell="gru", hidden_size=6, head=head, highway=PERIOD).eval()
    assert model.highway is not None and float(model.highway.weight.detach().abs().sum()) == 0.0  # the RNN alone
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
        for h in range(HORIZON):
            model.highway.weight[h, h] = 1.0  # step h of the forecast = the value one period before it
    x, y = noisy_sines(4, torch.Generator().manual_seed(1))
    naive = x[:, WINDOW - PERIOD : WINDOW - PERIOD + HORIZON, 0]
    torch.testing.assert_close(model.predict(Batch(x=x)), naive, atol=1e-4, rtol=1e-5)
    padded = torch.cat([x[:1], torch.full((1, 5, 1), 99.0)], dim=1)
    torch.testing.assert_close(model.predict(Batch(x=padded, lengths=torch.tensor([WINDOW]))), naive[:1],
                               atol=1e-4, rtol=1e-5)
    short = x[:1, -4:]  # fewer steps than the highway reads: the missing ones count as the window's mean
    assert torch.isfinite(model.predict(Batch(x=short))).all()


def test_highway_learns_and_its_options_are_checked_and_saved(tmp_path) -> None:
    import rnnkit

    torch.manual_seed(0)
    x, y = noisy_sines(256, torch.Generator().manual_seed(0))
    model = Forecaster(horizon=HORIZON, cell="gru", hidden_size=8, highway=PERIOD, window=WINDOW)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    first = None
    for _ in range(30):
        loss = model(Batch(x=x, y=y)).loss
        assert loss is not None
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert model.highway is not None and model.highway.weight.grad is not None
    assert float(model.highway.weight.detach().abs().sum()) > 0 and float(loss.detach()) < 0.5 * first
    model.save(tmp_path)
    loaded = rnnkit.load(tmp_path)
    assert isinstance(loaded, Forecaster) and loaded.config.highway == PERIOD
    torch.testing.assert_close(loaded.eval().predict(Batch(x=x[:3])), model.eval().predict(Batch(x=x[:3])))
    with pytest.raises(ValueError, match="highway must be >= 0"):
        Forecaster(horizon=3, highway=-1)
    with pytest.raises(ValueError, match="needs strategy='direct'"):
        Forecaster(horizon=3, highway=4, strategy="autoregressive")
    with pytest.raises(ValueError, match=r"highway=20 reads more steps than the window gives the network \(12"):
        Forecaster(horizon=3, highway=20, window=24, difference=[12])


def test_forecast_reads_pandas_and_checks_the_covariates() -> None:
    import pandas as pd

    model = Forecaster(horizon=3, num_features=2, num_targets=1, cell="gru", hidden_size=8)
    frame = pd.DataFrame({"sales": np.linspace(100, 130, 20), "temp": np.cos(np.arange(20))})
    out = model.forecast(frame)
    assert isinstance(out, np.ndarray) and out.shape == (3,)
    np.testing.assert_allclose(out, model.forecast(frame.to_numpy()), rtol=1e-6)
    single = Forecaster(horizon=3, cell="gru", hidden_size=8)
    assert isinstance(single.forecast(pd.Series(np.linspace(1, 2, 12))), np.ndarray)
    with pytest.raises(ValueError, match="trained without them"):
        single.forecast(np.ones(12), future=np.ones((3, 1)))
    with_future = Forecaster(horizon=3, num_future=1, cell="gru", hidden_size=8)
    with pytest.raises(ValueError, match="NaN or infinity"):
        with_future.forecast(np.ones(12), future=np.array([[1.0], [np.inf], [0.0]]))
    assert with_future.forecast(np.ones(12), future=pd.DataFrame({"promo": [1.0, 0.0, 0.0]})).shape == (3,)


def test_quantiles_of_a_quantile_head_are_its_own_levels_rearranged_where_they_cross() -> None:
    torch.manual_seed(5)
    model = Forecaster(horizon=3, head="quantile", quantiles=(0.8, 0.2, 0.5), cell="gru", hidden_size=6).eval()
    with torch.no_grad():  # outputs that cross: the 0.8 level below the 0.5 one below the 0.2 one
        model.head.weight.zero_()
        model.head.bias.copy_(torch.tensor([-1.0, 1.0, 0.0]).repeat(3))
    x = torch.randn(2, 10, 1) * 5 + 40
    mean, std = model._stats(x, None)
    got = model.quantiles(Batch(x=x))  # the head's own levels, in its order: 0.8, 0.2, 0.5
    expect = torch.stack([mean[:, :, 0] + std[:, :, 0] * v for v in (1.0, -1.0, 0.0)], -1).expand(2, 3, 3)
    torch.testing.assert_close(got, expect)
    torch.testing.assert_close(model.quantiles(Batch(x=x), [0.2, 0.8]), expect[..., [1, 0]])
    torch.testing.assert_close(model.predict(Batch(x=x)), expect[..., 2])  # the median, once rearranged
    with pytest.raises(ValueError, match=r"trained for the levels \[0.8, 0.2, 0.5\], not \[0.3\]"):
        model.quantiles(Batch(x=x), [0.3])
    for bad in ([], [0.0], [1.2], [float("nan")]):
        with pytest.raises(ValueError, match="values in \\(0, 1\\)"):
            model.quantiles(Batch(x=x), bad)


def test_quantiles_of_a_gaussian_head_come_from_its_paths_and_a_point_head_has_none() -> None:
    torch.manual_seed(6)
    x = torch.randn(3, 12, 1) + 10
    model = Forecaster(horizon=4, head="gaussian", strategy="direct", cell="lstm", hidden_size=6).eval()
    with torch.no_grad():
        out = model(Batch(x=x))
    got = model.quantiles(Batch(x=x), [0.1, 0.5, 0.9], samples=4000, generator=torch.Generator().manual_seed(0))
    assert got.shape == (3, 4, 3)
    z = torch.tensor([-1.2816, 0.0, 1.2816])  # the normal's quantiles: the direct head draws each step alone
    expect = out.extras["mean"].unsqueeze(-1) + out.extras["std"].unsqueeze(-1) * z
    torch.testing.assert_close(got, expect, atol=float(0.1 * out.extras["std"].max()), rtol=0)
    again = model.quantiles(Batch(x=x), [0.1, 0.5, 0.9], samples=4000, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(got, again)
    logged = Forecaster(horizon=4, head="gaussian", strategy="autoregressive", transform="log", difference=[1],
                        cell="gru", hidden_size=6).eval()
    q = logged.quantiles(Batch(x=x), [0.05, 0.95], samples=200)
    assert torch.all(q[..., 0] < q[..., 1]) and torch.all(q > 0)
    with pytest.raises(ValueError, match="samples must be >= 2"):
        model.quantiles(Batch(x=x), samples=1)
    with pytest.raises(ValueError, match="head='point', a point forecast without a distribution"):
        Forecaster(horizon=4, cell="gru", hidden_size=6).quantiles(Batch(x=x))

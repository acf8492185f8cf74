"""Forecaster: beats seasonal-naive on a noisy sine, scaling round-trips, forecasts come back in the
series' own units, and bad input is refused with a clear message."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rnnkit.data.batch import Batch, Example
from rnnkit.data.dataset import DatasetInfo, ExampleList, SequenceDataset
from rnnkit.models import Forecaster

PERIOD, WINDOW, HORIZON = 12, 24, 6


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread (and do not spin against other processes)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


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
    with pytest.raises(ValueError, match=r"NaN in the input window of batch items \[1\]"):
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

"""Forecaster inputs: ``forecast()`` refuses a history shorter than the window the network learnt
from, and known-future covariates are standardised with statistics of the training data only (fitted
by ``from_dataset`` or ``fit_future_scaling``), so the forecast does not depend on a covariate's
units; state dicts written before those statistics existed still load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import rnnkit
from rnnkit.data.batch import Batch, Example
from rnnkit.data.dataset import DatasetInfo, ExampleList, SequenceDataset
from rnnkit.data.windows import Segment, chronological_split, make_windows
from rnnkit.models import Ensemble, Forecaster

WINDOW, HORIZON = 12, 4


# -- the window: forecast() needs at least `window` steps ---------------------------------------------
@pytest.mark.parametrize("steps", [1, WINDOW - 1])
def test_a_history_shorter_than_the_window_is_refused_naming_both_lengths(steps: int) -> None:
    model = Forecaster(horizon=HORIZON, window=WINDOW, cell="gru", hidden_size=4)
    message = (rf"series has {steps} steps, fewer than this model's window of {WINDOW} steps .*"
               rf"pass at least {WINDOW} steps of history")
    with pytest.raises(ValueError, match=message):
        model.forecast(torch.randn(steps))
    with pytest.raises(ValueError, match=message):
        model.forecast(np.random.default_rng(0).normal(size=steps))
    two = Forecaster(horizon=HORIZON, num_features=2, window=WINDOW, cell="gru", hidden_size=4)
    with pytest.raises(ValueError, match=message):
        two.forecast(torch.randn(steps, 2))


def test_the_window_error_comes_before_the_differencing_one() -> None:
    """A differenced model would read a short history without complaint as long as it outlasts the lags;
    the window is what the network learnt from, so it is the one named."""
    model = Forecaster(horizon=HORIZON, window=24, difference=[12], cell="gru", hidden_size=4)
    with pytest.raises(ValueError, match="series has 20 steps, fewer than this model's window of 24 steps"):
        model.forecast(torch.rand(20) + 1)


def test_a_history_of_the_window_or_longer_is_read_by_its_last_window_steps() -> None:
    torch.manual_seed(0)
    model = Forecaster(horizon=HORIZON, window=WINDOW, cell="gru", hidden_size=6).eval()
    series = torch.randn(40) * 10 + 100
    last = series[-WINDOW:]
    exact = model.forecast(last)
    assert isinstance(exact, torch.Tensor) and exact.shape == (HORIZON,)
    torch.testing.assert_close(exact, model.predict(Batch(x=last[None, :, None]))[0])
    torch.testing.assert_close(model.forecast(series), exact)
    torch.testing.assert_close(model.forecast(series[-WINDOW - 1:], 2), exact[:2])


def test_a_model_without_a_window_reads_any_history() -> None:
    torch.manual_seed(1)
    model = Forecaster(horizon=HORIZON, cell="gru", hidden_size=4).eval()
    for steps in (1, 3, 50):
        assert model.forecast(torch.randn(steps)).shape == (HORIZON,)
    differenced = Forecaster(horizon=HORIZON, difference=[1], cell="gru", hidden_size=4).eval()
    assert differenced.forecast(torch.randn(2)).shape == (HORIZON,)  # one difference left: enough


# -- known-future covariates: standardised with the training statistics ------------------------------
def _sales_with_a_price(n: int = 120) -> tuple[np.ndarray, np.ndarray]:
    """A series and two known-future covariates whose range grows over time: test values lie far
    outside the training ones (a price in the thousands that rises, and a day count)."""
    t = np.arange(n, dtype=np.float64)
    series = 50 + 10 * np.sin(2 * np.pi * t / 7)
    covariates = np.stack([1000 + 20 * t + 5 * np.cos(t), t], axis=1)  # (n, 2)
    return series, covariates


def _covariate_dataset() -> tuple[SequenceDataset, np.ndarray]:
    """The windows of :func:`_sales_with_a_price`, and the covariates' rows that the training windows'
    horizons cover (each once: steps WINDOW to the end of the train segment)."""
    series, covariates = _sales_with_a_price()
    split = chronological_split(len(series), test_size=24, valid_size=12, window=WINDOW, horizon=HORIZON)

    def cut(segment: Segment) -> ExampleList:
        return ExampleList(make_windows(series, window=WINDOW, horizon=HORIZON, targets=0,
                                        covariates=covariates, segment=segment))

    info = DatasetInfo(name="sales", shape="forecasting", task="forecasting", input_kind="series", num_features=1,
                       num_targets=1, horizon=HORIZON, window=WINDOW)
    return SequenceDataset(info, cut(split.train), cut(split.valid), cut(split.test)), \
        covariates[WINDOW:split.train.stop]


def test_from_dataset_fits_the_covariate_statistics_on_the_train_split_only() -> None:
    ds, train_rows = _covariate_dataset()
    model = Forecaster.from_dataset(ds, cell="gru", hidden_size=4, transform="none", difference=())
    assert model.config.num_future == 2

    def rows(split: ExampleList) -> torch.Tensor:
        return torch.cat([ex.future for ex in split.examples]).double()  # (N * H, 2)

    train = torch.tensor(train_rows)  # each row of the series once, not once per window that holds it
    torch.testing.assert_close(model.future_mean, train.mean(0).float())
    torch.testing.assert_close(model.future_std, train.std(0, correction=0).float())
    everything = torch.cat([rows(ds.train), rows(ds.valid), rows(ds.test)])
    assert not torch.allclose(model.future_mean, everything.mean(0).float(), rtol=1e-3)  # valid/test not read
    assert (model.future_mean > 1).all() and (model.future_std > 1).all()  # fitted, not the defaults 0 and 1
    # an ensemble's members are built by from_dataset too
    ensemble = Ensemble.from_dataset(ds, size=2, model=Forecaster, cell="gru", hidden_size=4)
    for member in ensemble.members:
        assert isinstance(member, Forecaster)
        torch.testing.assert_close(member.future_mean, model.future_mean)


def test_covariate_statistics_count_each_row_of_a_table_once(tmp_path: Path) -> None:
    """Windows overlap: with horizon 7 a row was in the future of up to 7 training windows, and rows
    near the ends of the train part in fewer, which weighed the promotion flag by its place in the
    series. Each (store, day) now counts once: the statistics are those of the training rows."""
    rows, promos = ["store,day,sales,promo"], {}
    for store, every in (("a", 9), ("b", 4)):  # two series in one table, each with its promotion days
        promo = (np.arange(80) % every == 0).astype(float)
        promo[70:] = 1.0  # valid and test rows: must not be read
        promos[store] = promo
        rows += [f"{store},{t},{10 + 3 * np.sin(t / 2) + 4 * promo[t]:.3f},{promo[t]:.0f}" for t in range(80)]
    path = tmp_path / "sales.csv"
    path.write_text("\n".join(rows) + "\n")
    ds = rnnkit.datasets.load(f"csv:{path}", target="sales", time="day", id="store", window=14, horizon=7,
                              covariates=["promo"], scale=None)
    # the train windows' horizons cover days 14..65 of each store (valid and test hold one horizon each)
    for store in "ab":
        covered = {e.meta["target_start"] + h for e in ds.train.examples if e.meta["series"] == store
                   for h in range(7)}
        assert covered == set(range(14, 66))
    train = np.concatenate([promos["a"][14:66], promos["b"][14:66]])  # (104,) each (store, day) once
    model = Forecaster.from_dataset(ds, cell="gru", hidden_size=4, transform="none", difference=())
    torch.testing.assert_close(model.future_mean, torch.tensor([train.mean()], dtype=torch.float32))
    torch.testing.assert_close(model.future_std, torch.tensor([train.std()], dtype=torch.float32))
    windows = torch.cat([e.future for e in ds.train.examples])  # every window's rows: the old statistics
    assert abs(float(windows.mean()) - train.mean()) > 1e-3
    # the same from the examples given by hand; an array's rows all count, as documented
    model.fit_future_scaling(ds.train.examples)
    torch.testing.assert_close(model.future_mean, torch.tensor([train.mean()], dtype=torch.float32))
    model.fit_future_scaling(torch.stack([e.future for e in ds.train.examples]))  # (N, H, C)
    torch.testing.assert_close(model.future_mean, windows.mean(0))


def _affine_future(future: torch.Tensor) -> torch.Tensor:
    """Column 0 in other units and offset by 1e4 (a price in cents plus a constant); column 1 kept."""
    return torch.stack([future[..., 0] * 40 + 1e4, future[..., 1]], dim=-1)


@pytest.mark.parametrize("strategy", ["direct", "autoregressive"])
def test_forecasts_do_not_depend_on_a_covariate_affine_change_once_refitted(strategy: str) -> None:
    """The same weights, the statistics refitted on the covariate in new units: the same forecasts."""
    torch.manual_seed(2)
    model = Forecaster(horizon=HORIZON, num_future=2, cell="gru", strategy=strategy, hidden_size=8).eval()
    train_future = torch.randn(64, HORIZON, 2) * 3 + 5
    x, future = torch.randn(5, WINDOW, 1) * 4 + 20, torch.randn(5, HORIZON, 2) * 3 + 5
    model.fit_future_scaling(train_future)
    before = model.predict(Batch(x=x, future=future))
    model.fit_future_scaling(_affine_future(train_future))
    after = model.predict(Batch(x=x, future=_affine_future(future)))
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-5)
    # the network reads what it read before the change: the covariate does not dominate it
    assert float((after - before).abs().max()) < 1e-4


@pytest.mark.parametrize("strategy", ["direct", "autoregressive"])
def test_sample_paths_and_quantiles_read_the_standardised_covariates(strategy: str) -> None:
    torch.manual_seed(3)
    model = Forecaster(horizon=HORIZON, num_future=2, head="gaussian", cell="gru", strategy=strategy,
                       hidden_size=8).eval()
    train_future = torch.randn(64, HORIZON, 2) * 3 + 5
    x, future = torch.randn(3, WINDOW, 1) + 10, torch.randn(3, HORIZON, 2) * 3 + 5
    model.fit_future_scaling(train_future)
    paths = model.sample(Batch(x=x, future=future), 50, generator=torch.Generator().manual_seed(0))
    levels = model.quantiles(Batch(x=x, future=future), [0.1, 0.9], samples=50,
                             generator=torch.Generator().manual_seed(0))
    model.fit_future_scaling(_affine_future(train_future))
    moved = Batch(x=x, future=_affine_future(future))
    torch.testing.assert_close(model.sample(moved, 50, generator=torch.Generator().manual_seed(0)), paths,
                               rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(model.quantiles(moved, [0.1, 0.9], samples=50,
                                               generator=torch.Generator().manual_seed(0)), levels,
                               rtol=1e-4, atol=1e-4)


def test_forecast_reads_the_standardised_covariates() -> None:
    torch.manual_seed(4)
    model = Forecaster(horizon=HORIZON, num_future=2, window=WINDOW, cell="gru", hidden_size=6).eval()
    train_future = torch.randn(32, HORIZON, 2) * 3 + 5
    series, future = torch.randn(20) + 10, torch.randn(HORIZON, 2) * 3 + 5
    before = model.fit_future_scaling(train_future).forecast(series, future=future)
    after = model.fit_future_scaling(_affine_future(train_future)).forecast(series, future=_affine_future(future))
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"reads 2 known-future covariate\(s\): pass future="):
        model.forecast(series)  # it said "needs batch.future", which a forecast() call never builds


def test_fit_future_scaling_takes_arrays_and_examples_and_checks_them() -> None:
    model = Forecaster(horizon=3, num_future=2, cell="gru", hidden_size=4)
    values = np.array([[[1.0, 7.0], [3.0, 7.0], [5.0, 7.0]]])  # (1, 3, 2): column 1 is constant
    assert model.fit_future_scaling(values) is model
    torch.testing.assert_close(model.future_mean, torch.tensor([3.0, 7.0]))
    torch.testing.assert_close(model.future_std, torch.tensor([(8 / 3) ** 0.5, 1.0]))  # constant: std 1
    model.fit_future_scaling([Example(x=torch.zeros(5, 1), y=torch.zeros(3), future=torch.tensor(values[0]))])
    torch.testing.assert_close(model.future_mean, torch.tensor([3.0, 7.0]))
    model.fit_future_scaling([torch.tensor(values[0][:1]), values[0][1:]])  # a list of arrays, rows pooled
    torch.testing.assert_close(model.future_mean, torch.tensor([3.0, 7.0]))
    with pytest.raises(ValueError, match=r"the future of example 0 must be \(\.\.\., 2\).* got shape \(3, 3\)"):
        model.fit_future_scaling([Example(x=torch.zeros(5, 1), future=torch.ones(3, 3))])
    with pytest.raises(ValueError, match=r"example 1 has no future covariates"):
        model.fit_future_scaling([Example(x=torch.zeros(5, 1), future=torch.ones(3, 2)), Example(x=torch.zeros(5, 1))])
    with pytest.raises(ValueError, match=r"the covariates must be \(\.\.\., 2\).* got shape \(4, 3\)"):
        model.fit_future_scaling(torch.ones(4, 3))
    with pytest.raises(ValueError, match="NaN or infinity"):
        model.fit_future_scaling(torch.tensor([[1.0, float("nan")]]))
    with pytest.raises(ValueError, match="no covariate values"):
        model.fit_future_scaling(torch.ones(0, 2))
    with pytest.raises(ValueError, match=r"reads no known-future covariates \(num_future=0\)"):
        Forecaster(horizon=3, cell="gru", hidden_size=4).fit_future_scaling(torch.ones(4, 1))


# -- saved models: the statistics travel with the weights; old state dicts still load ------------------
def test_the_statistics_are_saved_and_loaded_with_the_weights(tmp_path) -> None:
    torch.manual_seed(5)
    model = Forecaster(horizon=HORIZON, num_future=1, cell="gru", hidden_size=4)
    model.fit_future_scaling(torch.randn(20, HORIZON, 1) * 10 + 300)
    assert {"future_mean", "future_std"} <= set(model.state_dict())
    model.save(tmp_path)
    loaded = rnnkit.load(tmp_path)
    assert isinstance(loaded, Forecaster)
    torch.testing.assert_close(loaded.future_mean, model.future_mean)
    torch.testing.assert_close(loaded.future_std, model.future_std)


def test_a_state_dict_without_the_statistics_loads_as_the_identity_scaling(tmp_path) -> None:
    """Written before the statistics existed, a model read its covariates raw: mean 0 and std 1."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    torch.manual_seed(6)
    model = Forecaster(horizon=HORIZON, num_future=2, cell="gru", hidden_size=4).eval()
    old = {k: v for k, v in model.state_dict().items() if not k.startswith("future_")}
    fitted = Forecaster(horizon=HORIZON, num_future=2, cell="gru", hidden_size=4)
    fitted.fit_future_scaling(torch.randn(8, HORIZON, 2) * 7 + 40)
    fitted.load_state_dict(old)  # strict: the missing statistics are filled in, not reported
    torch.testing.assert_close(fitted.future_mean, torch.zeros(2))
    torch.testing.assert_close(fitted.future_std, torch.ones(2))
    batch = Batch(x=torch.randn(2, WINDOW, 1), future=torch.randn(2, HORIZON, 2) * 7 + 40)
    torch.testing.assert_close(fitted.eval().predict(batch), model.predict(batch))
    # an ensemble's members, under their prefixes
    ensemble = Ensemble(members=[fitted, Forecaster(horizon=HORIZON, num_future=2, cell="gru", hidden_size=4)])
    ensemble.members[0].fit_future_scaling(torch.randn(8, HORIZON, 2) + 40)
    ensemble.load_state_dict({k: v for k, v in ensemble.state_dict().items() if "future_" not in k})
    torch.testing.assert_close(ensemble.members[0].future_mean, torch.zeros(2))
    # and an old model.safetensors, as rnnkit.load reads a run folder
    model.save(tmp_path)
    path = tmp_path / "model.safetensors"
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
    save_file(old, str(path), metadata=metadata)
    loaded = rnnkit.load(tmp_path)
    assert isinstance(loaded, Forecaster)
    torch.testing.assert_close(loaded.future_std, torch.ones(2))
    torch.testing.assert_close(loaded.predict(batch), model.predict(batch))


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")  # the input checks, traced as constants
@pytest.mark.parametrize("strategy", ["direct", "autoregressive"])
def test_a_traced_forecaster_carries_the_statistics(strategy: str, tmp_path) -> None:
    """TorchScript of the exported scoring module (rnnkit export): the statistics are its buffers and
    it forecasts as the model does; ONNX and torch.export are checked in tests/cli/test_export.py."""
    from rnnkit.cli.export import export

    torch.manual_seed(7)
    model = Forecaster(horizon=HORIZON, num_future=2, cell="gru", hidden_size=8, strategy=strategy).eval()
    model.fit_future_scaling(torch.randn(50, HORIZON, 2) * 50 + 1e4)
    x, lengths, future = torch.randn(3, WINDOW, 1), torch.full((3,), WINDOW), torch.randn(3, HORIZON, 2) * 50 + 1e4
    difference, _ = export(model, x, lengths, tmp_path / "model.pt", "torchscript", future=future)
    assert difference < 1e-5
    traced = torch.jit.load(str(tmp_path / "model.pt"))
    assert {"inner.future_mean", "inner.future_std"} <= {name for name, _ in traced.named_buffers()}
    torch.testing.assert_close(traced(x, lengths, future), model.predict(Batch(x=x, future=future)))


# -- a model without covariates refuses them, as forecast() does, instead of ignoring them -------------
def test_a_model_without_covariates_refuses_a_batch_future_in_every_method() -> None:
    torch.manual_seed(0)
    series = torch.randn(2, 10, 1)
    future = torch.randn(2, 3, 5) * 1e6
    message = (r"future holds known-future covariates, but this model was trained without them \(num_future=0\): "
               r"leave future out")
    point = Forecaster(horizon=3, hidden_size=8, cell="gru").eval()
    gaussian = Forecaster(horizon=3, hidden_size=8, cell="gru", head="gaussian").eval()
    quantile = Forecaster(horizon=3, hidden_size=8, cell="gru", head="quantile").eval()
    calls = [lambda b: point(b), point.predict, lambda b: gaussian.sample(b, 4), gaussian.quantiles,
             quantile.quantiles, lambda b: point(Batch(x=b.x, y=torch.randn(2, 3), future=b.future))]
    for call in calls:
        with pytest.raises(ValueError, match=message):
            call(Batch(x=series, future=future))
        call(Batch(x=series))  # without it: as before
    with pytest.raises(ValueError, match=message):
        point.forecast(series[0], future=future[0])

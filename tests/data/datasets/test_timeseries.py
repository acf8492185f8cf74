"""UCR/UEA and forecasting sets: offline loads with the stated counts, leak-free splits, anchors."""

from __future__ import annotations

import socket

import numpy as np
import pandas as pd
import pytest
import torch

import rnnkit.datasets
from rnnkit.data.dataset import SequenceDataset
from rnnkit.data.scalers import StandardScaler

UCR = {  # name: (channels, min length, max length, classes, train, test), as the issue states them
    "japanese_vowels": (12, 7, 29, 9, 270, 370),
    "gunpoint": (1, 150, 150, 2, 50, 150),
    "arrowhead": (1, 251, 251, 3, 36, 175),
    "basic_motions": (6, 100, 100, 4, 40, 40),
    "italy_power_demand": (1, 24, 24, 2, 67, 1029),
}
ANCHORS = {  # issue 6's table
    "japanese_vowels": {"FCN": 0.993, "ResNet": 0.992, "MLSTM-FCN": 1.00, "MiniRocket": 0.989},
    "arrowhead": {"LSTM-FCN": 0.897, "InceptionTime": 0.846, "ROCKET": 0.814, "MiniRocket": 0.863},
    "gunpoint": {"FCN": 1.00, "InceptionTime": 1.00},
    "italy_power_demand": {"ROCKET": 0.970, "InceptionTime": 0.968, "MiniRocket": 0.963},
    "basic_motions": {"InceptionTime": 1.00},
    "air_passengers": {"ExponentialSmoothing": 5.11, "Theta (tuned)": 4.40, "Darts RNNModel (LSTM)": 7.8,
                       "Darts BlockRNNModel (LSTM)": 4.6},
}


def _y(ds: SequenceDataset, split: str) -> list[int]:
    return [int(e.y) for e in getattr(ds, split)]  # type: ignore[arg-type]


def test_registry_lists_the_time_series_sets() -> None:
    infos = {i.name: i for i in rnnkit.datasets.list()}
    for name in [*UCR, "air_passengers", "sunspots", "co2", "taylor", "m1_yearly"]:
        assert name in infos
        assert infos[name].license and infos[name].source
    assert infos["air_passengers"].shape == "forecasting" and infos["gunpoint"].shape == "many-to-one"


@pytest.mark.parametrize("name", list(UCR))
def test_ucr_sets_load_offline_with_the_stated_counts(name: str) -> None:
    channels, lo, hi, n_classes, n_train, n_test = UCR[name]
    ds = rnnkit.datasets.load(name)
    assert len(ds.train) + len(ds.valid) == n_train and len(ds.test) == n_test
    assert ds.info.num_features == channels and ds.info.num_classes == n_classes
    assert ds.info.classes == rnnkit.datasets.info(name).classes  # the static table tells the truth
    examples = [*ds.train, *ds.valid, *ds.test]
    lengths = [e.x.shape[0] for e in examples]
    assert (min(lengths), max(lengths)) == (lo, hi)
    assert all(e.x.dtype == torch.float32 and e.x.shape[1] == channels and e.y.shape == () for e in examples)
    assert set(_y(ds, "test")) == set(range(n_classes))
    assert ds.info.sizes == {"train": len(ds.train), "valid": len(ds.valid), "test": len(ds.test)}
    assert rnnkit.datasets.info(name).sizes == {"train": n_train, "test": n_test}  # registry copy untouched
    batch = ds.collate(list(ds.train)[:4])
    assert batch.x.shape[0] == 4 and batch.lengths is not None


@pytest.mark.parametrize("name", ["japanese_vowels", "arrowhead"])
def test_valid_is_carved_from_train_by_seed_never_from_test(name: str) -> None:
    a = rnnkit.datasets.load(name, seed=1)
    b = rnnkit.datasets.load(name, seed=1)
    c = rnnkit.datasets.load(name, seed=2)
    idx = [[e.meta["index"] for e in d.valid] for d in (a, b, c)]
    assert idx[0] == idx[1] and idx[0] != idx[2]
    assert all(e.meta["split"] == "train" for e in [*a.train, *a.valid])
    assert all(e.meta["split"] == "test" for e in a.test)
    assert not {e.meta["index"] for e in a.train} & set(idx[0])
    assert set(_y(a, "valid")) == set(_y(a, "train"))  # stratified: every class in valid
    assert abs(len(a.valid) - 0.2 * (len(a.train) + len(a.valid))) <= max(1, a.info.num_classes or 0)
    full = rnnkit.datasets.load(name, valid_fraction=0)
    assert len(full.valid) == 0 and len(full.train) == UCR[name][4]


def test_loading_a_ucr_set_does_not_import_aeon() -> None:
    # importing aeon costs seconds per process; its shipped .ts files are read by rnnkit's parser
    import subprocess
    import sys

    code = ("import sys, rnnkit.datasets as d; ds = d.load('gunpoint'); "
            "assert len(ds.test) == 150; print(sorted(m for m in sys.modules if m.split('.')[0] == 'aeon'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"aeon modules imported: {out.stdout}"


def test_japanese_vowels_is_the_raw_variable_length_set() -> None:
    ds = rnnkit.datasets.load("japanese_vowels", valid_fraction=0)
    assert "_eq" not in " ".join(ds.info.extra["files"])
    assert len({e.x.shape[0] for e in ds.test}) > 10


def test_a_second_load_reuses_the_parsed_files_but_shares_nothing_a_caller_can_change() -> None:
    """The .ts files are parsed once per process (ucr._read_ts's cache): a load's examples and class list
    are its own, so what one caller changes in place never reaches the next load."""
    from rnnkit.data.datasets import ucr

    first = rnnkit.datasets.load("gunpoint")  # one channel: (T, 1), which a view of the cache would be
    before = ucr._read_ts.cache_info().hits
    kept = first.test.examples[0].x.clone()
    first.test.examples[0].x.mul_(0.0)
    first.info.classes.append("changed")
    second = rnnkit.datasets.load("gunpoint")
    assert ucr._read_ts.cache_info().hits >= before + 2  # train and test came from the cache
    torch.testing.assert_close(second.test.examples[0].x, kept)
    assert "changed" not in second.info.classes


@pytest.mark.parametrize("name", list(ANCHORS))
def test_published_anchors_match_issue_6(name: str) -> None:
    published = {p.model: p for p in rnnkit.datasets.info(name).published}
    assert {m: p.value for m, p in published.items()} == ANCHORS[name]
    assert all(p.source for p in published.values())
    metric = "mape" if name == "air_passengers" else "accuracy"
    assert {p.metric for p in published.values()} == {metric}


def test_air_passengers_is_the_issue_6_protocol() -> None:
    ds = rnnkit.datasets.load("air_passengers")
    series = ds.extras["series"]
    assert isinstance(series, pd.Series) and len(series) == 144
    assert str(series.index[0].date()) == "1949-01-01" and series.iloc[0] == 112 and series.iloc[-1] == 432
    assert ds.info.metric == "mape" and (ds.info.window, ds.info.horizon) == (24, 36)
    (test,) = list(ds.test)  # one 36-month forecast from the 1957-12 origin
    np.testing.assert_allclose(test.y.numpy(), series["1958-01":"1960-12"].to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(test.x[:, 0].numpy(), series["1956-01":"1957-12"].to_numpy(), rtol=1e-6)
    for e in [*ds.train, *ds.valid]:  # nothing from 1958 on reaches train or valid
        assert e.meta["target_stop"] <= 108
    full = rnnkit.datasets.load("air_passengers", valid_size=0)
    assert len(full.valid) == 0 and max(e.meta["target_stop"] for e in full.train) == 108


@pytest.mark.parametrize("name", ["air_passengers", "sunspots", "co2", "taylor"])
def test_forecasting_windows_match_the_series_and_the_scaler_sees_train_only(name: str) -> None:
    ds = rnnkit.datasets.load(name)
    values = ds.extras["series"].to_numpy()
    split = ds.extras["split"]
    assert not np.isnan(values).any()
    for part, seg in ((ds.train, split.train), (ds.valid, split.valid), (ds.test, split.test)):
        assert len(part) > 0
        for e in part:
            s, t0, t1 = e.meta["start"], e.meta["target_start"], e.meta["target_stop"]
            assert seg.start <= t0 and t1 <= seg.stop and t0 - s == ds.info.window and t1 - t0 == ds.info.horizon
            np.testing.assert_allclose(e.x[:, 0].numpy(), values[s:t0], rtol=1e-6)
            np.testing.assert_allclose(e.y.numpy(), values[t0:t1], rtol=1e-6)
    assert split.test.stop == len(values)
    scaler = ds.extras["scaler"]
    np.testing.assert_allclose(scaler.offset_, [values[: split.train.stop].mean()])
    assert scaler.state_dict() == StandardScaler().fit(values[: split.train.stop]).state_dict()
    assert abs(values.mean() - scaler.offset_[0]) > 1e-6  # i.e. later data was not used


def test_sunspots_counts() -> None:
    ds = rnnkit.datasets.load("sunspots")
    assert len(ds.extras["series"]) == 309 and ds.extras["series"].index[-1].year == 2008
    assert len(ds.test) == 33 - 11 + 1


def test_taylor_is_4032_half_hours_tested_on_the_last_week() -> None:
    ds = rnnkit.datasets.load("taylor")
    series = ds.extras["series"]
    assert len(series) == 4032 and series.index[1] - series.index[0] == pd.Timedelta("30min")
    assert series.iloc[0] == 22262.0  # the first value of Taylor (2003) as R's forecast::taylor has it
    assert min(e.meta["target_start"] for e in ds.test) == 4032 - 336
    assert len(ds.test) == 336 - 48 + 1


def test_co2_missing_weeks_are_interpolated_and_reported() -> None:
    ds = rnnkit.datasets.load("co2")
    assert len(ds.extras["series"]) == 2284
    assert ds.info.extra["missing_filled"] == 59 and len(ds.extras["missing"]) == 59
    assert ds.extras["series"].index.freqstr is None or "W" in ds.extras["series"].index.freqstr
    with pytest.raises(ValueError, match="59 missing value\\(s\\).*first at step"):
        rnnkit.datasets.load("co2", nan_policy="raise")


def test_m1_yearly_has_181_series_each_tested_on_its_last_6_years() -> None:
    ds = rnnkit.datasets.load("m1_yearly")
    series = ds.extras["series"]
    assert len(series) == 181 and len(ds.test) == 181
    lengths = [len(s) for s in series.values()]
    assert (min(lengths), max(lengths)) == (15, 58)
    for e in ds.test:
        np.testing.assert_allclose(e.y.numpy(), series[e.meta["series"]].to_numpy()[-6:], rtol=1e-6)
    for e in [*ds.train, *ds.valid]:  # no window touches a series' last 6 years
        assert e.meta["target_stop"] <= len(series[e.meta["series"]]) - 6
    for e in ds.train:
        assert e.meta["target_stop"] <= len(series[e.meta["series"]]) - 12  # nor its valid years
    assert len(ds.train) > 500 and len(ds.valid) > 100


@pytest.mark.parametrize("options,message", [
    ({"valid_size": -1}, "valid_size must be an integer >= 0"), ({"horizon": 0}, "horizon must be an integer >= 1"),
    ({"window": 2.5}, "window must be an integer >= 1"), ({"valid_size": 3}, "shorter than horizon=6")])
def test_m1_yearly_options_are_checked(options, message) -> None:
    with pytest.raises(ValueError, match=message):
        rnnkit.datasets.load("m1_yearly", **options)


@pytest.fixture(scope="module")
def guard_seen_by_module_fixtures() -> bool:
    try:
        socket.create_connection(("example.org", 80))
    except AssertionError:
        return True
    return False


def test_the_network_guard_covers_module_scoped_fixtures(guard_seen_by_module_fixtures: bool) -> None:
    assert guard_seen_by_module_fixtures  # data sets loaded by module fixtures are guarded too


def test_the_network_guard_is_active() -> None:
    with pytest.raises(AssertionError, match="network access attempted"):
        socket.create_connection(("example.org", 80))

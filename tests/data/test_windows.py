"""Sliding windows: brute-force contents, leak-free chronological splits, and the NaN policy."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from rnnkit.data.batch import collate
from rnnkit.data.windows import Segment, chronological_split, fill_missing, make_windows


def _series(n: int, f: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, f))


@pytest.mark.parametrize(("window", "horizon", "stride"), [(1, 1, 1), (5, 3, 1), (7, 4, 3), (4, 9, 2)])
@pytest.mark.parametrize("align_end", [True, False])
def test_every_window_matches_the_raw_series(window: int, horizon: int, stride: int, align_end: bool) -> None:
    n = 40
    series, cov = _series(n, 3), _series(n, 2, seed=1)
    seg = Segment(9, 33)
    got = make_windows(series, window=window, horizon=horizon, stride=stride, targets=[2, 0],
                       covariates=cov, segment=seg, align_end=align_end)
    # brute force: every start whose targets all lie in the segment, stepped by stride
    valid = [s for s in range(n) if s + window >= seg.start and s + window + horizon <= seg.stop]
    expected = valid[::-1][::stride][::-1] if align_end else valid[::stride]
    assert [e.meta["start"] for e in got] == expected
    for e in got:
        s = e.meta["start"]
        t = s + window
        np.testing.assert_allclose(e.x.numpy(), series[s:t], rtol=1e-6)
        np.testing.assert_allclose(e.y.numpy(), series[t:t + horizon][:, [2, 0]], rtol=1e-6)
        np.testing.assert_allclose(e.future.numpy(), cov[t:t + horizon], rtol=1e-6)
        assert (e.meta["target_start"], e.meta["target_stop"]) == (t, t + horizon)
    if align_end and got:
        assert got[-1].meta["target_stop"] == seg.stop  # the newest targets are always used


def test_target_shapes_and_names() -> None:
    series = _series(20, 3)
    one = make_windows(series, window=4, horizon=2, targets=1)
    assert one[0].y.shape == (2,) and one[0].x.shape == (4, 3)
    many = make_windows(series, window=4, horizon=2, targets=[1])
    assert many[0].y.shape == (2, 1)
    named = make_windows(series, window=4, horizon=2, targets="b", columns=["a", "b", "c"])
    torch.testing.assert_close(named[0].y, one[0].y)
    assert make_windows(series[:, 0], window=4, horizon=2)[0].y.shape == (2,)
    assert make_windows(series, window=4, horizon=2)[0].y.shape == (2, 3)
    batch = collate(many[:5])
    assert batch.x.shape == (5, 4, 3) and batch.y.shape == (5, 2, 1) and batch.lengths.tolist() == [4] * 5


@pytest.mark.parametrize(("n", "window", "horizon", "valid", "test", "stride"),
                         list(itertools.product([60, 97], [3, 8], [1, 5], [0, 5, 12], [5, 13], [1, 4])))
def test_chronological_split_never_leaks_later_steps_into_earlier_windows(
        n: int, window: int, horizon: int, valid: int, test: int, stride: int) -> None:
    if (0 < valid < horizon) or test < horizon:
        pytest.skip("a segment shorter than the horizon is rejected (tested below)")
    series = np.arange(n, dtype=np.float64)  # the value is the step index: contents show the time
    split = chronological_split(n, test_size=test, valid_size=valid, window=window, horizon=horizon)
    assert (split.train.stop, split.valid.stop, split.test.stop) == (n - test - valid, n - test, n)
    parts = [make_windows(series, window=window, horizon=horizon, stride=stride, segment=seg)
             for seg in (split.train, split.valid, split.test)]
    train, valid_w, test_w = parts
    assert train and test_w and (valid_w if valid else not valid_w)
    for e in train:  # nothing of valid or test, input or target
        assert max(e.x.max(), e.y.max()) < split.valid.start
    for e in valid_w:
        assert e.y.min() >= split.valid.start and max(e.x.max(), e.y.max()) < split.test.start
    for e in test_w:
        assert e.y.min() >= split.test.start
    assert test_w[-1].y[-1] == n - 1  # the last test target is the last step


def test_split_and_window_errors() -> None:
    with pytest.raises(ValueError, match="valid_size=3 is shorter than horizon=5"):
        chronological_split(100, test_size=5, valid_size=3, window=4, horizon=5)
    with pytest.raises(ValueError, match="one window needs window \\+ horizon = 30"):
        chronological_split(40, test_size=12, valid_size=12, window=24, horizon=6)
    with pytest.raises(ValueError, match="window must be a positive integer, got 0"):
        make_windows(np.zeros(10), window=0, horizon=1)
    with pytest.raises(ValueError, match="target column 'z' does not exist"):
        make_windows(np.zeros((10, 2)), window=2, horizon=1, targets="z", columns=["a", "b"])
    with pytest.raises(ValueError, match="target column 5 does not exist"):
        make_windows(np.zeros((10, 2)), window=2, horizon=1, targets=5)
    with pytest.raises(ValueError, match="covariates have 9 steps but the series has 10"):
        make_windows(np.zeros(10), window=2, horizon=1, covariates=np.zeros((9, 1)))
    assert make_windows(np.zeros(10), window=2, horizon=1, segment=Segment(5, 5)) == []
    assert make_windows(np.zeros(10), window=8, horizon=3) == []


def test_nan_policy_raise_names_step_and_column() -> None:
    series = np.ones((12, 2))
    series[7, 1] = np.nan
    series[9, 0] = np.nan
    with pytest.raises(ValueError, match="2 missing value\\(s\\) \\(NaN\\); the first at step 7, column 1"):
        make_windows(series, window=3, horizon=1)
    with pytest.raises(ValueError, match="first at step 7, column 1.*nan_policy='interpolate'"):
        fill_missing(series)
    cov = np.zeros((12, 1))
    cov[4] = np.nan
    with pytest.raises(ValueError, match="covariates has 1 missing"):
        make_windows(np.ones(12), window=3, horizon=1, covariates=cov)


def test_nan_policy_interpolate_fills_linearly_and_counts() -> None:
    series = np.array([[np.nan, 0.0], [2.0, 1.0], [np.nan, np.nan], [np.nan, 3.0], [8.0, 4.0], [np.nan, 5.0]])
    filled, count = fill_missing(series, policy="interpolate")
    assert count == 5
    np.testing.assert_allclose(filled[:, 0], [2.0, 2.0, 4.0, 6.0, 8.0, 8.0])  # edges take the nearest
    np.testing.assert_allclose(filled[:, 1], [0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    assert np.isnan(series).sum() == 5  # the input is not changed in place
    with pytest.raises(ValueError, match="column 0 has no observed values"):
        fill_missing(np.full((3, 1), np.nan), policy="interpolate")
    with pytest.raises(ValueError, match="nan_policy must be"):
        fill_missing(series, policy="drop")  # type: ignore[arg-type]

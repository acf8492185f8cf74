"""RNNForecaster's validation split: chronological, the latest windows of each series, and no training
window (input or target) that reaches a valid target step (docs/DATA.md's rule for forecasting)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from rnnkit.estimators import RNNForecaster

TINY = {"epochs": 1, "hidden_size": 4, "batch_size": 64}


@pytest.fixture
def splits(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The dataset each Trainer.fit receives."""
    from rnnkit.train.trainer import Trainer

    seen: list[Any] = []
    fit = Trainer.fit

    def spy(self: Any, model: Any, dataset: Any, **kwargs: Any) -> Any:
        seen.append(dataset)
        return fit(self, model, dataset, **kwargs)

    monkeypatch.setattr(Trainer, "fit", spy)
    return seen


def _steps(split: Any, window: int) -> list[tuple[int, int, int]]:
    """(first input step, first target step, end) of each window of a series whose values are its steps."""
    out = []
    for i in range(len(split)):
        e = split[i]
        first = int(e.x[0, 0])
        out.append((first, first + window, first + window + len(e.y)))
    return sorted(out)


@pytest.mark.parametrize("stride", [1, 3])
def test_valid_windows_are_the_latest_and_no_training_window_reaches_them(splits, stride) -> None:  # type: ignore[no-untyped-def]
    window, horizon, n = 12, 4, 60
    RNNForecaster(window=window, horizon=horizon, stride=stride, valid_fraction=0.2, **TINY).fit(np.arange(float(n)))
    train, valid = _steps(splits[-1].train, window), _steps(splits[-1].valid, window)
    n_windows = len(range(0, n - window - horizon + 1, stride))
    assert len(valid) == round(0.2 * n_windows)
    # the latest windows: the last one ends with the series, then back by the stride
    last = n - window - horizon
    assert [s for s, _, _ in valid] == list(range(last - stride * (len(valid) - 1), last + 1, stride))
    first_valid_target = min(t for _, t, _ in valid)
    assert train and all(end <= first_valid_target for _, _, end in train)  # input and target before valid targets
    valid_targets = {step for _, t, end in valid for step in range(t, end)}
    assert not any(valid_targets & set(range(s, end)) for s, _, end in train)


def test_several_series_are_each_cut_at_their_own_end(splits) -> None:  # type: ignore[no-untyped-def]
    window, horizon = 6, 3
    a, b = np.arange(40, dtype=float), 1000 + np.arange(30, dtype=float)
    RNNForecaster(window=window, horizon=horizon, valid_fraction=0.25, **TINY).fit([a, b])
    train, valid = _steps(splits[-1].train, window), _steps(splits[-1].valid, window)
    for offset, n in ((0, 40), (1000, 30)):
        own_train = [w for w in train if offset <= w[0] < offset + n]
        own_valid = [w for w in valid if offset <= w[0] < offset + n]
        assert len(own_valid) == round(0.25 * (n - window - horizon + 1))
        assert max(end for _, _, end in own_valid) == offset + n  # the valid part is the series' end
        assert own_train and max(end for _, _, end in own_train) <= min(t for _, t, _ in own_valid)


def test_a_series_too_short_for_a_valid_part_and_a_training_window_is_refused() -> None:
    # 19 steps, window 12, horizon 4: the last window's 4 targets leave 15 steps, and training needs 16
    with pytest.raises(ValueError, match=r"too short for valid_fraction=0\.2.*window \+ horizon = 16"):
        RNNForecaster(window=12, horizon=4, valid_fraction=0.2, **TINY).fit(np.arange(19.0))
    with pytest.raises(ValueError, match=r"series 1 .*too short for valid_fraction=0\.2"):
        RNNForecaster(window=12, horizon=4, valid_fraction=0.2, **TINY).fit([np.arange(60.0), np.arange(19.0)])
    assert len(RNNForecaster(window=12, horizon=4, valid_fraction=0.2, **TINY).fit(np.arange(20.0)).history_) == 1

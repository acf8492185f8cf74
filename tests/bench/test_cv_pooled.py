"""The pooled score of a cross-validation is the metric over every fold's predictions at once."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnkit.bench.cv import pooled_value


def test_pooled_rmse_is_the_rmse_of_all_predictions_and_means_pool_by_count() -> None:
    rng = np.random.default_rng(0)
    errors = [rng.normal(size=n) * s for n, s in ((36, 1.0), (24, 3.0), (12, 0.5))]
    folds = [(float(np.sqrt(np.mean(e**2))), len(e)) for e in errors]
    everything = np.concatenate(errors)
    assert pooled_value("rmse", folds) == pytest.approx(math.sqrt(np.mean(everything**2)))
    assert pooled_value("rmse", folds) != pytest.approx(sum(v * n for v, n in folds) / 72)  # the old pooling
    maes = [(float(np.mean(np.abs(e))), len(e)) for e in errors]
    assert pooled_value("mae", maes) == pytest.approx(np.mean(np.abs(everything)))


def _tagging_tally(true: list[list[int]], pred: list[list[int]], loss: tuple[float, float]):
    from rnnkit.data.dataset import DatasetInfo
    from rnnkit.train.evaluation import TaskMetrics

    info = DatasetInfo(name="toy", task="tagging", shape="synced", input_kind="tokens",
                       classes=["O", "B-X", "I-X", "B-Y", "I-Y"],
                       metric="span_f1", higher_is_better=True)
    tally = TaskMetrics(info)
    tally.true, tally.pred = true, pred
    tally.loss_sum, tally.loss_weight = loss
    return tally


def test_a_span_f1_and_a_perplexity_pool_the_folds_predictions_not_their_values() -> None:
    from rnnkit.bench.cv_fold import FoldResult
    from rnnkit.bench.cv_pooled import pooled_over
    from rnnkit.train import metrics as M

    names = ["O", "B-X", "I-X", "B-Y", "I-Y"]
    long_true = [[1, 2, 0, 3, 0, 1, 0, 3]]  # four spans, all found
    short_true, short_pred = [[1]], [[0]]  # one span, missed
    a = _tagging_tally(long_true, long_true, (100.0, 100.0))  # 100 tokens of NLL 1
    b = _tagging_tally(short_true, short_pred, (300.0, 100.0))  # 100 tokens of NLL 3
    folds = [FoldResult(k, 1, t.compute()["span_f1"], None, [], 0.0, 0.0, tally=t) for k, t in enumerate((a, b))]
    assert [f.value for f in folds] == [1.0, 0.0]
    tags = [[names[i] for i in s] for s in long_true + short_true]
    want = M.span_f1(tags, [[names[i] for i in s] for s in long_true + short_pred], scheme="BIO")
    assert pooled_over("span_f1", folds) == pytest.approx(want) == pytest.approx(8 / 9)  # P 1, R 4/5
    assert pooled_over("loss", folds) == pytest.approx(2.0)  # the token-weighted mean NLL, not a fold mean
    backtest = [FoldResult(k, n, v, None, [], 0.0, 0.0) for k, (v, n) in enumerate(((1.0, 3), (4.0, 1)))]
    assert pooled_over("mae", backtest) == pytest.approx(7 / 4)  # no predictions kept: weighted by size


def test_a_backtest_fold_whose_window_is_flat_scores_mase_nan_not_a_key_error() -> None:
    from types import SimpleNamespace

    from rnnkit.bench.baselines_series import forecast_scorer

    info = SimpleNamespace(metric="mase", window=4, extra={"season_length": 1})
    score = forecast_scorer(info, [(np.array([5.0, 5.0, 5.0, 5.0, 6.0, 7.0]), 4)], 2)
    assert math.isnan(score([np.array([5.0, 5.0])]))


@pytest.mark.parametrize("name", ["valid_phoneme_error_rate", "Token-Error-Rate", "valid_word_error_rate",
                                  "valid_per", "valid_loss"])
def test_error_rates_are_lower_is_better_by_any_spelling_or_alias(name: str) -> None:
    from rnnkit.train.history import lower_is_better

    assert lower_is_better(name)
    assert not lower_is_better("valid_span_f1") and not lower_is_better("valid_bleu")

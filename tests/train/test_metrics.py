"""Metric functions against values computed by hand (and against scikit-learn / jiwer where they apply)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnkit.train import metrics as M


def test_classification_golden() -> None:
    t, p = [0, 0, 1, 1, 2], [0, 1, 1, 1, 0]
    assert M.accuracy(t, p) == pytest.approx(3 / 5)
    # class 0: P=R=1/2 -> F=1/2; class 1: P=2/3, R=1 -> F=4/5; class 2: F=0
    assert M.macro_f1(t, p) == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert M.confusion_matrix(t, p, 3).tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]


def test_macro_f1_equals_sklearn() -> None:
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(0)
    for _ in range(5):
        t, p = rng.integers(0, 5, 40), rng.integers(0, 4, 40)
        assert M.macro_f1(t, p) == pytest.approx(f1_score(t, p, average="macro", zero_division=0))


def test_bio_spans_follow_conlleval() -> None:
    assert M.spans(["B-PER", "I-PER", "O", "B-LOC", "I-ORG"]) == {(0, 2, "PER"), (3, 4, "LOC"), (4, 5, "ORG")}
    assert M.spans(["I-PER", "I-PER", "B-PER"]) == {(0, 2, "PER"), (2, 3, "PER")}
    true = [["B-PER", "I-PER", "O", "B-LOC"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"]]
    assert M.span_f1(true, pred) == pytest.approx(0.5)
    assert M.step_accuracy(true, pred) == pytest.approx(3 / 4)


def test_bmes_word_f1_for_segmentation() -> None:
    true = ["B", "E", "S", "B", "M", "E"]  # words [0,2) [2,3) [3,6)
    pred = ["B", "E", "B", "E", "S", "S"]  # words [0,2) [2,4) [4,5) [5,6)
    assert M.spans(true, "BMES") == {(0, 2, ""), (2, 3, ""), (3, 6, "")}
    # P = 1/4, R = 1/3 -> F = 2/7
    assert M.span_f1([true], [pred], scheme="BMES") == pytest.approx(2 / 7)


def test_sequence_metrics_golden() -> None:
    assert M.exact_match([[1, 2], [3]], [[1, 2], [4]]) == 0.5
    assert M.edit_distance("kitten", "sitting") == 3
    assert M.token_error_rate([[1, 2, 3, 4]], [[1, 3, 4, 5]]) == pytest.approx(2 / 4)  # one deletion, one insertion
    assert M.phoneme_error_rate([["K", "AE", "T"]], [["K", "AA", "T"]]) == pytest.approx(1 / 3)
    assert M.word_error_rate(["the cat sat"], ["the cat sit on"]) == pytest.approx(2 / 3)
    assert M.bleu([[1, 2, 3, 4, 5]], [[1, 2, 3, 4, 5]]) == pytest.approx(100.0)
    assert M.bleu(["a b c d"], ["w x y z"]) == pytest.approx(0.0)
    assert M.chrf(["hello world"], ["hello world"]) == pytest.approx(100.0)
    assert 0 < M.chrf(["hello world"], ["hello word"]) < 100


def test_multi_reference_metrics_take_the_closest_reference() -> None:
    refs = [[[1, 2, 3], [1, 4]], [[5, 6]]]
    assert M.exact_match_any(refs, [[1, 4], [5, 6]]) == 1.0
    assert M.exact_match_any(refs, [[1, 2], [5, 6]]) == 0.5
    # item 0: [1, 5] is one substitution from [1, 4] (length 2), two edits from [1, 2, 3]
    assert M.token_error_rate_any(refs, [[1, 5], [5, 6]]) == pytest.approx(1 / (2 + 2))
    # a tie keeps the first listed reference: [1, 2, 3, 4] is one edit from [1, 2, 3] and two from [1, 4]
    assert M.token_error_rate_any([[[1, 2, 3], [1, 2, 3, 4, 5]]], [[1, 2, 3, 4]]) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="at least one reference"):
        M.token_error_rate_any([[]], [[1]])
    assert M.perplexity(4 * math.log(2), 4) == pytest.approx(2.0)


def test_bleu_equals_sacrebleu_on_sentences() -> None:
    import sacrebleu

    refs, hyps = ["the cat is on the mat", "a dog barks"], ["the cat sat on the mat", "a dog barks loudly"]
    assert M.bleu(refs, hyps) == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score)


def test_bleu_of_outputs_shorter_than_four_tokens_counts_the_orders_they_hold() -> None:
    """A corpus without a 4-gram (every output under 4 tokens: the tour's 3-character reversals) scored 0
    for perfect predictions; it counts 1- to 3-grams now, and a corpus with 4-grams stays BLEU-4."""
    import sacrebleu

    short = [list("cba"), list("ab"), list("zyx")]
    assert M.bleu(short, short) == pytest.approx(100.0)
    wrong = [list("cbb"), list("ab"), list("zyx")]
    assert 0 < M.bleu(short, wrong) < 100
    refs, hyps = ["the cat is on the mat", "a dog barks"], ["the cat sat on the mat", "a dog barks loudly"]
    assert M.bleu(refs, hyps) == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score)


def test_regression_and_forecast_golden() -> None:
    t, p = [1, 2, 3, 4], [2, 2, 2, 2]
    assert M.mae(t, p) == pytest.approx(1.0)
    assert M.rmse(t, p) == pytest.approx(math.sqrt(1.5))
    assert M.mape([1, 2, 0, 4], [2, 2, 5, 2]) == pytest.approx(50.0)  # the zero target is left out
    assert M.smape([1, 2], [3, 2]) == pytest.approx(50.0)
    assert M.smape([0.0], [0.0]) == 0.0
    assert M.mase([8, 9], [9, 7], [1, 2, 4, 7]) == pytest.approx(1.5 / 2)  # naive diffs 1, 2, 3
    assert M.mase([8, 9], [9, 7], [1, 2, 4, 7], season=2) == pytest.approx(1.5 / 4)  # |4-1|, |7-2|


def test_probabilistic_forecast_golden() -> None:
    # y = 1; quantile forecasts 0, 1, 3 at levels .1, .5, .9 -> losses .1, 0, .2
    assert M.pinball_loss([1.0], [[0.0, 1.0, 3.0]], [0.1, 0.5, 0.9]) == pytest.approx(0.1)
    # samples -1, 1 around y = 0: E|X-y| = 1, E|X-X'| = 1 -> 0.5
    assert M.crps_samples([0.0], [[-1.0, 1.0]]) == pytest.approx(0.5)
    # N(0, 1) at y = 0: 2 phi(0) - 1/sqrt(pi)
    assert M.crps_gaussian([0.0], [0.0], [1.0]) == pytest.approx(2 / math.sqrt(2 * math.pi) - 1 / math.sqrt(math.pi))
    samples = np.random.default_rng(0).normal(size=(1, 4000))
    assert M.crps_samples([0.3], samples) == pytest.approx(M.crps_gaussian([0.3], [0.0], [1.0]), abs=0.02)


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="shape"):
        M.mae([1, 2], [1])
    with pytest.raises(ValueError, match="sequence 0"):
        M.step_accuracy([[1, 2]], [[1]])
    with pytest.raises(ValueError, match="scheme"):
        M.spans(["B"], "IOBES")


def test_edit_distance_agrees_with_the_textbook_loop_on_short_and_long_sequences() -> None:
    import random

    def textbook(a: list[int], b: list[int]) -> int:
        prev = list(range(len(b) + 1))
        for i, x in enumerate(a, 1):
            cur = [i]
            for j, y in enumerate(b, 1):
                cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
            prev = cur
        return prev[-1]

    rng = random.Random(0)
    for n, m, k in [(0, 0, 2), (0, 5, 2), (7, 0, 2), (6, 9, 3), (40, 33, 4), (35, 70, 3), (120, 90, 6)]:
        for _ in range(5):
            a, b = [rng.randrange(k) for _ in range(n)], [rng.randrange(k) for _ in range(m)]
            assert M.edit_distance(a, b) == M.edit_distance(b, a) == textbook(a, b), (a, b)
    assert M.edit_distance("abc" * 20, "abd" * 20) == 20  # strings, rows past the loop's length

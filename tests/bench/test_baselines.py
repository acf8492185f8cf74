"""The vector baselines learn from train + valid and are scored on test alone."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from rnnkit.bench.baselines import BASELINES, vector_baselines
from rnnkit.data.batch import Example


def _split(centres: list[tuple[int, float]], n: int, rng: np.random.Generator) -> SimpleNamespace:
    examples = [Example(x=torch.tensor(rng.normal(c, 0.1, size=6), dtype=torch.float32), y=torch.tensor(k))
                for k, c in centres for _ in range(n)]
    return SimpleNamespace(examples=examples)


def test_vector_baselines_fit_train_and_valid_and_score_test():
    rng = np.random.default_rng(0)
    ds = SimpleNamespace(train=_split([(0, -1.0), (1, 1.0)], 20, rng),
                         valid=_split([(2, 3.0)], 5, rng),  # class 2 is only in valid: the pool must hold it
                         test=_split([(0, -1.0), (1, 1.0), (2, 3.0)], 10, rng))
    rows = vector_baselines(ds)
    assert [r["name"].split(" (")[0] for r in rows] == ["RBF support-vector machine", "logistic regression"]
    assert all(r["value"] == 1.0 and r["seconds"] >= 0 for r in rows)
    assert BASELINES["digits"] is vector_baselines


def test_kneser_ney_is_a_distribution_and_learns_a_repeated_tune():
    from rnnkit.bench.baselines import KneserNey

    rng = np.random.default_rng(1)
    tunes = [[int(t) for t in rng.integers(4, 12, size=30)] + [3] for _ in range(20)]
    lm = KneserNey(3, 12, bos=2).fit(tunes)
    for context in [(2, 2), (5, 7), (11, 11), (0, 1)]:  # seen, partly seen and unseen contexts
        assert sum(lm.prob(context, w) for w in range(12)) == pytest.approx(1.0)
    assert lm.perplexity(tunes) < lm.perplexity([[int(t) for t in rng.integers(4, 12, size=30)] + [3]])
    refrain = [[4, 5, 6, 7] * 8 + [3]] * 10
    assert KneserNey(5, 12, bos=2).fit(refrain).perplexity(refrain) < 1.2


def test_tagging_baselines_decode_tag_context_the_word_alone_cannot_tell():
    from rnnkit.bench.baselines import tagging_baselines

    # word 5 is tagged 1 after tag 0 (word 4) and 2 after tag 2 (word 6); <unk> (id 1) is never seen
    # in the pool, so it takes the tags of the words seen once there (words 9 and 10: tag 3)
    def ex(words: list[int], tags: list[int]) -> Example:
        return Example(x=torch.tensor(words), y=torch.tensor(tags))

    pool = [ex([4, 5], [0, 1])] * 30 + [ex([6, 5], [2, 2])] * 20 + [ex([8, 9], [0, 3]), ex([8, 10], [0, 3])]
    test = [ex([4, 5], [0, 1]), ex([6, 5], [2, 2]), ex([8, 1], [0, 3])]
    ds = SimpleNamespace(train=SimpleNamespace(examples=pool[:40]), valid=SimpleNamespace(examples=pool[40:]),
                         test=SimpleNamespace(examples=test), info=SimpleNamespace(classes=["a", "b", "c", "d"]))
    rows = {r["name"].split(" (")[0].split(",")[0]: r["value"] for r in tagging_baselines(ds)}
    assert rows["second-order HMM"] == 1.0
    assert rows["most frequent tag per word"] == pytest.approx(5 / 6)  # word 5 is always tag 1 for it


def test_tagging_baselines_tag_an_unknown_word_by_the_words_seen_once_with_its_last_character():
    from rnnkit.bench.baselines import tagging_baselines
    from rnnkit.data.vocab import Vocab

    vocab = Vocab(["的", "美化", "绿化", "老师", "教师", "律师", "<unk:化>"], endings=True)
    ids = vocab.stoi

    def ex(words: list[str], tags: list[int]) -> Example:
        return Example(x=torch.tensor([ids.get(w, Vocab.unk_id) for w in words]), y=torch.tensor(tags))

    # words seen once: two end in 化 (tag 1), three in 师 (tag 2); <unk:化> itself never occurs
    pool = [ex(["的", w], [0, 1]) for w in ("美化", "绿化")] + [ex(["的", w], [0, 2]) for w in ("老师", "教师", "律师")]
    pool += [ex(["的"], [0])] * 5
    test = [ex(["的", "<unk:化>"], [0, 1]), ex(["的", "医生"], [0, 2])]  # 医生: plain <unk>
    ds = SimpleNamespace(train=SimpleNamespace(examples=pool), valid=SimpleNamespace(examples=[]),
                         test=SimpleNamespace(examples=test),
                         info=SimpleNamespace(classes=["u", "v", "n"], input_vocab=vocab))
    rows = {r["name"].split(" (")[0].split(",")[0]: r["value"] for r in tagging_baselines(ds)}
    assert rows["second-order HMM"] == 1.0 and rows["most frequent tag per word"] == 1.0
    ds.info.input_vocab = None  # without the strings, <unk:化> is one more unknown word: tag 2
    rows = {r["name"].split(" (")[0].split(",")[0]: r["value"] for r in tagging_baselines(ds)}
    assert rows["most frequent tag per word"] == 0.75

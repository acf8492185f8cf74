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

"""The vector baselines learn from train + valid and are scored on test alone."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
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

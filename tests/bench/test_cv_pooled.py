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

"""The folds of a cross-validation taken together: :class:`CVResult`, the metric pooled over every
held-out prediction (:func:`pooled_value`), and ``--paired``'s comparison of a change with the recipe
on the same folds (:func:`compare`), item by item for classifiers, with a two-sided sign test."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

from rnnkit.bench.cv_fold import FoldResult


@dataclass
class CVResult:
    """Every fold of one cross-validation run, and their summary."""

    dataset: str
    metric: str
    higher_is_better: bool
    folds: list[FoldResult]
    mean: float
    std: float | None  # the sample std over folds; None for one fold (a one-origin backtest)
    pooled: float  # the metric over all held-out predictions at once (a backtest's: folds weighted by size)
    curve: list[float]  # the mean valid metric by epoch over folds
    settings: dict[str, Any]
    device: str
    date: str = ""
    itemwise: bool = False  # classification of whole sequences: the folds list the items they got wrong
    backtest: bool = False  # forecasting: the folds are forecast origins (see rnnkit.bench.cv)

    @property
    def best_epoch(self) -> int:
        """The epoch (1-based) of the best mean valid metric: a guide for ``epochs``, not a selection."""
        if not self.curve:
            return 0
        pick = max if self.higher_is_better else min
        return self.curve.index(pick(self.curve)) + 1


def pooled_over(metric: str, results: list[FoldResult]) -> float:
    """The metric over all the folds' held-out predictions at once: their predictions pooled and scored
    (a span F1, a macro F1, a perplexity, a token error rate are not means of the folds'); a backtest's
    forecast origins, which keep no predictions, by :func:`pooled_value`."""
    tallies = [r.tally for r in results]
    if not tallies or any(t is None for t in tallies):
        return pooled_value(metric, [(r.value, r.n_valid) for r in results])
    pooled = tallies[0]
    for tally in tallies[1:]:
        pooled = pooled.merge(tally)
    scores = pooled.compute()
    return float(scores.get(metric, scores.get("loss", math.nan)))


def pooled_value(metric: str, folds: list[tuple[float, int]]) -> float:
    """The metric over every fold's predictions from each fold's ``(value, count)``: a count-weighted
    mean for the means (accuracy, MAE, MAPE), and for a root of a mean (RMSE) the root of the weighted
    mean of squares (the weighted mean of fold RMSEs is not the RMSE of the whole)."""
    total = sum(n for _, n in folds)
    if metric.lower().endswith("rmse"):
        return math.sqrt(sum(v * v * n for v, n in folds) / total)
    return sum(v * n for v, n in folds) / total


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact sign test: the chance of a split at least as uneven as ``wins`` : ``losses``
    if either side were equally likely (ties left out)."""
    n = wins + losses
    if n == 0:
        return 1.0
    k = min(wins, losses)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n)


def compare(base: CVResult, change: CVResult) -> dict[str, Any]:
    """``change`` against ``base`` on the same folds: for classifiers the items each one misses more
    often (``fixed``: the change misses them less; ``broken``: more; item -> (base misses, change
    misses)), otherwise the folds whose metric got better or worse; the sign test over those."""
    if [(f.repeat, f.fold, f.n_valid) for f in base.folds] != [(f.repeat, f.fold, f.n_valid) for f in change.folds]:
        raise ValueError("a paired comparison needs the same folds on both sides")
    out: dict[str, Any] = {"delta": change.pooled - base.pooled}
    if base.itemwise and change.itemwise:
        missed_b = Counter(i for f in base.folds for i in f.wrong)
        missed_c = Counter(i for f in change.folds for i in f.wrong)
        items = sorted(set(missed_b) | set(missed_c))
        out["fixed"] = {i: (missed_b[i], missed_c[i]) for i in items if missed_c[i] < missed_b[i]}
        out["broken"] = {i: (missed_b[i], missed_c[i]) for i in items if missed_c[i] > missed_b[i]}
        out["unit"] = "items"
    else:
        sign = 1 if base.higher_is_better else -1
        pairs = [(f"{b.repeat + 1}.{b.fold + 1}", sign * (c.value - b.value)) for b, c in zip(base.folds, change.folds)]
        out["fixed"] = {k: d for k, d in pairs if d > 0}
        out["broken"] = {k: d for k, d in pairs if d < 0}
        out["unit"] = "folds"
    out["p_sign"] = sign_test(len(out["fixed"]), len(out["broken"]))
    return out


__all__ = ["CVResult", "compare", "pooled_over", "pooled_value", "sign_test"]

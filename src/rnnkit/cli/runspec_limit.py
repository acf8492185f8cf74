"""``limit``: which examples of each split a quick run keeps (``--limit N``, ``limit:`` in a spec).

A seeded random sample, stratified by class for classification and kept in the split's order, the
same in every run, resume and ``rnnkit evaluate``; or, for runs trained before 2026-11-28 (their
run.yaml has a limit and no ``limit_rule``), the first N examples of each split.

    limit_splits(dataset, 20)                       # each split keeps at most 20 examples
    limit_splits(dataset, {"train": 100}, rule="first")
    applied_limit_rule(20, None)                    # -> "first": an older run.yaml
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

LIMIT_SEED = 0  # with the split's place in SPLITS, the seed of every --limit sample
LIMIT_RULES = ("sample", "first")  # limit_rule: a seeded sample (since 2026-11-28), or the first N (before)
SPLITS = ("train", "valid", "test")
LIMIT_CUTS = "limit_cuts"  # info.extra: {split: [kept, before]} for each split that --limit cut


def applied_limit_rule(limit: Any, rule: Any) -> str | None:
    """The rule by which a saved run's ``limit`` kept its examples: ``rule`` as saved, or "first" where
    none is (the run.yaml was written before limit_rule was, when limit kept the first N); None
    without a limit."""
    if not limit:
        return None
    return rule if rule in LIMIT_RULES else "first"


def limit_indices(size: int, n: int, *, labels: Sequence[int] | None = None,
                  seed: int | Sequence[int] = LIMIT_SEED) -> list[int]:
    """Which ``n`` of a split's ``size`` examples ``--limit`` keeps, in increasing order.

    All of them when ``n >= size``; else a random sample drawn from ``numpy.random.default_rng(seed)``
    alone (never the global torch or numpy generators), so that the same split and ``n`` give the same
    examples in every run, resume and ``rnnkit evaluate``. The split's order is kept: forecasting
    windows stay in time order. Some data sets list their examples by class (japanese_vowels,
    basic_motions, arrowhead's test split), where the first ``n`` hold one class only. With
    ``labels`` (one class id per example) the sample is stratified once ``n`` reaches the number of
    classes: one example of each class, the rest shared in proportion to what each class has left
    (largest remainders, ties to the lower class id). A plain random sample of 20 of japanese_vowels'
    9 classes would often miss one, and a small test split's score then says nothing of that class.

    Example::

        >>> limit_indices(6, 3, labels=[0, 0, 0, 1, 1, 1])  # two of class 0 (the tie), one of class 1
        [1, 2, 3]
        >>> limit_indices(5, 9)
        [0, 1, 2, 3, 4]
    """
    import numpy as np

    if n >= size:
        return list(range(size))
    rng = np.random.default_rng(seed)
    if labels is None or n < len(set(labels)):
        return sorted(int(i) for i in rng.choice(size, size=n, replace=False))
    by_class: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(int(label), []).append(i)
    groups = [by_class[c] for c in sorted(by_class)]
    room = [len(g) - 1 for g in groups]  # what each class has beyond its one sure example
    spare = n - len(groups)  # < sum(room), as n < size
    shares = [divmod(spare * r, sum(room)) for r in room]  # exact: no float ties
    counts = [1 + q for q, _ in shares]
    by_remainder = sorted(range(len(groups)), key=lambda c: -shares[c][1])  # stable: lower id first
    for c in by_remainder[:spare - sum(q for q, _ in shares)]:
        counts[c] += 1
    return sorted(int(i) for g, k in zip(groups, counts) for i in rng.choice(g, size=k, replace=False))


def class_ids(dataset: Any, examples: Sequence[Any]) -> list[int] | None:
    """Each example's class id for a classification data set (one scalar ``y`` each), else None."""
    import torch

    if dataset.info.task != "classification":
        return None
    if not all(isinstance(e.y, torch.Tensor) and e.y.dim() == 0 and not e.y.is_floating_point() for e in examples):
        return None
    return [int(e.y) for e in examples]


def limit_splits(dataset: Any, limit: int | dict[str, int], *, rule: str = "sample") -> None:
    """Cut each split of ``dataset`` to ``limit`` examples (one number for every split, or one per split
    named), in place: the sample of :func:`limit_indices`, stratified by class for classification
    (``rule="sample"``), or the first examples (``rule="first"``, what runs trained before 2026-11-28
    kept: their run.yaml has a limit and no limit_rule, and is read that way). A split that ``limit``
    covers is kept as it is.

    The seed is ``LIMIT_SEED`` and the split's place in ``SPLITS``, a constant on purpose: not the
    run's ``train: seed`` (runs that differ only in their training seed see the same examples) nor
    the loader's ``seed`` option, which only some loaders take, each with its own meaning."""
    from rnnkit.data.dataset import ExampleList

    cuts: dict[str, list[int]] = {}
    for k, split in enumerate(SPLITS):
        n = limit.get(split) if isinstance(limit, dict) else limit
        examples = getattr(dataset, split).examples
        if n is None or n >= len(examples):
            continue
        keep = range(n) if rule == "first" else \
            limit_indices(len(examples), n, labels=class_ids(dataset, examples), seed=(LIMIT_SEED, k))
        setattr(dataset, split, ExampleList([examples[i] for i in keep]))
        cuts[split] = [n, len(examples)]
    dataset.info.sizes = {s: len(getattr(dataset, s)) for s in SPLITS}
    # which splits lost examples, of how many: the note under a score, and the report's fact (a new dict:
    # a loader's extra may be shared)
    dataset.info.extra = {**(dataset.info.extra or {}), LIMIT_CUTS: cuts}

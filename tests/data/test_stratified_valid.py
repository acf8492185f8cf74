"""The valid split carved from a UCR/UEA train split: the indices scikit-learn's stratified
``train_test_split`` gave (rnnkit used it until 2026-11-29, and saved runs, resumes and ``rnnkit evaluate``
rebuild their valid set from the seed), drawn now in numpy without importing scikit-learn."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from rnnkit.data.datasets.ucr import stratified_valid


def _sklearn_split(labels: list[int], valid_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """What stratified_valid returned while it called scikit-learn."""
    from sklearn.model_selection import train_test_split

    n_valid = max(len(set(labels)), int(round(valid_fraction * len(labels))))
    train, valid = train_test_split(list(range(len(labels))), test_size=n_valid, stratify=labels, random_state=seed)
    return sorted(train), sorted(valid)


def _cases() -> list[tuple[list[int], float, int]]:
    """The shipped sets' shapes (67 days of 2 classes, 36 outlines of 3, 270 utterances of 9, 40 motions
    of 4, 50 of 2), classes listed in order and shuffled, unequal classes whose remainders tie, and random
    ones."""
    rng = np.random.default_rng(0)
    cases = []
    for n, k in ((67, 2), (36, 3), (270, 9), (40, 4), (50, 2)):
        ordered = [i * k // n for i in range(n)]
        cases += [(ordered, 0.2, s) for s in range(4)]
        cases += [([int(c) for c in rng.permutation(ordered)], 0.2, s) for s in range(4)]
    cases += [([0] * 5 + [1] * 5 + [2] * 5 + [3] * 2, f, s) for f in (0.1, 0.3, 0.5) for s in range(6)]
    for _ in range(60):
        k = int(rng.integers(2, 7))
        counts = rng.integers(2, 25, size=k)
        labels = [int(c) for c in rng.permutation(np.repeat(np.arange(k) * 3 + 1, counts))]  # ids need not be 0..k-1
        cases.append((labels, float(rng.choice([0.1, 0.15, 0.2, 0.25, 0.33, 0.5])), int(rng.integers(0, 2**31))))
    return cases


def test_the_same_indices_as_scikit_learns_stratified_split() -> None:
    pytest.importorskip("sklearn")
    cases = _cases()
    differ = [(len(labels), fraction, seed) for labels, fraction, seed in cases
              if stratified_valid(labels, fraction, seed) != _sklearn_split(labels, fraction, seed)]
    assert len(cases) == 118 and not differ, differ


def test_valid_keeps_the_class_proportions_and_takes_each_index_once() -> None:
    labels = [0] * 30 + [1] * 10
    train, valid = stratified_valid(labels, 0.2, 3)
    assert sorted(train + valid) == list(range(40)) and len(valid) == 8
    assert [labels[i] for i in valid].count(1) == 2
    assert stratified_valid(labels, 0.2, 3) == (train, valid) and stratified_valid(labels, 0.2, 4) != (train, valid)
    assert stratified_valid(labels, 0.0, 3) == (list(range(40)), [])


@pytest.mark.parametrize(("labels", "fraction", "match"), [
    ([0, 0, 0, 1], 0.5, r"classes \[1\] have one.*valid_fraction=0"),
    ([0, 0, 1, 1, 2, 2], 0.9, "one of each left to train"),
    ([0, 1], 1.0, r"valid_fraction must be in \[0, 1\)"),
])
def test_a_split_that_cannot_keep_every_class_says_what_to_pass(labels: list[int], fraction: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        stratified_valid(labels, fraction, 0)


def test_loading_a_ucr_set_does_not_import_scikit_learn() -> None:
    code = ("import sys, rnnkit.datasets; d = rnnkit.datasets.load('italy_power_demand'); "
            "print(len(d.valid), any(m.startswith('sklearn') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert out.stdout.split() == ["13", "False"], out.stdout + out.stderr

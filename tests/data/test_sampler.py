"""BucketSampler yields every index once per epoch, pads less than random batches, and is seeded."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader

from rnnkit.data.batch import Example, collate
from rnnkit.data.dataset import ExampleList
from rnnkit.data.sampler import BucketSampler, padding_report


@settings(max_examples=60, deadline=None)
@given(lengths=st.lists(st.integers(0, 50), max_size=300), batch_size=st.integers(1, 17),
       pool=st.integers(1, 6), seed=st.integers(0, 1000), shuffle=st.booleans())
def test_every_index_exactly_once_per_epoch(lengths, batch_size, pool, seed, shuffle) -> None:
    sampler = BucketSampler(lengths, batch_size, pool_batches=pool, seed=seed, shuffle=shuffle)
    for _ in range(2):
        batches = list(sampler)
        assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
        assert all(1 <= len(b) <= batch_size for b in batches)
        assert len(batches) == len(sampler)


def test_batches_group_similar_lengths_and_save_padding() -> None:
    rng = random.Random(0)
    lengths = [rng.randint(1, 200) for _ in range(2000)]
    sampler = BucketSampler(lengths, 32, pool_batches=20, seed=1)
    batches = list(sampler)
    report = padding_report(lengths, batches)
    assert report.real_steps == sum(lengths)
    assert report.padded_steps < 0.6 * report.random_padded_steps
    assert 0 < report.saved_fraction < 1 and report.steps_saved > 0
    assert report.padding_fraction < report.random_padding_fraction
    assert "steps saved" in str(report)


def test_padding_report_by_hand() -> None:
    lengths = [1, 1, 4, 4]
    report = padding_report(lengths, [[0, 1], [2, 3]], trials=50)
    assert report.padded_steps == 2 * 1 + 2 * 4 == report.real_steps
    assert report.padding_fraction == 0.0
    assert report.random_padded_steps > report.padded_steps  # a random pairing mixes 1s with 4s


def test_seeded_per_epoch_and_set_epoch() -> None:
    lengths = list(range(100))
    a, b = BucketSampler(lengths, 8, pool_batches=2, seed=3), BucketSampler(lengths, 8, pool_batches=2, seed=3)
    first, second = list(a), list(a)
    assert first == list(b) and second == list(b)  # same seed -> same epochs
    assert first != second  # a new shuffle every epoch
    a.set_epoch(0)
    assert list(a) == first
    assert list(BucketSampler(lengths, 8, pool_batches=2, seed=4)) != first


def test_no_shuffle_sorts_by_length() -> None:
    lengths = [5, 1, 3, 2, 4]
    assert list(BucketSampler(lengths, 2, shuffle=False)) == [[1, 3], [2, 4], [0]]


def test_works_as_a_dataloader_batch_sampler() -> None:
    import torch

    data = ExampleList([Example(x=torch.ones(n, 2) * i) for i, n in enumerate([3, 9, 2, 8, 1, 7])])
    loader = DataLoader(data, batch_sampler=BucketSampler(data.lengths(), 2, seed=0), collate_fn=collate)
    seen = sorted(int(b.x[j, 0, 0]) for b in loader for j in range(b.size))
    assert seen == list(range(6))


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        BucketSampler([1], 0)
    with pytest.raises(ValueError, match="index 1 has -2"):
        BucketSampler([1, -2], 4)

"""collate pads on the right and never loses, truncates or reorders a step (property tests)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnkit.data.batch import Example, collate

lengths_st = st.lists(st.integers(1, 12), min_size=1, max_size=8)


@settings(max_examples=80, deadline=None)
@given(lengths=lengths_st, features=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_float_sequences_round_trip(lengths, features, seed) -> None:
    g = torch.Generator().manual_seed(seed)
    xs = [torch.randn(n, features, generator=g) for n in lengths]
    batch = collate([Example(x=x, y=torch.tensor(i)) for i, x in enumerate(xs)])
    assert batch.x.shape == (len(xs), max(lengths), features)
    assert batch.lengths.tolist() == lengths
    assert batch.y.tolist() == list(range(len(xs)))  # order kept
    for i, x in enumerate(xs):
        assert torch.equal(batch.x[i, : lengths[i]], x)  # every step, in order
        assert not batch.x[i, lengths[i]:].any()  # padding is zero, on the right
    assert batch.mask().sum().item() == sum(lengths)


@settings(max_examples=80, deadline=None)
@given(lengths=lengths_st, y_lengths=lengths_st, seed=st.integers(0, 2**16))
def test_token_sequences_and_target_sequences_round_trip(lengths, y_lengths, seed) -> None:
    y_lengths = (y_lengths * len(lengths))[: len(lengths)]
    g = torch.Generator().manual_seed(seed)
    xs = [torch.randint(4, 50, (n,), generator=g) for n in lengths]
    ys = [torch.randint(4, 50, (n,), generator=g) for n in y_lengths]
    batch = collate([Example(x=x, y=y, meta={"i": i}) for i, (x, y) in enumerate(zip(xs, ys))])
    assert batch.x.dtype == torch.int64 and batch.lengths.tolist() == lengths
    assert batch.y_lengths.tolist() == y_lengths
    assert [m["i"] for m in batch.meta] == list(range(len(xs)))
    for i in range(len(xs)):
        assert batch.x[i, : lengths[i]].tolist() == xs[i].tolist()
        assert batch.y[i, : y_lengths[i]].tolist() == ys[i].tolist()
    assert int(batch.y_mask().sum()) == sum(y_lengths)


def test_forecast_windows_stack() -> None:
    ex = [Example(x=torch.randn(6, 2), y=torch.randn(3), future=torch.randn(3, 1)) for _ in range(4)]
    batch = collate(ex)
    assert batch.x.shape == (4, 6, 2) and batch.y.shape == (4, 3) and batch.future.shape == (4, 3, 1)
    assert batch.y_lengths is None


def test_empty_sequence_and_empty_batch_are_errors() -> None:
    with pytest.raises(ValueError, match="example 1 .*empty input sequence"):
        collate([Example(x=torch.ones(2, 1)), Example(x=torch.ones(0, 1), meta={"line": 7})])
    with pytest.raises(ValueError, match="no examples"):
        collate([])


@pytest.mark.parametrize("dtype", [torch.int32, torch.int16, torch.uint8])
def test_integer_targets_of_any_width_are_int64_ids(dtype) -> None:
    """Target sequences of int32 (what numpy gives on Windows) were stacked, not padded, and failed
    on different lengths; int32 class ids reached cross-entropy, which takes only int64."""
    seqs = collate([Example(x=torch.randn(3, 2), y=torch.tensor([1, 2], dtype=dtype)),
                    Example(x=torch.randn(2, 2), y=torch.tensor([3], dtype=dtype))])
    assert seqs.y is not None and seqs.y.dtype == torch.int64 and seqs.y.tolist() == [[1, 2], [3, 0]]
    assert seqs.y_lengths is not None and seqs.y_lengths.tolist() == [2, 1]
    labels = collate([Example(x=torch.randn(3, 2), y=torch.tensor(1, dtype=dtype)),
                      Example(x=torch.randn(2, 2), y=torch.tensor(0, dtype=dtype))])
    assert labels.y is not None and labels.y.dtype == torch.int64 and labels.y_lengths is None
    torch.nn.functional.cross_entropy(torch.randn(2, 3), labels.y)


def test_an_empty_target_sequence_is_named() -> None:
    with pytest.raises(ValueError, match="has an empty target sequence"):
        collate([Example(x=torch.randn(3, 2), y=torch.tensor([1, 2])),
                 Example(x=torch.randn(2, 2), y=torch.tensor([], dtype=torch.int64))])

"""Data-layer audit fixes: a batch of mixed float and integer fields is refused (padding cut the floats to
integers), small-valued features are scaled (not taken for constant), and the bucket sampler's seeds do
not replay each other's epochs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.data.batch import Example, collate
from rnnkit.data.sampler import BucketSampler
from rnnkit.data.scalers import MinMaxScaler, StandardScaler


def test_a_batch_of_float_and_integer_fields_is_refused_not_truncated() -> None:
    ints, floats = Example(x=torch.tensor([1, 2])), Example(x=torch.tensor([0.5, 2.7]))
    with pytest.raises(ValueError, match="x is a float tensor in example 1 and an integer one in example 0"):
        collate([ints, floats])
    labels = [Example(x=torch.ones(2, 1), y=torch.tensor(1)), Example(x=torch.ones(2, 1), y=torch.tensor(float("nan")))]
    with pytest.raises(ValueError, match="y is a float tensor"):
        collate(labels)


def test_float32_and_float64_steps_pad_into_float64() -> None:
    batch = collate([Example(x=torch.tensor([[0.1]], dtype=torch.float32)),
                     Example(x=torch.tensor([[0.1], [1e-300]], dtype=torch.float64))])
    assert batch.x.dtype == torch.float64 and batch.x[1, 1, 0] == 1e-300


@pytest.mark.parametrize("scaler", [StandardScaler(), MinMaxScaler()])
def test_a_feature_of_small_values_is_scaled_not_taken_for_constant(scaler) -> None:
    data = np.array([[1e-13, 5.0], [2e-13, 5.0], [3e-13, 5.0]])
    scaler.fit(data)
    assert scaler.constant_features == [1]
    out = scaler.transform(data)
    assert np.ptp(out[:, 0]) > 0.9  # spread to about unit size, not left at 1e-13


def test_bucket_sampler_seeds_do_not_replay_each_other_s_epochs() -> None:
    lengths = [(i * 7) % 23 + 1 for i in range(64)]
    zero, one = BucketSampler(lengths, 8, pool_batches=2, seed=0), BucketSampler(lengths, 8, pool_batches=2, seed=1)
    assert zero.batches(1) != one.batches(0)
    assert zero.batches(1) == BucketSampler(lengths, 8, pool_batches=2, seed=0).batches(1)


def test_a_word_pattern_with_capturing_groups_is_refused_with_the_fix() -> None:
    from rnnkit.data.tokenizers import WordTokenizer

    with pytest.raises(ValueError, match=r"capturing groups.*\(\?:\.\.\.\)"):
        WordTokenizer(pattern=r"(ab)|(c)")
    assert WordTokenizer(pattern=r"(?:ab)|c").fit(["ab c"]).tokenize("ab c") == ["ab", "c"]


def test_fill_missing_refuses_a_misspelt_policy_even_without_a_nan() -> None:
    from rnnkit.data.windows import fill_missing

    with pytest.raises(ValueError, match="nan_policy must be 'raise' or 'interpolate', got 'interp'"):
        fill_missing(np.arange(4.0), policy="interp")  # type: ignore[arg-type]
    filled, count = fill_missing(np.array([1.0, np.nan, 3.0]), policy="interpolate")
    assert filled.shape == (3, 1) and count == 1 and filled[1, 0] == 2.0  # (N,) comes back (N, 1), as documented

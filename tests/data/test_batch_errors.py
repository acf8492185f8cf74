"""Bad data stops at the batch, naming the example, field and step, before any model runs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rnnkit.data.batch import Batch, Example, collate


@pytest.mark.parametrize("field", ["x", "lengths", "y", "y_lengths", "cond", "future"])
def test_batch_fields_must_be_tensors(field):
    with pytest.raises(TypeError, match=f"Batch.{field} must be a torch.Tensor or None, got list"):
        Batch(**{"x": torch.zeros(1, 2), field: [1, 2]})


def test_collate_refuses_what_is_not_an_example_of_tensors():
    with pytest.raises(TypeError, match="collate takes a list of rnnkit.data.Example, item 1 is Tensor"):
        collate([Example(x=torch.ones(3, 2)), torch.ones(3, 2)])
    with pytest.raises(TypeError, match=r"example 0 \{'id': 'a'\}: x must be a torch.Tensor or None, got ndarray"):
        collate([Example(x=np.ones((3, 2)), meta={"id": "a"})])


def test_collate_names_the_first_nan_or_infinity():
    x = torch.ones(4, 2)
    x[2, 1] = math.nan
    with pytest.raises(ValueError, match=r"example 1 \{'line': 7\} has NaN in x at step 2; fill or drop"):
        collate([Example(x=torch.ones(3, 2)), Example(x=x, meta={"line": 7})])
    with pytest.raises(ValueError, match="example 0 has infinity in y"):
        collate([Example(x=torch.ones(3, 2), y=torch.tensor(math.inf))])
    with pytest.raises(ValueError, match=r"example 0 has NaN in cond at index \(1,\)"):
        collate([Example(x=None, cond=torch.tensor([0.0, math.nan]), y=torch.tensor([1, 2]))])


def test_collate_refuses_a_scalar_among_sequences():
    with pytest.raises(ValueError, match=r"item 1 is a scalar where a sequence \(T, \.\.\.\) was expected"):
        collate([Example(x=torch.ones(3, 2), y=torch.tensor([1, 2])), Example(x=torch.ones(3, 2), y=torch.tensor(1))])


def test_empty_sequence_message_has_no_stray_space():
    with pytest.raises(ValueError, match=r"^example 0 has an empty input sequence \(length 0\)$"):
        collate([Example(x=torch.zeros(0, 2))])


def test_valid_batches_are_unchanged():
    xs = [torch.randn(3, 2), torch.randn(1, 2)]
    batch = collate([Example(x=x, y=torch.tensor(i)) for i, x in enumerate(xs)])
    assert batch.lengths.tolist() == [3, 1] and torch.equal(batch.x[0], xs[0]) and torch.equal(batch.x[1, :1], xs[1])
    assert torch.equal(batch.x[1, 1:], torch.zeros(2, 2))


def test_a_pickled_example_carries_only_its_own_data():
    """Loaders split one big tensor into per-example views; pickling must not write the whole corpus."""
    import copy
    import pickle

    ids = torch.arange(1_000_000)
    tags = torch.zeros(1_000_000, dtype=torch.long)
    examples = [Example(x=x, y=y, meta={"i": i}) for i, (x, y) in
                enumerate(zip(ids.split(10), tags.split(10), strict=True))][:3]
    data = pickle.dumps(examples)
    assert len(data) < 10_000  # 3 x 10 ids and tags, not the 16 MB they were cut from
    back = pickle.loads(data)
    assert all(torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and a.meta == b.meta
               for a, b in zip(examples, back, strict=True))
    assert torch.equal(copy.deepcopy(examples[1]).x, torch.arange(10, 20))
    assert examples[0].x.untyped_storage().data_ptr() == ids.untyped_storage().data_ptr()  # left as views
    own = Example(x=torch.arange(5))
    assert pickle.loads(pickle.dumps(own)).x.tolist() == [0, 1, 2, 3, 4]

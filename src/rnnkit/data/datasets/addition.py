"""``addition``: ``"123+45"`` -> ``"168"`` (many-to-many, generated), the program-learning classic.

Operands are drawn as in the Keras ``addition_rnn`` example: a length of 1..``digits`` digits,
then each digit at random (so short numbers are as common as long ones). Each unordered pair
``{a, b}`` is used once: the test pairs never appear in train or valid, in either order.

The distinct pairs are shuffled before test is split off. In draw order they are not exchangeable:
pairs with a 1-digit operand are few (so their repeats are dropped), which crowds them into the
first draws; splitting test off the front gave test 46% such pairs against 15% in train and valid.
"""

from __future__ import annotations

import numpy as np

from rnnkit.data.batch import Example
from rnnkit.data.dataset import DatasetInfo, PublishedResult, SequenceDataset
from rnnkit.data.datasets.registry import register
from rnnkit.data.datasets.shipped import check_positive, encode_all, make_dataset
from rnnkit.data.vocab import Vocab

_MAX_ROUNDS = 10  # rounds of rejection sampling before giving up with a message

INFO = DatasetInfo(
    name="addition",
    shape="many-to-many",
    task="seq2seq",
    input_kind="tokens",
    description="Add two integers written as characters: '123+45' -> '168' (3 digits by default).",
    sizes={"train": 45000, "valid": 5000, "test": 5000},
    source="generated (Keras addition_rnn example's sampling)",
    license="generated data (no licence needed)",
    metric="exact_match",
    published=[
        PublishedResult("LSTM seq2seq (Keras 3 example, torch backend)", "exact_match", 0.944,
                        "keras-io examples/nlp/addition_rnn.py, measured for rnnkit: 37 epochs, 591 s CPU",
                        note="whole-sum exact match; 98.45% per character"),
    ],
)


def draw_pairs(rng: np.random.Generator, digits: int, count: int) -> np.ndarray:
    """``(count, 2)`` operand pairs, each operand of 1..``digits`` digits with its length drawn first
    (Keras ``addition_rnn``: ``L`` random digits read as an int, i.e. uniform on ``[0, 10**L)``)."""
    lengths = rng.integers(1, digits + 1, size=(count, 2))
    return rng.integers(0, 10**lengths)


def distinct_pairs(rng: np.random.Generator, digits: int, wanted: int) -> list[tuple[int, int]]:
    """``wanted`` pairs in draw order, no unordered pair twice; raises if the space runs dry."""
    found = np.empty((0, 2), dtype=np.int64)
    for _ in range(_MAX_ROUNDS):
        found = np.concatenate([found, draw_pairs(rng, digits, 2 * wanted)])
        keys = found.min(axis=1) * 10**digits + found.max(axis=1)
        _, first = np.unique(keys, return_index=True)
        found = found[np.sort(first)]
        if len(found) >= wanted:
            return [(int(a), int(b)) for a, b in found[:wanted]]
    raise ValueError(f"found only {len(found)} distinct pairs of {digits}-digit operands, {wanted} asked; "
                     f"raise digits or ask for fewer")


@register(INFO)
def load_addition(
    *,
    digits: int = 3,
    n_train: int = 50000,
    n_test: int = 5000,
    reverse: bool = False,
    valid_fraction: float = 0.1,
    seed: int = 0,
) -> SequenceDataset:
    """Generate the addition data set.

    Args:
        digits: most digits per operand.
        n_train: pairs for train + valid (valid is ``valid_fraction`` of them).
        n_test: pairs for test, disjoint (as unordered pairs) from the training pairs.
        reverse: write the source backwards (``"54+321"``), a trick that shortens the distance
            from each digit to the digits of the sum it affects (Sutskever et al. 2014).
        seed: fixes the pairs and the valid carve.

    Returns:
        ``x`` (T,) ids of ``"a+b"``, ``y`` (L,) ids of the sum's digits then ``<eos>``;
        ``meta["a"]``, ``meta["b"]``.
    """
    check_positive("digits", digits)
    check_positive("n_train", n_train)
    check_positive("n_test", n_test)
    rng = np.random.default_rng(seed)
    pairs = distinct_pairs(rng, digits, n_train + n_test)
    pairs = [pairs[i] for i in rng.permutation(len(pairs))]  # test, train and valid from one distribution
    source = Vocab(list("0123456789+"))
    target = Vocab(list("0123456789"))

    def examples(chunk: list[tuple[int, int]]) -> list[Example]:
        texts = [f"{a}+{b}" for a, b in chunk]
        xs = encode_all(source, [t[::-1] if reverse else t for t in texts])
        ys = encode_all(target, [str(a + b) for a, b in chunk], eos=True)
        return [Example(x=x, y=y, meta={"a": a, "b": b}) for x, y, (a, b) in zip(xs, ys, chunk)]

    return make_dataset(INFO, examples(pairs[n_test:]), examples(pairs[:n_test]), valid_fraction=valid_fraction,
                        seed=seed, input_vocab=source, output_vocab=target,
                        extra={"digits": digits, "reverse": reverse})

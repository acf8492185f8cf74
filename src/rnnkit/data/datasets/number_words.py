"""``number_words``: a number written in words in one language -> another language, or -> digits
(many-to-many, generated with num2words).

``source="en", target="fr"``: ``"seventy-one"`` -> ``"soixante et onze"``; ``target="digits"``:
``"seventy-one"`` -> ``"71"``; ``source="digits"`` turns it around. Numbers are drawn without
replacement from ``0..max_number``; the test numbers never appear in train or valid.

num2words spends 0.1-0.2 ms on one number, so the default size is modest (5,500 numbers, ~1 s);
results are cached in-process, so a second load with other splits is fast.
"""

from __future__ import annotations

import random
from functools import lru_cache

from rnnkit.data.batch import Example
from rnnkit.data.dataset import DatasetInfo, SequenceDataset
from rnnkit.data.datasets.registry import register
from rnnkit.data.datasets.shipped import check_positive, encode_all, make_dataset
from rnnkit.data.vocab import Vocab

DIGITS = "digits"

INFO = DatasetInfo(
    name="number_words",
    shape="many-to-many",
    task="seq2seq",
    input_kind="tokens",
    description="Numbers 0..9,999 in English words -> French words by default ('seventy-one' -> "
                "'soixante et onze'); any num2words language, or digits, on either side.",
    sizes={"train": 4500, "valid": 500, "test": 500},
    source="generated with num2words (cardinal numbers)",
    license="generated data; num2words is LGPL-2.1",
    metric="exact_match",
)


def _languages() -> list[str]:
    from num2words import CONVERTER_CLASSES

    return sorted(CONVERTER_CLASSES)


@lru_cache(maxsize=200_000)
def write(number: int, lang: str) -> str:
    """``number`` written in ``lang`` (a num2words language code) or as ``"digits"``."""
    if lang == DIGITS:
        return str(number)
    from num2words import num2words

    return str(num2words(number, lang=lang))


@register(INFO)
def load_number_words(
    *,
    source: str = "en",
    target: str = "fr",
    max_number: int = 9999,
    n_train: int = 5000,
    n_test: int = 500,
    valid_fraction: float = 0.1,
    seed: int = 0,
) -> SequenceDataset:
    """Generate the number-translation data set.

    Args:
        source, target: num2words language codes (``"en"``, ``"fr"``, ``"de"``, ``"es"``, ...)
            or ``"digits"``; they must differ.
        max_number: numbers are drawn from ``0..max_number``.
        n_train: numbers for train + valid (valid is ``valid_fraction`` of them).
        n_test: numbers for test, disjoint from the training numbers.
        seed: fixes the numbers drawn and the valid carve.

    Returns:
        ``x`` (T,) character ids of the source text, ``y`` (L,) character ids of the target
        then ``<eos>``; ``meta["number"]``.
    """
    check_positive("n_train", n_train)
    check_positive("n_test", n_test)
    if source == target:
        raise ValueError(f"source and target must differ, both are {source!r}")
    known = _languages()
    for side, lang in (("source", source), ("target", target)):
        if lang != DIGITS and lang not in known:
            raise ValueError(f"{side}={lang!r} is not a num2words language; use 'digits' or one of "
                             f"{', '.join(known)}")
    if n_train + n_test > max_number + 1:
        raise ValueError(f"n_train + n_test = {n_train + n_test} distinct numbers do not fit in "
                         f"0..{max_number}; raise max_number or ask for fewer")
    numbers = random.Random(seed).sample(range(max_number + 1), n_train + n_test)
    test_numbers, pool_numbers = numbers[:n_test], numbers[n_test:]
    src_vocab = Vocab.build([write(n, source) for n in pool_numbers])
    # the target alphabet of every number in range would cost a conversion each; train's is enough,
    # and a character only test needs encodes as <unk> (counted in info.extra)
    tgt_vocab = Vocab.build([write(n, target) for n in pool_numbers])

    def examples(chunk: list[int]) -> list[Example]:
        xs = encode_all(src_vocab, [write(n, source) for n in chunk])
        ys = encode_all(tgt_vocab, [write(n, target) for n in chunk], eos=True)
        return [Example(x=x, y=y, meta={"number": n}) for x, y, n in zip(xs, ys, chunk)]

    test = examples(test_numbers)
    unk_in_test = sum(1 for n in test_numbers for ch in write(n, target) if ch not in tgt_vocab)
    return make_dataset(INFO, examples(pool_numbers), test, valid_fraction=valid_fraction, seed=seed,
                        input_vocab=src_vocab, output_vocab=tgt_vocab,
                        extra={"source": source, "target": target, "max_number": max_number,
                               "test_target_unk": unk_in_test})

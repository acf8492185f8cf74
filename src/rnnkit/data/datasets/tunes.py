"""``folk_tunes``: generate a folk tune in ABC notation for a region (one-to-many).

The Essen Folksong Collection ships inside music21's wheel as ABC files
(``music21/corpus/essenFolksong/*.abc``, read as text; music21 itself is not imported). Each tune
record starts at ``X:``; its ``O:`` (origin) field gives the region, and the condition is the
region one-hot. The target is the tune's text a model has to write: the metre ``M:``, unit
length ``L:`` and key ``K:`` lines and the melody lines, in their order, as characters; the
title, notes and origin lines are dropped (they name the region), and so are stray lines of
wrapped note text (a letter outside ``a-g``, ``A-G``, ``z``), counted in ``info.extra``.
Identical tunes are kept once, so no test tune is also a training tune. Tunes are shuffled with a
fixed seed and the last ``test_fraction`` is test.

Region from ``O:`` (after a leading ``Europa``): China -> ``china``, Mitteleuropa ->
``central_europe`` (German-speaking lands), Luxemburg -> ``luxembourg``, Lothringen ->
``lorraine``, Osteuropa -> ``eastern_europe``, Suedosteuropa -> ``southeastern_europe``,
Irland -> ``ireland``, anything else -> ``other``. music21's test fixtures (``test*.abc``) are
skipped; a tune without ``K:`` or without melody is skipped and counted in ``info.extra``.
"""

from __future__ import annotations

import random
import re
from functools import lru_cache

import torch

from rnnkit.data.batch import Example
from rnnkit.data.dataset import DatasetInfo, SequenceDataset
from rnnkit.data.datasets.registry import register
from rnnkit.data.datasets.shipped import check_fraction, encode_all, make_dataset, package_file, read_lines
from rnnkit.data.vocab import Vocab

REGIONS = ["central_europe", "china", "luxembourg", "lorraine", "eastern_europe", "southeastern_europe",
           "ireland", "other"]
_REGION_OF = {"China": "china", "Mitteleuropa": "central_europe", "Luxemburg": "luxembourg",
              "Lothringen": "lorraine", "Osteuropa": "eastern_europe", "Suedosteuropa": "southeastern_europe",
              "Irland": "ireland"}
_KEPT_FIELDS = ("M:", "L:", "K:")
_NOT_MELODY = re.compile(r"[h-yH-Y]")  # notes are a-g/A-G, rests z; other letters are wrapped text
_SPLIT_SEED = 1982

INFO = DatasetInfo(
    name="folk_tunes",
    shape="one-to-many",
    task="generation",
    input_kind="vector",
    description="Essen Folksong Collection tunes in ABC notation (metre, unit length, key, melody) "
                "conditioned on their region (8 regions, one-hot); character tokens.",
    classes=list(REGIONS),
    cond_shape=(len(REGIONS),),
    sizes={"train": 6823, "valid": 758, "test": 842},
    source="music21 10.5 (music21/corpus/essenFolksong/*.abc): the Essen Folksong Collection "
           "(EsAC; H. Schaffrath, E. Dahlig-Turek), ABC encodings by Seymour Shlien",
    license="NON-COMMERCIAL use only: music21 (BSD-3-Clause) distributes these encodings with the "
            "permission of E. Dahlig-Turek for non-commercial distribution and use, and states that "
            "the collection's legal status is unclear (corpus/essenFolksong/license.txt)",
    metric="perplexity",
    higher_is_better=False,
)


def region_of(origin: str) -> str:
    """``"Europa, Mitteleuropa"`` -> ``"central_europe"``; unknown origins -> ``"other"``."""
    parts = [p.strip() for p in origin.split(",") if p.strip()]
    if parts and parts[0] == "Europa":
        parts = parts[1:]
    return _REGION_OF.get(parts[0], "other") if parts else "other"


def _is_melody(line: str) -> bool:
    """A line of notes: not an ``X:``-style field, and no letter an ABC melody line never holds."""
    return not (len(line) > 1 and line[1] == ":" and line[0].isalpha()) and _NOT_MELODY.search(line) is None


@lru_cache(maxsize=1)
def read_tunes() -> tuple[tuple[tuple[str, str], ...], int, int]:
    """((region, tune text), ...) over the collection's files in name order; the number of tunes
    skipped; and the number of stray text lines (wrapped notes) left out of tunes."""
    folder = package_file("music21", "corpus", "essenFolksong")
    tunes: list[tuple[str, str]] = []
    skipped = stray = 0
    for path in sorted(folder.glob("*.abc")):
        if path.name.startswith("test"):
            continue
        records: list[list[str]] = []
        for line in read_lines(path):
            if line.startswith("X:"):
                records.append([])
            elif records and line.strip():
                records[-1].append(line.rstrip())
        for record in records:
            origin = next((ln[2:] for ln in record if ln.startswith("O:")), "")
            kept = [ln.replace(" ", "") if ln.startswith(_KEPT_FIELDS) else ln for ln in record
                    if ln.startswith(_KEPT_FIELDS) or _is_melody(ln)]
            fields = [ln for ln in record if len(ln) > 1 and ln[1] == ":" and ln[0].isalpha()]
            stray += len(record) - len(fields) - sum(1 for ln in kept if not ln.startswith(_KEPT_FIELDS))
            if not any(ln.startswith("K:") for ln in kept) or all(ln.startswith(_KEPT_FIELDS) for ln in kept):
                skipped += 1
                continue
            tunes.append((region_of(origin), "\n".join(kept)))
    return tuple(tunes), skipped, stray


@register(INFO)
def load_folk_tunes(*, test_fraction: float = 0.1, valid_fraction: float = 0.1, seed: int = 0) -> SequenceDataset:
    """Load the Essen folk tunes as region -> ABC text.

    Args:
        test_fraction: share of distinct tunes held out as test (a fixed shuffle, independent of
            ``seed``).
        valid_fraction: share of the remaining tunes carved off as valid with ``seed``.

    Returns:
        ``x`` None, ``cond`` (8,) float32 region one-hot (order of ``info.classes``), ``y`` (L,)
        character ids of the tune then ``<eos>``; ``meta["region"]``.
    """
    check_fraction("test_fraction", test_fraction)
    tunes, skipped, stray = read_tunes()
    distinct = list(dict((text, region) for region, text in reversed(tunes)).items())[::-1]
    random.Random(_SPLIT_SEED).shuffle(distinct)
    n_test = int(round(len(distinct) * test_fraction))
    pool, test_items = distinct[: len(distinct) - n_test], distinct[len(distinct) - n_test:]
    vocab = Vocab.build(text for text, _ in pool)
    one_hot = torch.eye(len(REGIONS))

    def examples(items: list[tuple[str, str]]) -> list[Example]:
        ys = encode_all(vocab, [text for text, _ in items], eos=True)
        return [Example(x=None, y=y, cond=one_hot[REGIONS.index(region)], meta={"region": region})
                for y, (_, region) in zip(ys, items)]

    return make_dataset(INFO, examples(pool), examples(test_items), valid_fraction=valid_fraction, seed=seed,
                        output_vocab=vocab,
                        extra={"skipped_tunes": skipped, "stray_text_lines": stray,
                               "duplicates_dropped": len(tunes) - len(distinct)})

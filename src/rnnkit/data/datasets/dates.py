"""``dates_iso``: human-written dates in several languages -> ISO 8601 (many-to-many, generated).

Dates are drawn without replacement from a range of days; each is written by babel's CLDR data in
a locale and a format picked at random (``format_date(d, format="long", locale="fr")`` ->
``"5 mars 2021"``), and the target is ``"2021-03-05"``. The test split holds days that never
appear in train or valid, so a model cannot pass by remembering a date.

Only the ``medium``, ``long`` and ``full`` formats are offered: CLDR's ``short`` format writes
two-digit years and, between locales, swaps day and month (``3/5/21`` in ``en``, ``05/03/21`` in
``it``), so its strings do not determine one ISO date.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from rnnkit.data.batch import Example
from rnnkit.data.dataset import DatasetInfo, SequenceDataset
from rnnkit.data.datasets.registry import register
from rnnkit.data.datasets.shipped import check_positive, encode_all, make_dataset
from rnnkit.data.vocab import Vocab

LOCALES = ("en", "en_GB", "fr", "de", "es", "it", "pt", "nl")
FORMATS = ("medium", "long", "full")
ISO_CHARS = list("0123456789-")

INFO = DatasetInfo(
    name="dates_iso",
    shape="many-to-many",
    task="seq2seq",
    input_kind="tokens",
    description="Dates written in 8 locales and 3 CLDR formats ('samedi 11 mars 2000', 'Mar 11, 2000') "
                "-> 'YYYY-MM-DD'; characters in, characters out.",
    sizes={"train": 18000, "valid": 2000, "test": 2000},
    source="generated with babel's CLDR date formats (babel.dates.format_date)",
    license="generated data; babel is BSD-3-Clause, CLDR data under the Unicode licence",
    metric="exact_match",
    extra={"locales": list(LOCALES), "formats": list(FORMATS)},
)


@lru_cache(maxsize=16)
def _locale(name: str) -> Any:
    from babel import Locale

    try:
        return Locale.parse(name)
    except (ValueError, LookupError) as e:
        raise ValueError(f"babel does not know locale {name!r}: {e}") from e


def render(day: dt.date, locale: str, fmt: str) -> str:
    """One day written the way ``locale`` writes it in CLDR format ``fmt``."""
    from babel.dates import format_date

    return str(format_date(day, format=fmt, locale=_locale(locale)))


@register(INFO)
def load_dates_iso(
    *,
    n_train: int = 20000,
    n_test: int = 2000,
    locales: Sequence[str] = LOCALES,
    formats: Sequence[str] = FORMATS,
    start: dt.date = dt.date(1950, 1, 1),
    end: dt.date = dt.date(2049, 12, 31),
    valid_fraction: float = 0.1,
    seed: int = 0,
) -> SequenceDataset:
    """Generate the date-normalisation data set.

    Args:
        n_train: days for train + valid (valid is ``valid_fraction`` of them).
        n_test: days for test, disjoint from the training days.
        locales: babel locale names to write dates in.
        formats: CLDR formats among ``"medium"``, ``"long"``, ``"full"``.
        start, end: the range of days drawn from (inclusive).
        seed: fixes the days, locales and formats drawn, and the valid carve.

    Returns:
        ``x`` (T,) character ids of the written date, ``y`` (11,) ids of ``YYYY-MM-DD`` then
        ``<eos>``; ``meta`` holds ``text``, ``iso``, ``locale``, ``format``.
    """
    check_positive("n_train", n_train)
    check_positive("n_test", n_test)
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ValueError(f"formats must be a non-empty subset of {FORMATS}, got {list(formats)}")
    if not locales:
        raise ValueError("locales must name at least one babel locale, e.g. ('en', 'fr')")
    n_days = (end - start).days + 1
    if n_train + n_test > n_days:
        raise ValueError(f"n_train + n_test = {n_train + n_test} distinct days do not fit in "
                         f"{start}..{end} ({n_days} days); widen the range or ask for fewer")
    rng = random.Random(seed)
    offsets = rng.sample(range(n_days), n_train + n_test)
    items = []
    for offset in offsets:
        day = start + dt.timedelta(days=offset)
        locale, fmt = rng.choice(list(locales)), rng.choice(list(formats))
        items.append({"text": render(day, locale, fmt), "iso": day.isoformat(), "locale": locale, "format": fmt})
    test_items, pool_items = items[:n_test], items[n_test:]
    source = Vocab.build([m["text"] for m in pool_items])
    target = Vocab(ISO_CHARS)

    def examples(metas: list[dict[str, str]]) -> list[Example]:
        xs = encode_all(source, [m["text"] for m in metas])
        ys = encode_all(target, [m["iso"] for m in metas], eos=True)
        return [Example(x=x, y=y, meta=m) for x, y, m in zip(xs, ys, metas)]

    return make_dataset(INFO, examples(pool_items), examples(test_items), valid_fraction=valid_fraction,
                        seed=seed, input_vocab=source, output_vocab=target,
                        extra={"locales": list(locales), "formats": list(formats),
                               "range": [start.isoformat(), end.isoformat()]})

"""``pairs:`` parallel text, one ``source<TAB>target`` pair per line -> many-to-many (seq2seq).

Load it with::

    rnnkit.datasets.load("pairs:train.tsv", test="test.tsv", tokenizer="char")

File layout: UTF-8, one pair per line, exactly one tab between source and target. Blank lines
are skipped, and so is a line that starts with ``comment`` (default ``#``) *and holds no tab*: a
line with a tab is always a pair, whatever it starts with (``#hashtag<TAB>tag``), so no pair is
ever read as a comment; ``comment=None`` reads every line as a pair. A line without a tab, with
more than one tab, or with an empty source or target is an error naming the file, the line and the
field.

Options:
    test: a second file of pairs for the test split (default: a seeded ``test_fraction``).
    comment: the start of a comment line (``"#"``; a line with a tab is never a comment) or None.
    tokenizer: ``"char"`` (default) | ``"word"`` | ``"bpe"`` for the source side;
    target_tokenizer: for the target side (default: the same kind).
    vocab_size: for BPE (default 1000); min_freq, max_size, lowercase: tokenizer options.
    valid_fraction (0.1), test_fraction (0.2), seed (0), name.

Examples: ``x`` source ids ``(T,)`` without specials; ``y`` target ids followed by ``<eos>``
(the decoder starts from ``<bos>``). Both tokenizers are fitted on the training split only and
kept in ``dataset.extras["source_tokenizer"]`` / ``["target_tokenizer"]``; tokens unseen in
training encode to ``<unk>``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from rnnkit.data.batch import Example
from rnnkit.data.dataset import DatasetInfo, ExampleList, SequenceDataset
from rnnkit.data.datasets.registry import register_format
from rnnkit.data.formats.errors import DataFileError, check_exists, file_lines, read_utf8
from rnnkit.data.formats.splits import check_fractions, file_tokenizer, split_records
from rnnkit.data.tokenizers import Tokenizer

Pair = tuple[str, str, str, int]  # source, target, file, line


def read_pairs(path: str | Path, *, comment: str | None = "#") -> list[Pair]:
    """Parse a tab-separated pairs file into ``(source, target, file, line)`` records."""
    p = check_exists(path)
    lines = file_lines(read_utf8(p))
    out: list[Pair] = []
    for n, line in enumerate(lines, start=1):
        if not line.strip() or (comment and line.startswith(comment) and "\t" not in line):
            continue  # a line with a tab is a pair, even one that starts like a comment ('#hashtag')
        parts = line.split("\t")
        if len(parts) < 2:
            raise DataFileError(p, "no tab between source and target", line=n, field="target")
        if len(parts) > 2:
            raise DataFileError(p, f"{len(parts)} tab-separated fields, expected 2 (source, target)",
                                line=n, field=3)
        for field, text in zip(("source", "target"), parts):
            if not text.strip():
                raise DataFileError(p, f"empty {field} sequence", line=n, field=field)
        out.append((parts[0], parts[1], str(p), n))
    if not out:
        raise DataFileError(p, "holds no pairs")
    return out


def _encode(tok: Tokenizer, text: str, *, eos: bool, where: tuple[str, int], field: str) -> torch.Tensor:
    ids = tok.encode(text, eos=eos)
    if len(ids) == int(eos):
        raise DataFileError(where[0], f"{field} text {text!r} gives no tokens", line=where[1], field=field)
    return torch.tensor(ids, dtype=torch.int64)


@register_format("pairs")
def load_pairs(path: str, *, test: str | None = None, comment: str | None = "#", tokenizer: str = "char",
               target_tokenizer: str | None = None, vocab_size: int = 1000, min_freq: int = 1,
               max_size: int | None = None, lowercase: bool = False, valid_fraction: float = 0.1,
               test_fraction: float = 0.2, seed: int = 0, name: str | None = None) -> SequenceDataset:
    """Load parallel text as a many-to-many data set (see the module docstring for the options)."""
    check_fractions(valid_fraction, test_fraction)
    train_r, valid_r, test_r = split_records(read_pairs(path, comment=comment),
                                             None if test is None else read_pairs(test, comment=comment),
                                             valid_fraction=valid_fraction, test_fraction=test_fraction,
                                             seed=seed)

    def build(kind: str) -> Tokenizer:
        return file_tokenizer(kind, vocab_size=vocab_size, min_freq=min_freq, max_size=max_size, lowercase=lowercase)

    src_tok = build(tokenizer).fit(r[0] for r in train_r)
    tgt_tok = build(target_tokenizer or tokenizer).fit(r[1] for r in train_r)

    def examples(records: list[Pair]) -> ExampleList:
        return ExampleList([
            Example(x=_encode(src_tok, s, eos=False, where=(f, n), field="source"),
                    y=_encode(tgt_tok, t, eos=True, where=(f, n), field="target"),
                    meta={"file": f, "line": n})
            for s, t, f, n in records])

    info = DatasetInfo(
        name=name or Path(path).stem, shape="many-to-many", task="seq2seq", input_kind="tokens",
        description=f"parallel text from {path}", input_vocab=src_tok.vocab, output_vocab=tgt_tok.vocab,
        source=str(path), metric="exact_match",
        extra={"tokenizer": tokenizer, "target_tokenizer": target_tokenizer or tokenizer,
               "target_specials": "eos"})
    return SequenceDataset(info=info, train=examples(train_r), valid=examples(valid_r), test=examples(test_r),
                           extras={"source_tokenizer": src_tok, "target_tokenizer": tgt_tok})


__all__ = ["load_pairs", "read_pairs"]

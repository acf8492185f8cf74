"""``text:`` plain text to learn a language model from -> one-to-many (``LanguageModel``).

Load it with::

    rnnkit.datasets.load("text:poems.txt")                       # one sequence per line
    rnnkit.datasets.load("text:novel.txt", chunk=200)            # the whole text in 200-token pieces

and train with ``rnnkit train --data text:poems.txt --model lm`` (the model a ``text:`` file calls
for). ``rnnkit predict RUN "a prompt"`` then continues a prompt, and an empty prompt starts from
``<bos>``.

File layout: UTF-8 text. By default each non-blank line is one sequence (a name, a verse, a
headline): an example is ``<bos>``, the line's tokens, ``<eos>``, so the model learns how lines
start and end. With ``chunk=N`` the file is one text (its lines joined with a newline) cut into
consecutive pieces of ``N`` tokens, each starting with ``<bos>`` and without ``<eos>``: Karpathy's
char-rnn, for a text whose lines are not units.

Options:
    test: a second file for the test split (default: a ``test_fraction`` of the first).
    tokenizer: ``"char"`` (default) | ``"word"`` | ``"bpe"``; vocab_size (BPE, default 1000),
        min_freq, max_size, lowercase: tokenizer options (fitted on the training split only; a
        token unseen there encodes to ``<unk>``).
    chunk: None (default: lines) or the tokens per piece (>= 2).
    valid_fraction (0.1), test_fraction (0.1), seed (0), name.

Splits: lines are carved at random with ``seed``. Pieces are carved in order (the last
``test_fraction`` of the text is test, the ``valid_fraction`` before it valid), so that no test
piece sits between two training pieces it overlaps in content; a positive fraction takes at
least one piece, as it takes at least one line. The pieces are carved before the
tokenizer is fitted, and it is fitted on the training pieces' tokens alone (a BPE tokenizer, whose
tokens come from its fit, is fitted on the text before the valid and test part, cut at a space
near the same share of the characters). A positive fraction that leaves its split without a
piece is an error that says how many pieces the text gives.

A file with no text, or a line that gives no tokens (a line of characters that ``lowercase`` or
the tokenizer drops), is a :class:`DataFileError` naming the file and the line.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import torch

from rnnkit.data.batch import Example
from rnnkit.data.dataset import DatasetInfo, ExampleList, SequenceDataset, valid_count
from rnnkit.data.datasets.registry import register_format
from rnnkit.data.formats.errors import DataFileError, check_exists, file_lines, read_utf8
from rnnkit.data.formats.splits import check_fractions, file_tokenizer, split_records
from rnnkit.data.tokenizers import Tokenizer
from rnnkit.data.vocab import Vocab

Line = tuple[str, str, int]  # text, file, line
T = TypeVar("T")


def read_lines(path: str | Path) -> list[Line]:
    """The non-blank lines of a UTF-8 text file as ``(text, file, line number)`` records."""
    p = check_exists(path)
    lines = file_lines(read_utf8(p))
    out = [(line, str(p), n) for n, line in enumerate(lines, start=1) if line.strip()]
    if not out:
        raise DataFileError(p, "holds no text")
    return out


def _pieces(ids: list[T], chunk: int) -> list[list[T]]:
    """``ids`` cut into consecutive pieces of ``chunk`` tokens (the last may be shorter; one token is
    kept only when it is all there is)."""
    pieces = [ids[i:i + chunk] for i in range(0, len(ids), chunk)]
    if len(pieces) > 1 and len(pieces[-1]) < 2:
        pieces.pop()
    return pieces


def _carve_in_order(items: list[T], valid_fraction: float, test_fraction: float) -> tuple[list[T], list[T], list[T]]:
    n = len(items)
    n_test = valid_count(n, test_fraction)  # as lines are carved: round, and at least one piece
    n_valid = valid_count(n - n_test, valid_fraction)
    if n - n_test - n_valid < 1:
        raise ValueError(f"{n} pieces leave none to train on with valid_fraction {valid_fraction} and "
                         f"test_fraction {test_fraction}: use a smaller chunk or smaller fractions")
    for split, fraction, count in (("test", test_fraction, n_test), ("valid", valid_fraction, n_valid)):
        if fraction > 0 and count == 0:
            raise ValueError(f"the text gives {n} piece(s): {split}_fraction {fraction} leaves no {split} piece; "
                             f"use a smaller chunk, a larger {split}_fraction, or {split}_fraction=0")
    train_end = n - n_test - n_valid
    return items[:train_end], items[train_end:n - n_test], items[n - n_test:]


def _chunk_ids(tok: Tokenizer, text: str, chunk: int, valid_fraction: float,
               test_fraction: float) -> tuple[list[list[int]], list[list[int]], list[list[int]]]:
    """The text's pieces of ``chunk`` token ids, carved in order, with ``tok`` fitted on the training
    pieces alone (the valid and test text never reaches the vocabulary)."""
    if tok.kind != "bpe":  # char and word tokens need no fitting: carve them, then fit on train's
        train_t, valid_t, test_t = _carve_in_order(_pieces(tok.tokenize(text), chunk), valid_fraction,
                                                   test_fraction)
        tok.fit(t for p in train_t for t in p)  # each token its own text: the counts of train's tokens
        ids = [[tok.vocab.encode(p) for p in part] for part in (train_t, valid_t, test_t)]
        return ids[0], ids[1], ids[2]
    # BPE tokens come from the fit: cut the text (at a space) where the training share ends, fit
    # on what comes before, and cut each part into pieces of its own
    n = len(text)
    test_at = _cut(text, n - int(round(n * test_fraction))) if test_fraction > 0 else n
    valid_at = _cut(text, test_at - int(round(test_at * valid_fraction))) if valid_fraction > 0 else test_at
    tok.fit([text[:valid_at]])
    parts = [_pieces(tok.encode(t), chunk) if t.strip() else [] for t in
             (text[:valid_at], text[valid_at:test_at], text[test_at:])]
    total = sum(len(p) for p in parts)
    for split, fraction, part in (("train", 1.0, parts[0]), ("valid", valid_fraction, parts[1]),
                                  ("test", test_fraction, parts[2])):
        if fraction > 0 and not part:
            raise ValueError(f"the text gives {total} piece(s): valid_fraction {valid_fraction} and test_fraction "
                             f"{test_fraction} leave no {split} piece; use a smaller chunk or other fractions")
    return parts[0], parts[1], parts[2]


def _cut(text: str, at: int) -> int:
    """``at`` moved back to just after the nearest whitespace (so no word is cut in two), if any."""
    space = max(text.rfind(" ", 0, at), text.rfind("\n", 0, at))
    return space + 1 if space > 0 else at


@register_format("text")
def load_text(path: str, *, test: str | None = None, tokenizer: str = "char", chunk: int | None = None,
              vocab_size: int = 1000, min_freq: int = 1, max_size: int | None = None, lowercase: bool = False,
              valid_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0,
              name: str | None = None) -> SequenceDataset:
    """Load plain text as a language-modelling data set (see the module docstring for the options)."""
    check_fractions(valid_fraction, test_fraction)
    if chunk is not None and (isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 2):
        raise ValueError(f"chunk must be None (one sequence per line) or a whole number of tokens >= 2, got {chunk!r}")
    lines = read_lines(path)
    test_lines = None if test is None else read_lines(test)
    tok = file_tokenizer(tokenizer, vocab_size=vocab_size, min_freq=min_freq, max_size=max_size,
                         lowercase=lowercase)

    if chunk is None:
        train_r, valid_r, test_r = split_records(lines, test_lines, valid_fraction=valid_fraction,
                                                 test_fraction=test_fraction, seed=seed)
        tok.fit(r[0] for r in train_r)

        def examples(records: list[Line]) -> ExampleList:
            out = []
            for text, f, n in records:
                ids = tok.encode(text, bos=True, eos=True)
                if len(ids) <= 2:
                    raise DataFileError(f, f"line {text!r} gives no tokens", line=n)
                out.append(Example(x=torch.tensor(ids, dtype=torch.int64), meta={"file": f, "line": n}))
            return ExampleList(out)

        splits = [examples(r) for r in (train_r, valid_r, test_r)]
    else:
        def whole(records: list[Line]) -> str:
            return "\n".join(r[0] for r in records)

        try:
            train_p, valid_p, test_p = _chunk_ids(tok, whole(lines), chunk, valid_fraction,
                                                  test_fraction if test_lines is None else 0.0)
        except ValueError as e:
            raise DataFileError(path, f"{e} (chunk={chunk})") from e
        if test_lines is not None:
            test_p = _pieces(tok.encode(whole(test_lines)), chunk)
        if not train_p or len(train_p[0]) < 2:
            raise DataFileError(path, f"gives fewer than 2 tokens to train on (chunk={chunk})")

        def pieces(items: list[list[int]], where: str) -> ExampleList:
            return ExampleList([Example(x=torch.tensor([Vocab.bos_id] + p, dtype=torch.int64),
                                        meta={"file": where, "piece": i}) for i, p in enumerate(items)])

        splits = [pieces(train_p, str(path)), pieces(valid_p, str(path)),
                  pieces(test_p, str(path if test is None else test))]

    info = DatasetInfo(
        name=name or Path(path).stem, shape="one-to-many", task="generation", input_kind="tokens",
        description=f"text from {path} to learn a language model from "
                    f"({'one sequence per line' if chunk is None else f'pieces of {chunk} tokens'})",
        input_vocab=tok.vocab, output_vocab=tok.vocab, source=str(path), metric="perplexity",
        higher_is_better=False, extra={"tokenizer": tokenizer, "chunk": chunk, "prompt_bos": True})
    return SequenceDataset(info=info, train=splits[0], valid=splits[1], test=splits[2], extras={"tokenizer": tok})


__all__ = ["load_text", "read_lines"]

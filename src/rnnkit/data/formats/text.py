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
piece sits between two training pieces it overlaps in content.

A file with no text, or a line that gives no tokens (a line of characters that ``lowercase`` or
the tokenizer drops), is a :class:`DataFileError` naming the file and the line.
"""

from __future__ import annotations

from pathlib import Path

import torch

from rnnkit.data.batch import Example
from rnnkit.data.dataset import DatasetInfo, ExampleList, SequenceDataset
from rnnkit.data.datasets.registry import register_format
from rnnkit.data.formats.errors import DataFileError, check_exists, read_utf8
from rnnkit.data.formats.splits import check_fractions, file_tokenizer, split_records
from rnnkit.data.vocab import Vocab

Line = tuple[str, str, int]  # text, file, line


def read_lines(path: str | Path) -> list[Line]:
    """The non-blank lines of a UTF-8 text file as ``(text, file, line number)`` records."""
    p = check_exists(path)
    lines = read_utf8(p).splitlines()
    out = [(line, str(p), n) for n, line in enumerate(lines, start=1) if line.strip()]
    if not out:
        raise DataFileError(p, "holds no text")
    return out


def _pieces(ids: list[int], chunk: int) -> list[list[int]]:
    """``ids`` cut into consecutive pieces of ``chunk`` tokens (the last may be shorter; one token is
    kept only when it is all there is)."""
    pieces = [ids[i:i + chunk] for i in range(0, len(ids), chunk)]
    if len(pieces) > 1 and len(pieces[-1]) < 2:
        pieces.pop()
    return pieces


def _carve_in_order(items: list[list[int]], valid_fraction: float,
                    test_fraction: float) -> tuple[list[list[int]], list[list[int]], list[list[int]]]:
    n = len(items)
    n_test = int(round(n * test_fraction)) if test_fraction > 0 else 0
    n_valid = int(round((n - n_test) * valid_fraction)) if valid_fraction > 0 else 0
    if n - n_test - n_valid < 1:
        raise ValueError(f"{n} pieces leave none to train on with valid_fraction {valid_fraction} and "
                         f"test_fraction {test_fraction}: use a smaller chunk or smaller fractions")
    train_end = n - n_test - n_valid
    return items[:train_end], items[train_end:n - n_test], items[n - n_test:]


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

        # the tokenizer must not see the valid and test text: fit it on the text's leading share that
        # the training pieces will cover, then cut the pieces from the whole text in order
        text = whole(lines)
        share = (1 - valid_fraction) * (1 - (test_fraction if test_lines is None else 0.0))
        tok.fit([text[:max(1, int(len(text) * share))]])
        train_p, valid_p, test_p = _carve_in_order(_pieces(tok.encode(text), chunk), valid_fraction,
                                                   test_fraction if test_lines is None else 0.0)
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

"""Generated ids back to text by the kind of vocabulary: BPE subwords read as their tokenizer reads them."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from rnnkit.cli.predict_describe import describe_rows
from rnnkit.data.tokenizers import BPETokenizer
from rnnkit.data.vocab import Vocab
from rnnkit.report.predictions import sequence_text

TEXTS = ["alpha beta gamma", "beta gamma delta", "gamma delta alpha", "delta alpha beta"] * 20


def test_bpe_subwords_join_as_the_tokenizer_decodes_them() -> None:
    tok = BPETokenizer(vocab_size=40).fit(TEXTS)
    ids = tok.encode("gamma alpha beta")
    assert len(ids) > 1 and any(len(t) > 1 and t.startswith("\u2581") for t in tok.vocab.itos)
    assert sequence_text(tok.vocab, [*ids, Vocab.eos_id, 9]) == tok.decode(ids) == "gamma alpha beta"


def test_rnnkit_predict_prints_a_bpe_target_as_text() -> None:
    tok = BPETokenizer(vocab_size=40).fit(TEXTS)
    ids = tok.encode("delta beta")
    info = SimpleNamespace(task="seq2seq", output_vocab=tok.vocab)
    assert describe_rows(torch.tensor([ids]), None, None, info, [[]]) == ["delta beta"]


def test_characters_run_together_and_words_are_spaced() -> None:
    chars, words = Vocab(list("abc▁")), Vocab(["the", "cat", "▁"])
    assert sequence_text(chars, chars.encode(list("ca▁b"))) == "ca▁b"  # a lone mark is a character
    assert sequence_text(words, words.encode(["the", "cat"])) == "the cat"
    assert sequence_text(None, [5, 6]) == "5 6"

"""Tokenizers: round trips, the <unk> policy, strict mode, saving to and loading from a run directory."""

from __future__ import annotations

import json

import pytest

from rnnkit.data.tokenizers import BPETokenizer, CharTokenizer, Tokenizer, WordTokenizer, load_tokenizer, make_tokenizer
from rnnkit.data.vocab import Vocab

TEXTS = ["the cat sat on the mat", "the dog ate the cat's dinner", "a mat, a cat, a hat!"] * 3


def fitted(kind: str, **options: object) -> Tokenizer:
    if kind == "bpe":
        options.setdefault("vocab_size", 80)
    return make_tokenizer(kind, **options).fit(TEXTS)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_exact_round_trip_on_seen_characters(kind: str) -> None:
    tok = fitted(kind)
    for text in ["the cat ate the hat", "a  mat!", "dinner"]:
        assert tok.decode(tok.encode(text)) == text
        assert tok.decode(tok.encode(text, bos=True, eos=True)) == text


def test_word_round_trip_joins_tokens_with_spaces() -> None:
    tok = fitted("word")
    assert tok.tokenize("the cat's mat!") == ["the", "cat", "'", "s", "mat", "!"]
    assert tok.decode(tok.encode("the cat's mat!")) == "the cat ' s mat !"


@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_specials_and_vocab(kind: str) -> None:
    tok = fitted(kind)
    ids = tok.encode("the cat", bos=True, eos=True)
    assert ids[0] == Vocab.bos_id and ids[-1] == Vocab.eos_id
    assert isinstance(tok.vocab, Vocab) and tok.vocab.itos[:4] == ["<pad>", "<unk>", "<bos>", "<eos>"]
    assert all(0 <= i < len(tok.vocab) for i in ids)
    # decoding stops at <eos> and skips padding
    assert tok.decode(ids + [Vocab.pad_id, 7]) == tok.decode(ids)


@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_unknown_maps_to_unk_and_is_never_dropped(kind: str) -> None:
    tok = fitted(kind)
    ids = tok.encode("the zebra")
    assert Vocab.unk_id in ids
    assert "<unk>" in tok.decode(ids)
    assert len(ids) >= len(tok.encode("the ")) + 1  # the unknown part left a trace


@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_strict_names_the_unseen_text(kind: str) -> None:
    tok = fitted(kind, strict=True)
    with pytest.raises(ValueError, match="never saw 'z") as err:
        tok.encode("the zebra")
    assert "position 4" in str(err.value)
    assert tok.encode("the cat")  # seen text still encodes


@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_save_and_load_tokenizer(tmp_path, kind: str) -> None:
    tok = fitted(kind, lowercase=True)
    path = tok.save(tmp_path / "run", name=f"{kind}_tok")
    assert path.name == f"{kind}_tok.json" and json.loads(path.read_text())["kind"] == kind
    back = load_tokenizer(tmp_path / "run", name=f"{kind}_tok")
    assert type(back) is type(tok) and back.vocab == tok.vocab
    text = "The Cat ate a zebra"
    assert back.encode(text, eos=True) == tok.encode(text, eos=True)
    assert type(tok).load(tmp_path / "run", name=f"{kind}_tok").vocab == tok.vocab


def test_load_checks_the_kind_and_the_file(tmp_path) -> None:
    CharTokenizer().fit(["ab"]).save(tmp_path)
    with pytest.raises(ValueError, match="holds a 'char' tokenizer, not 'word'"):
        WordTokenizer.load(tmp_path)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="cannot read tokenizer"):
        load_tokenizer(tmp_path, "bad")


def test_min_freq_max_size_and_fit_only_on_given_texts() -> None:
    tok = CharTokenizer(min_freq=3).fit(["aaab", "ab"])  # a: 4, b: 2
    assert "a" in tok.vocab and "b" not in tok.vocab
    assert len(WordTokenizer(max_size=2).fit(TEXTS).vocab) == 4 + 2
    assert len(BPETokenizer(vocab_size=40).fit(TEXTS).vocab) <= 40


def test_unfitted_and_bad_options() -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        CharTokenizer().encode("a")
    with pytest.raises(ValueError, match="min_freq"):
        CharTokenizer(min_freq=0)
    with pytest.raises(ValueError, match="not a valid regular expression"):
        WordTokenizer(pattern="(")
    with pytest.raises(ValueError, match="unknown tokenizer 'sentencepiece'"):
        make_tokenizer("sentencepiece")


def test_a_vocabulary_with_ending_tokens_reads_an_unknown_word_by_its_last_character(tmp_path) -> None:
    from types import SimpleNamespace

    from rnnkit.cli.predict import encode_text
    from rnnkit.data.vocab import ending_token

    plain = Vocab(["的", "美化"])
    ends = Vocab(["的", "美化", ending_token("绿化")])
    assert ending_token("绿化") == "<unk:化>" and ends.has_endings and not plain.has_endings
    words = ["的", "绿化", "医生"]
    assert plain.encode(words) == [4, Vocab.unk_id, Vocab.unk_id]
    assert ends.encode(words) == [4, 6, Vocab.unk_id]  # 化 has a token, 生 has none
    with pytest.raises(ValueError, match="绿化"):
        ends.encode(words, strict=True)
    ends.save(tmp_path / "vocab.json")
    assert Vocab.load(tmp_path / "vocab.json").encode(words) == [4, 6, Vocab.unk_id]
    info = SimpleNamespace(name="pos", input_vocab=ends)
    assert encode_text("的 绿化 美化", info, {})[0] == [4, 6, 5]  # `rnnkit predict` reads new text the same way

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
    ends = Vocab(["的", "美化", ending_token("绿化")], endings=True)
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


def test_a_data_token_spelled_like_an_ending_token_does_not_switch_the_rule_on(tmp_path) -> None:
    """The ending rule is the vocabulary's, saved with it: a user's data token "<unk:化>" is an
    ordinary token, and an unknown word ending in 化 stays <unk>."""
    import json

    user = Vocab.build([["的", "<unk:化>"]])
    assert not user.has_endings and user.encode(["绿化", "<unk:化>"]) == [Vocab.unk_id, user.stoi["<unk:化>"]]
    user.save(tmp_path / "user.json")
    assert json.loads((tmp_path / "user.json").read_text(encoding="utf-8"))["endings"] is False
    ends = Vocab(["的", "<unk:化>"], endings=True)
    ends.save(tmp_path / "ends.json")
    loaded = Vocab.load(tmp_path / "ends.json")
    assert loaded.has_endings and loaded == ends and loaded != Vocab(["的", "<unk:化>"])
    assert Vocab.load(tmp_path / "user.json").encode(["绿化"]) == [Vocab.unk_id]
    # a vocabulary file written before the rule was saved: the rule followed from its tokens
    (tmp_path / "old.json").write_text(json.dumps({"tokens": ends.itos}), encoding="utf-8")
    assert Vocab.load(tmp_path / "old.json").encode(["绿化"]) == [ends.stoi["<unk:化>"]]


def test_data_tokens_spelled_like_specials_are_ordinary_tokens(tmp_path) -> None:
    """A data "<pad>" or "<eos>" gets an id of its own: taking id 0 or 3 would embed it as padding (a
    zero vector that never learns) or end a decoding at it."""
    import torch

    from rnnkit.data.datasets.shipped import encode_all

    v = Vocab.build([["a", "<pad>", "b", "<eos>", "<unk>"]])
    ids = v.encode(["a", "<pad>", "b", "<eos>", "<unk>", "c"])
    assert all(i >= 4 for i in ids[:5]) and len(set(ids[:5])) == 5 and ids[5] == Vocab.unk_id
    assert v.decode(ids) == ["a", "<pad>", "b", "<eos>", "<unk>", "<unk>"]
    assert v.decode([*ids[:2], Vocab.eos_id, ids[2]]) == ["a", "<pad>"]  # the special <eos> still ends it
    assert Vocab.build([["a"]]).encode(["<pad>", "<eos>"]) == [Vocab.unk_id] * 2  # unseen spellings: unknown
    v.save(tmp_path / "v.json")
    assert Vocab.load(tmp_path / "v.json").encode(["<pad>", "<eos>"]) == v.encode(["<pad>", "<eos>"])
    # a list of data tokens without the specials in front drops their spellings, as before
    assert Vocab(["x", "<pad>", "y"]).itos == ["<pad>", "<unk>", "<bos>", "<eos>", "x", "y"]
    [seq] = encode_all(v, [["<eos>", "a"]], eos=True)
    assert torch.equal(seq, torch.tensor([v.encode(["<eos>"])[0], v.encode(["a"])[0], Vocab.eos_id]))


def test_vocabularies_and_tokenizers_are_utf8_files_whatever_the_locale(tmp_path) -> None:
    """Saved as the locale's encoding (ASCII under LC_ALL=C, cp1252 on Windows) and read as UTF-8, a
    vocabulary of Chinese characters could not be saved at all."""
    import os
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from rnnkit.data.vocab import Vocab\n"
        "from rnnkit.data.tokenizers import CharTokenizer, load_tokenizer\n"
        "d = sys.argv[1]\n"
        "Vocab.build([['\\u00e9', '\\u4e2d']]).save(d + '/v.json')\n"
        "assert Vocab.load(d + '/v.json').itos[4:] == ['\\u00e9', '\\u4e2d']\n"
        "CharTokenizer().fit(['h\\u00e9llo \\u4e2d']).save(d)\n"
        "t = load_tokenizer(d)\n"
        "assert t.decode(t.encode('\\u4e2d\\u00e9')) == '\\u4e2d\\u00e9'\n"
    )
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"}
    done = subprocess.run([sys.executable, "-X", "utf8=0", "-c", script, str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    json.loads((tmp_path / "tokenizer.json").read_text(encoding="utf-8"))


def test_bpe_reads_special_spellings_in_text_as_text(tmp_path) -> None:
    """Hugging Face matches added tokens in raw text: "<pad>" in a review became id 0 and vanished
    from the decoded text."""
    text = "hello <pad> world <eos> again"
    tok = BPETokenizer(vocab_size=60).fit([text] * 3)
    for t in (tok, load_tokenizer(tok.save(tmp_path).parent)):
        ids = t.encode(text)
        assert not set(ids) & {Vocab.pad_id, Vocab.eos_id} and t.decode(ids) == text

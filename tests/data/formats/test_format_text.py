"""text: lines or pieces of a text for a language model; nothing lost, splits that never overlap, and
malformed files named."""

from __future__ import annotations

import pytest
import torch

import rnnkit.datasets
from rnnkit.data.formats import DataFileError
from rnnkit.data.vocab import Vocab
from rnnkit.models import LanguageModel

NAMES = ["anna", "bert", "carl", "dora", "emil", "fenna", "gus", "hilde", "ivo", "jan", "kees", "lotte"]


def write(path, lines, header: str = "") -> str:
    path.write_text(header + "".join(f"{line}\n" for line in lines), encoding="utf-8")
    return str(path)


def test_lines_are_sequences_from_bos_to_eos(tmp_path) -> None:
    path = write(tmp_path / "names.txt", NAMES[:6] + [""] + NAMES[6:])  # a blank line is skipped
    ds = rnnkit.datasets.load(f"text:{path}", valid_fraction=0.2, test_fraction=0.2, seed=3)
    info = ds.info
    assert (info.shape, info.task, info.input_kind) == ("one-to-many", "generation", "tokens")
    assert info.metric == "perplexity" and info.higher_is_better is False
    assert info.input_vocab is info.output_vocab is ds.extras["tokenizer"].vocab
    everything = ds.train.examples + ds.valid.examples + ds.test.examples
    assert len(everything) == len(NAMES) and (len(ds.test), len(ds.valid)) == (2, 2)
    tok = ds.extras["tokenizer"]
    seen = {}
    for e in everything:
        ids = e.x.tolist()
        assert ids[0] == Vocab.bos_id and ids[-1] == Vocab.eos_id
        seen[e.meta["line"]] = ids
    assert sorted(seen) == [1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13]  # the blank line 7 skipped, none lost
    for e in ds.train.examples:  # the tokenizer was fitted on these: each comes back exactly
        assert tok.decode(e.x.tolist()) == NAMES[e.meta["line"] - 1 - (e.meta["line"] > 7)]
    train_chars = {ch for e in ds.train.examples for ch in tok.decode(e.x.tolist())}
    assert set(tok.vocab.itos[4:]) == train_chars  # fitted on train only
    again = rnnkit.datasets.load(f"text:{path}", valid_fraction=0.2, test_fraction=0.2, seed=3)
    assert [e.meta for e in again.test.examples] == [e.meta for e in ds.test.examples]


def test_pieces_cut_the_whole_text_in_order(tmp_path) -> None:
    text = "the cat sat on the mat. " * 40
    path = tmp_path / "book.txt"
    path.write_text(text[:500] + "\n" + text[500:], encoding="utf-8")
    ds = rnnkit.datasets.load(f"text:{path}", chunk=50, valid_fraction=0.1, test_fraction=0.2)
    pieces = [e.x.tolist() for e in ds.train.examples + ds.valid.examples + ds.test.examples]
    assert all(p[0] == Vocab.bos_id and Vocab.eos_id not in p for p in pieces)
    assert all(len(p) == 51 for p in pieces[:-1]) and 2 < len(pieces[-1]) <= 51
    tok = ds.extras["tokenizer"]
    assert "".join(tok.decode(p) for p in pieces) == text[:500] + "\n" + text[500:]  # in order, nothing lost
    assert len(ds.test) == round(len(pieces) * 0.2)
    assert [e.meta["piece"] for e in ds.test.examples] == list(range(len(ds.test)))


def test_a_test_file_and_unknown_characters(tmp_path) -> None:
    train = write(tmp_path / "train.txt", NAMES)
    test = write(tmp_path / "test.txt", ["zoë"])
    ds = rnnkit.datasets.load(f"text:{train}", test=test, valid_fraction=0.0)
    assert len(ds.train) == len(NAMES) and len(ds.valid) == 0
    assert ds.test.examples[0].x.tolist().count(Vocab.unk_id) == 2  # z and ë, kept as <unk>
    assert ds.test.examples[0].meta == {"file": test, "line": 1}
    words = rnnkit.datasets.load(f"text:{train}", tokenizer="word", test=test, chunk=3)
    assert all(len(e.x) <= 4 for e in words.train.examples)


@pytest.mark.parametrize("content, options, error, message", [
    (b"", {}, DataFileError, "holds no text"),
    (b"\n  \n", {}, DataFileError, "holds no text"),
    (b"caf\xe9\n", {}, DataFileError, "not UTF-8"),
    (b"abc\n", {"chunk": 1}, ValueError, "chunk must be"),
    (b"abc\n", {"chunk": 2.5}, ValueError, "chunk must be"),
    (b"abcdef\n", {"chunk": 2, "valid_fraction": 0.5, "test_fraction": 0.9}, ValueError, "none to train"),
    (b"abc\n", {"lines": True}, TypeError, "takes no option 'lines'"),
])
def test_bad_files_and_options_are_named(tmp_path, content: bytes, options: dict, error: type, message: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(error, match=message) as caught:
        rnnkit.datasets.load(f"text:{path}", **options)
    if error is DataFileError:
        assert "bad.txt" in str(caught.value)
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        rnnkit.datasets.load(f"text:{tmp_path / 'missing.txt'}")


def test_a_language_model_learns_the_names_and_refuses_other_data(tmp_path) -> None:
    torch.manual_seed(0)
    ds = rnnkit.datasets.load(f"text:{write(tmp_path / 'names.txt', NAMES * 8)}", valid_fraction=0.0,
                              test_fraction=0.0)
    model = LanguageModel.from_dataset(ds, embed_dim=16, hidden_size=32)
    trainer = rnnkit.Trainer(epochs=30, lr=0.02, batch_size=32, progress=False)
    trainer.fit(model, ds)
    out = model.generate(torch.tensor([[Vocab.bos_id, *ds.extras["tokenizer"].encode("fen")]]))
    assert ds.extras["tokenizer"].decode(out.tokens[0, 0].tolist()) == "na"  # fen -> fenna, then eos
    with pytest.raises(ValueError, match="'gunpoint' is many-to-one .* use SequenceClassifier"):
        LanguageModel.from_dataset(rnnkit.datasets.load("gunpoint"))

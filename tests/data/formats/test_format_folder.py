"""folder: text files by class (aclImdb layout) round-trip; bad files are named."""

from __future__ import annotations

from pathlib import Path

import pytest

import rnnkit.datasets
from rnnkit.data.formats import DataFileError

TRAIN = {"pos": ["a great film", "loved it", "great fun", "wonderful acting", "great great"],
         "neg": ["a dull film", "hated it", "boring plot", "awful acting", "dull dull"]}


def make_tree(root: Path, split: str | None, docs: dict[str, list[str]]) -> None:
    for label, texts in docs.items():
        folder = root / split / label if split else root / label
        folder.mkdir(parents=True, exist_ok=True)
        for i, text in enumerate(texts):
            (folder / f"{i}_{len(text)}.txt").write_text(text, encoding="utf-8")


def test_aclimdb_layout_round_trip(tmp_path) -> None:
    make_tree(tmp_path, "train", TRAIN)
    make_tree(tmp_path, "train", {"unsup": ["no label here"]})  # aclImdb's unlabelled folder is skipped
    make_tree(tmp_path, "test", {"pos": ["great acting"], "neg": ["dull film", "terrible"]})
    ds = rnnkit.datasets.load(f"folder:{tmp_path}", valid_fraction=0.2, seed=0)
    assert ds.info.classes == ["neg", "pos"] and ds.info.shape == "many-to-one"
    assert ds.info.task == "classification" and ds.info.input_kind == "tokens"
    assert (len(ds.train), len(ds.valid), len(ds.test)) == (8, 2, 3)
    tok = ds.extras["tokenizer"]
    for e in ds.train.examples:
        path = Path(e.meta["file"])
        assert tok.decode(e.x.tolist()) == path.read_text()
        assert ds.info.classes[int(e.y)] == path.parent.name
    terrible = next(e for e in ds.test.examples if e.meta["file"].endswith("1_8.txt"))
    assert terrible.x.tolist() == [1]  # unseen word -> <unk>, never dropped
    assert ds.info.input_vocab == tok.vocab


def test_flat_layout_with_seeded_test_and_char_tokens(tmp_path) -> None:
    make_tree(tmp_path, None, TRAIN)
    a = rnnkit.datasets.load(f"folder:{tmp_path}", tokenizer="char", test_fraction=0.3, seed=2)
    b = rnnkit.datasets.load(f"folder:{tmp_path}", tokenizer="char", test_fraction=0.3, seed=2)
    assert [e.meta for e in a.test.examples] == [e.meta for e in b.test.examples]
    assert len(a.test) == 3 and len(a.train) + len(a.valid) == 7
    files = {e.meta["file"] for e in a.train.examples + a.valid.examples}
    assert files.isdisjoint(e.meta["file"] for e in a.test.examples)


def test_classes_option(tmp_path) -> None:
    make_tree(tmp_path, None, {**TRAIN, "neutral": ["ok", "fine"]})
    ds = rnnkit.datasets.load(f"folder:{tmp_path}", classes=["neg", "pos"], test_fraction=0.0)
    assert ds.info.classes == ["neg", "pos"] and len(ds.train) + len(ds.valid) == 10
    with pytest.raises(FileNotFoundError, match=r"no class folder\(s\) \['mixed'\]"):
        rnnkit.datasets.load(f"folder:{tmp_path}", classes=["mixed"])


def test_test_class_unseen_in_training(tmp_path) -> None:
    make_tree(tmp_path, "train", TRAIN)
    make_tree(tmp_path, "test", {"meh": ["so so"]})
    with pytest.raises(DataFileError, match="label 'meh' was not seen in the training data") as err:
        rnnkit.datasets.load(f"folder:{tmp_path}")
    assert "0_5.txt" in str(err.value)


def test_empty_and_undecodable_files(tmp_path) -> None:
    make_tree(tmp_path, None, TRAIN)
    (tmp_path / "pos" / "empty.txt").write_text("  \n")
    with pytest.raises(DataFileError, match="empty.txt, line 1: is empty"):
        rnnkit.datasets.load(f"folder:{tmp_path}")
    (tmp_path / "pos" / "empty.txt").write_bytes(b"fine\nthen \xff bad")
    with pytest.raises(DataFileError, match="empty.txt, line 2: is not valid utf-8"):
        rnnkit.datasets.load(f"folder:{tmp_path}")


def test_missing_folder(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        rnnkit.datasets.load(f"folder:{tmp_path / 'nowhere'}")

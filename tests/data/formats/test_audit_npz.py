"""Audit of npz: token ids outside the vocabulary, empty archives, fractional lengths, missing
labels and (N, 1) label columns are caught at load time, naming the array and the item."""

from __future__ import annotations

import numpy as np
import pytest

import rnnkit.datasets
from rnnkit.data.formats import DataFileError


def tokens(n: int = 20, top: int = 9) -> np.ndarray:
    return np.random.default_rng(0).integers(4, top + 1, size=(n, 6))


def test_token_ids_beyond_the_training_vocabulary_are_named(tmp_path) -> None:
    x, y = tokens(), np.arange(20) % 2
    x_test = tokens(4)
    x_test[0, 2] = 15
    path = tmp_path / "tok.npz"
    np.savez(path, x=x, y=y, x_test=x_test, y_test=y[:4])
    with pytest.raises(DataFileError, match=r"field 'x_test', item 0: token id 15 at step 2 is outside the "
                                            r"vocabulary of 10 ids.*vocab_size="):
        rnnkit.datasets.load(f"npz:{path}")
    ds = rnnkit.datasets.load(f"npz:{path}", vocab_size=16)
    assert len(ds.info.input_vocab) == 16 and int(ds.test.examples[0].x[2]) == 15
    with pytest.raises(DataFileError, match=r"field 'x', item \d+: token id 9 .* vocab_size=8"):
        rnnkit.datasets.load(f"npz:{path}", vocab_size=8)


def test_negative_token_ids_are_named(tmp_path) -> None:
    x = tokens(10)
    x[3, 1] = -1
    path = tmp_path / "neg.npz"
    np.savez(path, x=x, y=np.arange(10) % 2)
    with pytest.raises(DataFileError, match=r"field 'x', item 3: token id -1 at step 1 is negative"):
        rnnkit.datasets.load(f"npz:{path}")


def test_an_empty_archive_is_a_data_file_error(tmp_path) -> None:
    path = tmp_path / "empty.npz"
    np.savez(path, x=np.zeros((0, 5, 1)), y=np.zeros(0, dtype=np.int64))
    with pytest.raises(DataFileError, match=r"empty.npz, field 'x': x holds no sequences \(shape \(0, 5, 1\)\)"):
        rnnkit.datasets.load(f"npz:{path}")


def test_fractional_lengths_are_named(tmp_path) -> None:
    path = tmp_path / "lens.npz"
    x = np.random.default_rng(0).normal(size=(4, 5, 2))
    np.savez(path, x=x, y=np.array([0, 1, 0, 1]), lengths=np.array([5.0, 2.7, 1.0, 2.0]))
    with pytest.raises(DataFileError, match=r"field 'lengths', item 1: length 2.7 is not a whole number"):
        rnnkit.datasets.load(f"npz:{path}")
    np.savez(path, x=x, y=np.array([0, 1, 0, 1]), lengths=np.array([5.0, 2.0, 1.0, 2.0]))  # whole floats: fine
    ds = rnnkit.datasets.load(f"npz:{path}", valid_fraction=0.0, test_fraction=0.0)
    assert [len(e.x) for e in ds.train.examples] == [5, 2, 1, 2]


@pytest.mark.parametrize("y, shown", [
    (np.array(["a", "b"] * 4 + ["a", None], dtype=object), "None"),
    (np.array(["a", "b"] * 4 + ["a", np.nan], dtype=object), "nan"),
    (np.array(["a", "b"] * 4 + ["a", np.nan]), "'nan'"),  # NumPy writes NaN as 'nan' in a string array
])
def test_missing_labels_are_named(tmp_path, y: np.ndarray, shown: str) -> None:
    path = tmp_path / "y.npz"
    np.savez(path, x=np.random.default_rng(0).normal(size=(10, 5, 1)), y=y)
    with pytest.raises(DataFileError, match=rf"field 'y', item 9: missing label \({shown}\)"):
        rnnkit.datasets.load(f"npz:{path}", allow_pickle=True)


def test_a_label_column_of_shape_n_by_1_is_n_labels(tmp_path) -> None:
    path = tmp_path / "ycol.npz"
    y = (np.arange(10) % 2)[:, None]
    np.savez(path, x=np.random.default_rng(0).normal(size=(10, 5, 1)), y=y)
    ds = rnnkit.datasets.load(f"npz:{path}", valid_fraction=0.0, test_fraction=0.0)
    assert ds.info.task == "classification" and ds.info.classes == ["0", "1"]
    assert [int(e.y) for e in ds.train.examples] == y[:, 0].tolist()

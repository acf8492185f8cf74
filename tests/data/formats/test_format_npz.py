"""npz: padded, variable-length (object) and tagged arrays round-trip; bad arrays are named."""

from __future__ import annotations

import numpy as np
import pytest

import rnnkit.datasets
from rnnkit.data.formats import DataFileError


def test_padded_array_with_lengths_and_inner_test_split(tmp_path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 6, 3)).astype(np.float32)
    lengths = np.array([6, 5, 4, 3, 2, 6, 5, 4, 3, 2])
    x[1, 5:] = np.nan  # padding past a length is never read
    y = np.array(["b", "a"] * 5)
    path = tmp_path / "d.npz"
    np.savez(path, x=x, y=y, lengths=lengths, x_test=x[:2], y_test=y[:2], lengths_test=lengths[:2])
    ds = rnnkit.datasets.load(f"npz:{path}", valid_fraction=0.2)
    assert ds.info.classes == ["a", "b"] and ds.info.num_features == 3 and ds.info.task == "classification"
    assert (len(ds.train), len(ds.valid), len(ds.test)) == (8, 2, 2)
    for e in ds.train.examples + ds.valid.examples:
        i = e.meta["index"]
        assert np.array_equal(e.x.numpy(), x[i, : lengths[i]]) and ds.info.classes[int(e.y)] == y[i]


def test_object_arrays_need_allow_pickle_and_give_tagging(tmp_path) -> None:
    xs = np.empty(4, dtype=object)
    ys = np.empty(4, dtype=object)
    for i, n in enumerate([3, 1, 4, 2]):
        xs[i] = np.arange(n, dtype=np.int64) + 5  # token ids
        ys[i] = np.arange(n) % 2
    path = tmp_path / "tags.npz"
    np.savez(path, x=xs, y=ys)
    with pytest.raises(DataFileError, match="allow_pickle=True"):
        rnnkit.datasets.load(f"npz:{path}")
    ds = rnnkit.datasets.load(f"npz:{path}", allow_pickle=True, test_fraction=0.0, valid_fraction=0.0)
    assert ds.info.shape == "synced" and ds.info.task == "tagging" and ds.info.input_kind == "tokens"
    assert [e.x.tolist() for e in ds.train.examples] == [list(v) for v in xs]
    assert [e.y.tolist() for e in ds.train.examples] == [list(v) for v in ys]
    assert len(ds.info.input_vocab) == 9  # largest id 8, ids kept as they are


def test_regression_and_separate_test_file(tmp_path) -> None:
    np.savez(tmp_path / "tr.npz", x=np.ones((5, 4)), y=np.linspace(0, 1, 5))
    np.savez(tmp_path / "te.npz", x=np.zeros((2, 4)), y=np.array([0.1, 0.2]))
    ds = rnnkit.datasets.load(f"npz:{tmp_path / 'tr.npz'}", test=str(tmp_path / "te.npz"), valid_fraction=0.0)
    assert ds.info.task == "regression" and ds.info.num_features == 1 and len(ds.test) == 2
    assert ds.train.examples[0].x.shape == (4, 1) and float(ds.test.examples[1].y) == pytest.approx(0.2)


def test_unseen_test_label(tmp_path) -> None:
    np.savez(tmp_path / "tr.npz", x=np.ones((4, 3, 1)), y=np.array([0, 1, 0, 1]))
    np.savez(tmp_path / "te.npz", x=np.ones((2, 3, 1)), y=np.array([1, 2]))
    with pytest.raises(DataFileError, match="label '2' was not seen") as err:
        rnnkit.datasets.load(f"npz:{tmp_path / 'tr.npz'}", test=str(tmp_path / "te.npz"))
    assert "te.npz, field 'y', item 1:" in str(err.value)


@pytest.mark.parametrize("arrays, item, field, message", [
    ({"x": np.ones((3, 2, 1)), "y": np.ones(2)}, None, "y", "x has 3 items but y has 2"),
    ({"x": np.ones((3, 2, 1))}, None, "y", "has no array 'y'"),
    ({"x": np.array([[[1.0], [np.nan]], [[1.0], [2.0]]]), "y": np.zeros(2)}, 0, "x", "NaN or inf at step 1"),
    ({"x": np.ones((2, 2, 1)), "y": np.zeros(2), "lengths": np.array([2, 0])}, 1, "lengths", "outside 1..2"),
    ({"x": np.ones((2, 2, 1)), "y": np.array([0.5, np.nan])}, 1, "y", "NaN or inf target"),
])
def test_malformed_arrays(tmp_path, arrays, item, field, message) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataFileError, match=message) as err:
        rnnkit.datasets.load(f"npz:{path}", test_fraction=0.0, valid_fraction=0.0)
    where = f"{path}, field '{field}'" + ("" if item is None else f", item {item}")
    assert f"{where}: " in str(err.value)
    assert err.value.line is None and err.value.item == item


def test_a_file_that_is_no_npz_archive_is_named_as_such(tmp_path) -> None:
    path = tmp_path / "d.npz"
    path.write_text("x,y\n1,2\n")  # NumPy would read it as a pickle and ask for allow_pickle=True
    with pytest.raises(DataFileError, match="is not a NumPy .npz archive"):
        rnnkit.datasets.load(f"npz:{path}")

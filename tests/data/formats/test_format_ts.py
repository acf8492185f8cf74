"""ts: UCR/UEA .ts files (univariate, multivariate, variable length, missing values) round-trip."""

from __future__ import annotations

import numpy as np
import pytest

import rnnkit.datasets
from rnnkit.data.formats import DataFileError

HEADER = """# A small multivariate problem
@problemName Tiny
@timeStamps false
@missing true
@univariate false
@dimensions 2
@equalLength false
@classLabel true up down
@data
"""
CASES = ["1,2,3:4,5,6:up", "3,2:1,0:down", "0.5,1.5,2.5,3.5:1,1,1,1:up", "9,8,7:6,5,4:down"]


def write(path, body: list[str], header: str = HEADER) -> str:
    path.write_text(header + "\n".join(body) + "\n")
    return str(path)


def test_multivariate_variable_length_round_trip(tmp_path) -> None:
    train = write(tmp_path / "Tiny_TRAIN.ts", CASES)
    write(tmp_path / "Tiny_TEST.ts", ["7,7:1,2:down"])  # found beside the training file
    ds = rnnkit.datasets.load(f"ts:{train}", valid_fraction=0.25, seed=0)
    assert ds.info.name == "Tiny" and ds.info.classes == ["up", "down"]
    assert ds.info.shape == "many-to-one" and ds.info.task == "classification" and ds.info.num_features == 2
    assert (len(ds.train), len(ds.valid), len(ds.test)) == (3, 1, 1)
    assert ds.info.extra["min_length"] == 2 and ds.info.extra["max_length"] == 4
    for e in ds.train.examples + ds.valid.examples:
        *dims, label = CASES[e.meta["line"] - 10].split(":")  # the case is on file line 10 onwards
        expected = np.array([[float(v) for v in d.split(",")] for d in dims]).T  # (T, D)
        assert np.allclose(e.x.numpy(), expected) and e.x.dtype.is_floating_point
        assert ds.info.classes[int(e.y)] == label
    assert ds.test.examples[0].x.tolist() == [[7.0, 1.0], [7.0, 2.0]]


def test_regression_and_univariate(tmp_path) -> None:
    header = "@problemName Reg\n@univariate true\n@targetLabel true\n@data\n"
    path = write(tmp_path / "reg.ts", ["1,2,3:0.5", "2,3:1.5", "4,4,4,4:2.0"], header)
    ds = rnnkit.datasets.load(f"ts:{path}", test_fraction=0.0, valid_fraction=0.0)
    assert ds.info.task == "regression" and ds.info.classes is None and ds.info.num_features == 1
    assert [float(e.y) for e in ds.train.examples] == [0.5, 1.5, 2.0]


def test_missing_value_policies(tmp_path) -> None:
    path = write(tmp_path / "m.ts", ["1,?,3:4,5,6:up", "1,2,?,?:1,2,?,?:down", "1,2:3,4:up"])
    with pytest.raises(DataFileError, match="missing value '\\?' at step 1") as err:
        rnnkit.datasets.load(f"ts:{path}")
    assert f"{path}, line 10, field 'dimension 0'" in str(err.value)
    ds = rnnkit.datasets.load(f"ts:{path}", missing="interpolate", test_fraction=0.0, valid_fraction=0.0)
    assert ds.train.examples[0].x[:, 0].tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(DataFileError, match="line 10"):  # '?' inside a case is not trailing padding
        rnnkit.datasets.load(f"ts:{path}", missing="trim")
    trimmed = write(tmp_path / "t.ts", ["1,2,?,?:1,2,?,?:down", "1,2:3,4:up"])
    ds = rnnkit.datasets.load(f"ts:{trimmed}", missing="trim", test_fraction=0.0, valid_fraction=0.0)
    assert ds.train.examples[0].x.tolist() == [[1.0, 1.0], [2.0, 2.0]]


@pytest.mark.parametrize("bad, line, field, message", [
    ("1,2,x:4,5,6:up", 11, "dimension 0", "'x' is not a number"),
    ("1,2,3:4,5,6:sideways", 11, "label", "class label 'sideways' is not declared"),
    ("1,2,3:4,5:up", 11, "dimension 0", "dimensions have different lengths"),
    ("1,2,3:up", 11, "dimension 0", "1 dimensions, but the first case has 2"),
    (":1,2:up", 11, "dimension 0", "empty sequence"),
    ("1,2,3:4,-inf,6:up", 11, "dimension 1", "'-inf' at step 1 is not a finite number"),
])
def test_malformed_cases(tmp_path, bad: str, line: int, field: str, message: str) -> None:
    path = write(tmp_path / "bad.ts", ["1,2:3,4:up", bad])
    with pytest.raises(DataFileError, match=message) as err:
        rnnkit.datasets.load(f"ts:{path}")
    assert f"{path}, line {line}, field '{field}'" in str(err.value)


def test_bad_headers_and_unseen_test_label(tmp_path) -> None:
    no_data = tmp_path / "nodata.ts"
    no_data.write_text("@problemName X\n@classLabel true a b\n")
    with pytest.raises(DataFileError, match="has no @data line"):
        rnnkit.datasets.load(f"ts:{no_data}")
    stamps = write(tmp_path / "stamps.ts", ["(1,2):a"], "@timeStamps true\n@classLabel true a\n@data\n")
    with pytest.raises(DataFileError, match="line 1, field '@timeStamps'"):
        rnnkit.datasets.load(f"ts:{stamps}")
    train = write(tmp_path / "A_TRAIN.ts", CASES)
    test = write(tmp_path / "other.ts", ["1,2:3,4:left"], HEADER.replace("up down", "up down left"))
    with pytest.raises(DataFileError, match="label 'left' was not declared in the training") as err:
        rnnkit.datasets.load(f"ts:{train}", test=test)
    assert "other.ts, line 10" in str(err.value)

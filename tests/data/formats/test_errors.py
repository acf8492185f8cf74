"""DataFileError names the file, line and field, and survives pickling (a worker process's error)."""

from __future__ import annotations

import pickle

from rnnkit.data.formats import DataFileError


def test_the_message_names_the_place_and_the_error_survives_pickling():
    err = DataFileError("train.tsv", "no tab between source and target", line=3, field="target")
    assert str(err) == "train.tsv, line 3, field 'target': no tab between source and target"
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is DataFileError and str(back) == str(err)
    assert (back.path, back.line, back.field, back.message) == ("train.tsv", 3, "target", err.message)
    assert str(pickle.loads(pickle.dumps(DataFileError("x.csv", "empty")))) == "x.csv: empty"
    arrays = DataFileError("d.npz", "NaN or inf target", field="y", item=3)  # an array file: the item, not a line
    assert str(arrays) == "d.npz, field 'y', item 3: NaN or inf target"
    assert pickle.loads(pickle.dumps(arrays)).item == 3

"""``rnnkit.datasets.load`` names a bad name or option and lists what it takes, before reading data."""

from __future__ import annotations

import pytest

import rnnkit


def test_datasets_is_reachable_from_the_package():
    assert rnnkit.datasets.load is rnnkit.data.datasets.registry.load  # import rnnkit is enough
    assert callable(rnnkit.models.SequenceClassifier) and callable(rnnkit.decoding.greedy)


@pytest.mark.parametrize("name", [None, 3, ["gunpoint"]])
def test_name_must_be_a_string(name):
    with pytest.raises(TypeError, match="a data set name must be a str such as 'gunpoint' or 'csv:PATH'"):
        rnnkit.datasets.load(name)


def test_unknown_option_is_named_with_the_ones_it_takes():
    with pytest.raises(TypeError, match="data set 'addition' takes no option 'bogus'. Its options: digits, n_train"):
        rnnkit.datasets.load("addition", bogus=1)
    with pytest.raises(TypeError, match="takes no option 'valid_fracton'. Did you mean 'valid_fraction'?"):
        rnnkit.datasets.load("gunpoint", valid_fracton=0.1)
    with pytest.raises(TypeError, match="format 'conll' takes no option 'tagcolumn'. Did you mean 'tag_column'?"):
        rnnkit.datasets.load("conll:missing.conll", tagcolumn=1)


def test_an_option_of_the_wrong_type():
    with pytest.raises(TypeError, match=r"digits must be an int, got '3' \(str\)"):
        rnnkit.datasets.load("addition", digits="3")

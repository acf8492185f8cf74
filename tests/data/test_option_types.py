"""Loader options of the wrong type are refused with the option's name and what to pass (they failed
deep in the loader with a library's error, or a bool option took "yes" as true); ISO date strings, as
a YAML config gives them, are dates."""

from __future__ import annotations

import pytest

import rnnkit.datasets


def test_iso_date_strings_are_dates() -> None:
    ds = rnnkit.datasets.load("dates_iso", start="2000-01-01", end="2000-12-31", n_train=300, n_test=50)
    assert all(e.startswith("2000-") for e in ds.info.extra.get("range", []))
    with pytest.raises(TypeError, match="start must be a date, as YYYY-MM-DD"):
        rnnkit.datasets.load("dates_iso", start="january", n_train=30, n_test=5)


def test_a_seed_must_be_an_integer() -> None:
    with pytest.raises(TypeError, match=r"seed must be an int, got 'a' \(str\)"):
        rnnkit.datasets.load("gunpoint", seed="a")


def test_a_bool_option_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="reverse must be true or false, got 'yes'"):
        rnnkit.datasets.load("addition", reverse="yes")

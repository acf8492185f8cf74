"""``limit`` (``rnnkit train --limit N``) keeps a seeded, class-stratified random sample of each split, in
the split's order, and the same one in every load; it used to keep the first N, which in a data set
listed by class (japanese_vowels, basic_motions) is one class only."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import numpy as np
import pytest
import torch

import rnnkit.datasets
from rnnkit.cli.runspec import RunSpec, limit_indices, load_data

SPLITS = ("train", "valid", "test")


def _load(data: str, limit: int | dict[str, int], **options: Any) -> Any:
    return load_data(RunSpec(data=data, model="classifier", data_options=options, limit=limit))


def _key(example: Any) -> tuple[bytes, bytes]:
    return example.x.numpy().tobytes(), example.y.numpy().tobytes()


def _positions(kept: Any, full: Any) -> list[int]:
    """Where each kept example sits in the whole split (examples matched by input and target)."""
    where: dict[tuple[bytes, bytes], list[int]] = {}
    for i, e in enumerate(full.examples):
        where.setdefault(_key(e), []).append(i)
    found = [where.get(_key(e), []) for e in kept.examples]
    assert all(len(f) == 1 for f in found), "each kept example is one example of the whole split"
    return [f[0] for f in found]


def _classes(split: Any) -> Counter[int]:
    return Counter(int(e.y) for e in split.examples)


@pytest.fixture(scope="module")
def vowels() -> Any:
    """The whole japanese_vowels, which the tests only read: loaded once, not once a test."""
    return rnnkit.datasets.load("japanese_vowels")


def test_a_limited_class_sorted_split_keeps_more_than_one_class(vowels: Any) -> None:
    full = vowels
    first: Any = full.train.examples[:10]
    assert len({int(e.y) for e in first}) == 1  # listed by class: the first 10 are one class
    ds = _load("japanese_vowels", 10)
    assert ds.info.sizes == {"train": 10, "valid": 10, "test": 10}
    assert all(len(_classes(getattr(ds, s))) > 1 for s in SPLITS)


def test_a_limit_of_at_least_the_number_of_classes_keeps_every_class_in_its_share(vowels: Any) -> None:
    ds = _load("japanese_vowels", 20)
    full = vowels
    for split in SPLITS:
        kept, whole = _classes(getattr(ds, split)), _classes(getattr(full, split))
        assert set(kept) == set(whole), split  # all 9 classes
        total = sum(whole.values())
        # one each, then the other 11 in proportion to what each class has left: within one of its share
        for c, k in kept.items():
            assert abs((k - 1) - 11 * (whole[c] - 1) / (total - 9)) < 1, (split, c, k)


def test_the_same_spec_gives_the_same_examples_whatever_the_global_seeds(vowels: Any) -> None:
    loads = []
    for seed in (1, 2):
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        loads.append(_load("japanese_vowels", 16))
    first, second = loads
    for split in SPLITS:
        a, b = getattr(first, split).examples, getattr(second, split).examples
        assert len(a) == len(b) == 16
        assert all(torch.equal(x.x, y.x) and torch.equal(x.y, y.y) for x, y in zip(a, b)), split
    assert _positions(first.train, vowels.train) != list(range(16))  # a sample, not the first 16


def test_the_kept_examples_are_in_the_split_order(vowels: Any) -> None:
    ds, full = _load("japanese_vowels", 30), vowels
    for split in SPLITS:
        at = _positions(getattr(ds, split), getattr(full, split))
        assert at == sorted(at) and len(set(at)) == 30, split
        assert at[-1] >= 30, split  # drawn from the whole split


def test_a_limit_per_split_cuts_only_the_splits_it_names(vowels: Any) -> None:
    ds, full = _load("japanese_vowels", {"train": 12, "test": 5}), vowels
    assert ds.info.sizes == {"train": 12, "valid": len(full.valid), "test": 5}
    assert len(_classes(ds.train)) > 1 and len(_classes(ds.test)) > 1
    assert _positions(ds.valid, full.valid) == list(range(len(full.valid)))


def test_a_limit_over_a_split_size_keeps_that_split_whole() -> None:
    """``limit: {train: 1000, test: 20}`` on basic_motions (train 32, test 40): train as it was, test cut."""
    full = rnnkit.datasets.load("basic_motions")
    ds = _load("basic_motions", {"train": 1000, "valid": 8, "test": 20})
    assert ds.info.sizes == {"train": len(full.train), "valid": 8, "test": 20}
    assert _positions(ds.train, full.train) == list(range(len(full.train)))
    assert _positions(ds.valid, full.valid) == list(range(8))  # valid holds 8: the limit covers it
    assert set(_classes(ds.test)) == set(_classes(full.test))  # the test split is listed by class


def test_forecasting_windows_stay_in_time_order() -> None:
    ds = load_data(RunSpec(data="air_passengers", model="forecaster", limit=5))
    starts = [e.meta["start"] for e in ds.train.examples]
    assert len(starts) == 5 and starts == sorted(set(starts))
    assert starts[-1] > 4  # drawn from all 13 windows, not the first 5
    assert len(ds.valid) == len(ds.test) == 1  # one window each: kept


@pytest.mark.parametrize("size, n, labels", [
    (100, 10, [0] * 50 + [1] * 30 + [2] * 20),
    (100, 3, [2] * 98 + [0, 1]),
    (9, 2, [0] * 7 + [1, 2]),  # fewer than the classes: a plain sample
    (40, 7, None),
])
def test_limit_indices_is_a_sorted_sample_of_n_with_every_class_it_can_hold(size: int, n: int,
                                                                            labels: list[int] | None) -> None:
    kept = limit_indices(size, n, labels=labels, seed=(0, 1))
    assert len(kept) == n and kept == sorted(set(kept)) and kept[0] >= 0 and kept[-1] < size
    assert kept == limit_indices(size, n, labels=labels, seed=(0, 1))
    if labels is not None and n >= len(set(labels)):
        assert {labels[i] for i in kept} == set(labels)
    if labels == [0] * 50 + [1] * 30 + [2] * 20:
        assert Counter(labels[i] for i in kept) == {0: 5, 1: 3, 2: 2}
    assert limit_indices(size, size + 1, labels=labels) == list(range(size))


def test_a_run_trained_before_the_sample_keeps_its_first_examples_in_evaluate_and_resume(tmp_path,
                                                                                         vowels: Any) -> None:
    """A run.yaml with a limit and no limit_rule was written when limit kept the first N: evaluate and a
    resume read it that way (else they would score and train on other examples, silently, as the split
    sizes still matched). A new run saves its rule; asking for another on resume is refused."""
    import yaml

    from rnnkit.cli.main import CLIError, main
    from rnnkit.cli.runspec import open_run
    from rnnkit.cli.train import data_changes, saved_limit_rule

    run = tmp_path / "jv"
    assert main(["train", "--data", "japanese_vowels", "--model", "classifier", "--hidden", "4", "--epochs", "1",
                 "--limit", "20", "--out", str(run), "--no-progress", "--no-report"]) == 0
    saved = yaml.safe_load((run / "run.yaml").read_text(encoding="utf-8"))
    assert saved["limit"] == 20 and saved["limit_rule"] == "sample"
    assert open_run(run)[1].limit_rule == "sample" and saved_limit_rule(run) == "sample"

    del saved["limit_rule"]  # as rnnkit wrote it before
    (run / "run.yaml").write_text(yaml.safe_dump(saved), encoding="utf-8")
    spec = open_run(run)[1]
    assert spec.limit_rule == "first" and saved_limit_rule(run) == "first"
    kept = load_data(spec)
    assert [_key(e) for e in kept.test.examples] == [_key(e) for e in vowels.test.examples[:20]]
    # the same command with --resume takes the run's rule: no refusal, the first 20 again
    assert main(["train", "--data", "japanese_vowels", "--model", "classifier", "--hidden", "4", "--epochs", "2",
                 "--limit", "20", "--out", str(run), "--no-progress", "--no-report", "--resume"]) == 0
    resumed = RunSpec(data="japanese_vowels", model="classifier", limit=20, limit_rule="first")
    assert data_changes(resumed, run) == []
    asked = RunSpec(data="japanese_vowels", model="classifier", limit=20, limit_rule="sample")
    assert data_changes(asked, run) == ["limit_rule 'first' (now 'sample')"]
    with pytest.raises(CLIError, match="limit_rule must be one of sample, first"):
        from rnnkit.cli.runspec import spec_from_dict

        spec_from_dict({"data": "japanese_vowels", "model": "classifier", "limit": 5, "limit_rule": "last"}, "x.yaml")

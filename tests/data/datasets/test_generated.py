"""Generated sets: dates, number words, addition, moving digits, digit captions.

Each loads offline at its documented default size, is the same for the same seed, keeps test
items (days, numbers, operand pairs, digit images) out of training, and every target is checked
against an independent computation (babel, num2words, arithmetic, the digit images themselves).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest
import torch

import rnnkit.datasets
from rnnkit.data.batch import collate
from rnnkit.data.dataset import SequenceDataset
from rnnkit.data.datasets import digits

GENERATED = ["dates_iso", "number_words", "addition", "moving_digits", "digit_captions"]


@pytest.fixture(scope="module")
def loaded() -> dict[str, SequenceDataset]:
    return {name: rnnkit.datasets.load(name) for name in GENERATED}


def _meta(ds: SequenceDataset, split: str, key: str) -> list[Any]:
    return [e.meta[key] for e in getattr(ds, split)]


def _same(a: SequenceDataset, b: SequenceDataset) -> bool:
    pairs = [(x, y) for s in ("train", "valid", "test") for x, y in zip(getattr(a, s), getattr(b, s))]
    fields = ("x", "y", "cond")
    return a.info.sizes == b.info.sizes and all(
        (getattr(x, f) is None and getattr(y, f) is None) or torch.equal(getattr(x, f), getattr(y, f))
        for x, y in pairs for f in fields)


def test_default_sizes_registry_and_collate(loaded: dict[str, SequenceDataset]) -> None:
    infos = {i.name: i for i in rnnkit.datasets.list()}
    for name, ds in loaded.items():
        assert ds.info.sizes == infos[name].sizes, name
        assert infos[name].source and infos[name].license
        batch = collate(ds.test.examples[:8])
        assert batch.size == 8
        if ds.info.shape == "many-to-many":  # x without bos/eos, y ends with eos and has no bos
            vocab_in, vocab_out = ds.info.input_vocab, ds.info.output_vocab
            assert vocab_in is not None and vocab_out is not None
            for e in ds.train.examples[:200]:
                assert (e.x >= 4).all() and e.y[-1] == vocab_out.eos_id and (e.y[:-1] >= 4).all()


@pytest.mark.parametrize("name, options", [
    ("dates_iso", {"n_train": 300, "n_test": 50}),
    ("number_words", {"n_train": 200, "n_test": 20}),
    ("addition", {"n_train": 500, "n_test": 50}),
    ("moving_digits", {"n_train": 30, "n_test": 10}),
    ("digit_captions", {"n_train": 100, "n_test": 10}),
])
def test_reproducible_for_a_seed(name: str, options: dict[str, int]) -> None:
    a, b = rnnkit.datasets.load(name, seed=3, **options), rnnkit.datasets.load(name, seed=3, **options)
    assert _same(a, b)
    assert not _same(a, rnnkit.datasets.load(name, seed=4, **options))


def test_dates_disjoint_unambiguous_and_correct(loaded: dict[str, SequenceDataset]) -> None:
    from babel.dates import format_date

    ds = loaded["dates_iso"]
    train = set(_meta(ds, "train", "iso")) | set(_meta(ds, "valid", "iso"))
    test = set(_meta(ds, "test", "iso"))
    assert len(train) == 18000 + 2000 and len(test) == 2000 and not train & test
    target_of: dict[str, str] = {}
    for e in ds.train.examples + ds.valid.examples + ds.test.examples:
        assert target_of.setdefault(e.meta["text"], e.meta["iso"]) == e.meta["iso"]  # one reading per string
    assert {m for e in ds.test.examples for m in [e.meta["locale"]]} == set(ds.info.extra["locales"])
    vocab_in, vocab_out = ds.info.input_vocab, ds.info.output_vocab
    assert vocab_in is not None and vocab_out is not None
    for e in ds.test.examples[:100]:
        day = dt.date.fromisoformat(e.meta["iso"])
        assert format_date(day, format=e.meta["format"], locale=e.meta["locale"]) == e.meta["text"]
        assert "".join(vocab_out.decode(e.y.tolist())) == e.meta["iso"]
        assert "".join(vocab_in.decode(e.x.tolist())) == e.meta["text"]


def test_number_words_disjoint_and_correct(loaded: dict[str, SequenceDataset]) -> None:
    from num2words import num2words

    ds = loaded["number_words"]
    train = set(_meta(ds, "train", "number")) | set(_meta(ds, "valid", "number"))
    assert not train & set(_meta(ds, "test", "number")) and max(train) <= 9999
    vocab_in, vocab_out = ds.info.input_vocab, ds.info.output_vocab
    assert vocab_in is not None and vocab_out is not None
    for e in ds.test.examples[:50]:
        assert "".join(vocab_in.decode(e.x.tolist())) == num2words(e.meta["number"], lang="en")
        assert "".join(vocab_out.decode(e.y.tolist())) == num2words(e.meta["number"], lang="fr")
    to_digits = rnnkit.datasets.load("number_words", source="de", target="digits", n_train=100, n_test=10)
    for e in to_digits.test.examples:
        assert "".join(to_digits.info.output_vocab.decode(e.y.tolist())) == str(e.meta["number"])  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="not a num2words language"):
        rnnkit.datasets.load("number_words", target="klingon")


def test_addition_disjoint_pairs_and_correct_sums(loaded: dict[str, SequenceDataset]) -> None:
    ds = loaded["addition"]
    key = lambda e: (min(e.meta["a"], e.meta["b"]), max(e.meta["a"], e.meta["b"]))  # noqa: E731
    train = {key(e) for e in ds.train.examples + ds.valid.examples}
    test = {key(e) for e in ds.test.examples}
    assert len(train) == 50000 and len(test) == 5000 and not train & test
    vocab_in, vocab_out = ds.info.input_vocab, ds.info.output_vocab
    assert vocab_in is not None and vocab_out is not None
    for e in ds.test.examples:
        a, b = e.meta["a"], e.meta["b"]
        assert max(a, b) < 1000
        assert "".join(vocab_in.decode(e.x.tolist())) == f"{a}+{b}"
        assert "".join(vocab_out.decode(e.y.tolist())) == str(a + b)
    rev = rnnkit.datasets.load("addition", reverse=True, n_train=100, n_test=10)
    e = rev.test[0]
    assert "".join(rev.info.input_vocab.decode(e.x.tolist())) == f"{e.meta['a']}+{e.meta['b']}"[::-1]  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="distinct pairs"):
        rnnkit.datasets.load("addition", digits=1, n_train=100, n_test=10)


def test_addition_test_split_is_drawn_like_train(loaded: dict[str, SequenceDataset]) -> None:
    """Pairs with a 1-digit operand are few, so deduplication crowds them into the first draws; the
    pairs are shuffled before test is split off, so test holds as many of them as train does."""
    ds = loaded["addition"]

    def short_share(examples: list) -> float:
        return sum(min(e.meta["a"], e.meta["b"]) < 10 for e in examples) / len(examples)

    assert abs(short_share(ds.test.examples) - short_share(ds.train.examples)) < 0.03


def test_digit_images_match_scikit_learn_and_pools_are_disjoint() -> None:
    from sklearn.datasets import load_digits

    images, labels = digits.read_digits()
    reference = load_digits()
    np.testing.assert_allclose(images, reference.images / 16.0)
    np.testing.assert_array_equal(labels, reference.target)
    train_pool, test_pool = digits.image_pools()
    assert len(train_pool) + len(test_pool) == 1797 and not set(train_pool) & set(test_pool)


def test_one_to_one_digits_are_single_images_with_the_shared_test_pool() -> None:
    ds = rnnkit.datasets.load("digits")
    images, labels = digits.read_digits()
    _, test_pool = digits.image_pools()
    assert ds.info.shape == "one-to-one" and ds.info.sizes == {"train": 1294, "valid": 144, "test": 359}
    assert sorted(e.meta["image"] for e in ds.test) == sorted(test_pool.tolist())
    seen = {e.meta["image"] for e in ds.train.examples + ds.valid.examples}
    assert not seen & set(test_pool.tolist()) and len(seen) == 1797 - len(test_pool)
    for e in ds.test.examples[:50]:
        np.testing.assert_array_equal(e.x.numpy(), images[e.meta["image"]].reshape(-1))  # type: ignore[union-attr]
        assert int(e.y) == labels[e.meta["image"]]  # type: ignore[arg-type]


def _contains(frame: np.ndarray, image: np.ndarray) -> bool:
    side = frame.shape[0]
    return any(np.array_equal(frame[r:r + 8, c:c + 8], image) for r in range(side - 7) for c in range(side - 7))


def test_moving_digits_frames_show_their_label_and_test_images_are_unseen(
        loaded: dict[str, SequenceDataset]) -> None:
    ds = loaded["moving_digits"]
    images, labels = digits.read_digits()
    train_images = {i for e in ds.train.examples + ds.valid.examples for i in e.meta["images"]}
    test_images = {i for e in ds.test.examples for i in e.meta["images"]}
    assert not train_images & test_images
    assert test_images <= set(digits.image_pools()[1].tolist())
    for e in ds.train.examples[:20] + ds.test.examples[:20]:
        assert 16 <= len(e.x) <= 32 and e.x.shape[1] == 256 and e.y.shape == (len(e.x),)
        frames = e.x.numpy().reshape(-1, 16, 16)
        shown = iter(e.meta["images"])
        image = next(shown)
        for t, label in enumerate(e.y.tolist()):
            if t and label != e.y[t - 1]:  # the digit switched: the next image in meta takes over
                image = next(shown)
            assert labels[image] == label and _contains(frames[t], images[image])
    assert len(set(ds.train[0].y.tolist())) > 1  # digits switch within a video


def test_digit_captions_match_images_and_test_images_are_unseen(loaded: dict[str, SequenceDataset]) -> None:
    ds = loaded["digit_captions"]
    images, labels = digits.read_digits()
    assert ds.info.cond_shape == (1, 8, 32) and ds.info.output_vocab is not None
    train_images = {i for e in ds.train.examples + ds.valid.examples for i in e.meta["images"]}
    assert not train_images & {i for e in ds.test.examples for i in e.meta["images"]}
    counts = set()
    for e in ds.train.examples[:300] + ds.test.examples[:300]:
        assert e.x is None and e.cond is not None and e.cond.shape == (1, 8, 32)
        k = len(e.meta["images"])
        counts.add(k)
        for i, row in enumerate(e.meta["images"]):
            assert torch.equal(e.cond[0, :, 8 * i: 8 * i + 8], torch.from_numpy(images[row]))
        assert (e.cond[0, :, 8 * k:] == 0).all()
        caption = ds.info.output_vocab.decode(e.y.tolist())
        assert caption == [digits.WORDS[labels[row]] for row in e.meta["images"]]
        assert e.y[-1] == ds.info.output_vocab.eos_id
    assert counts == {1, 2, 3, 4}


def _images(split: Any) -> set[int]:
    """The digit images (row indices) that a split's examples are made of."""
    return {i for e in split.examples for i in e.meta["images"]}


def _assert_valid_images_held_out(ds: SequenceDataset, fraction: float) -> set[int]:
    """Valid is made only of held-out training-pool images and train only of the rest; returns
    valid's images."""
    train_pool, _ = digits.image_pools()
    train_images, valid_images = _images(ds.train), _images(ds.valid)
    assert not train_images & valid_images
    assert train_images | valid_images <= set(train_pool.tolist())
    assert len(valid_images) <= ds.info.extra["valid_images"] == round(fraction * len(train_pool))
    return valid_images


def test_digit_captions_valid_images_makes_valid_image_disjoint_and_keeps_test(
        loaded: dict[str, SequenceDataset]) -> None:
    """``valid_images``: valid captions only from held-out training images, train only from the
    rest; the test images and captions are exactly those of the default (valid_images 0)."""
    default = loaded["digit_captions"]
    ds = rnnkit.datasets.load("digit_captions", valid_images=0.1)
    _, test_pool = digits.image_pools()
    valid_images = _assert_valid_images_held_out(ds, 0.1)
    assert ds.info.sizes == default.info.sizes == {"train": 9000, "valid": 1000, "test": 1000}
    assert len(ds.test) == len(default.test)
    for a, b in zip(ds.test.examples, default.test.examples):
        assert torch.equal(a.cond, b.cond) and torch.equal(a.y, b.y) and a.meta == b.meta
    assert _images(ds.test) <= set(test_pool.tolist())
    # the default keeps today's carve: valid captions reuse training images
    default_train = _images(default.train)
    assert _images(default.valid) <= default_train
    # the held-out images depend on the seed; other seeds keep their own test too
    other = rnnkit.datasets.load("digit_captions", valid_images=0.1, seed=1, n_train=500, n_test=50)
    other_default = rnnkit.datasets.load("digit_captions", seed=1, n_train=500, n_test=50)
    assert all(torch.equal(a.cond, b.cond) for a, b in zip(other.test.examples, other_default.test.examples))
    assert _images(other.valid) != valid_images
    with pytest.raises(ValueError, match="valid_images"):
        rnnkit.datasets.load("digit_captions", valid_images=1.0)


def test_moving_digits_valid_images_makes_valid_image_disjoint_and_keeps_test() -> None:
    """``valid_images`` for the videos: valid only from held-out training images, train only from the
    rest; test is exactly the default's, and the default itself is unchanged (valid reuses images)."""
    options = {"n_train": 300, "n_test": 40}
    default = rnnkit.datasets.load("moving_digits", **options)
    ds = rnnkit.datasets.load("moving_digits", valid_images=0.2, **options)
    _, test_pool = digits.image_pools()
    _assert_valid_images_held_out(ds, 0.2)
    assert ds.info.sizes == default.info.sizes == {"train": 270, "valid": 30, "test": 40}
    for a, b in zip(ds.test.examples, default.test.examples, strict=True):
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and a.meta == b.meta
    assert _images(ds.test) <= set(test_pool.tolist())
    default_train = _images(default.train)
    assert _images(default.valid) & default_train
    with pytest.raises(ValueError, match="valid_images"):
        rnnkit.datasets.load("moving_digits", valid_images=1.0, **options)

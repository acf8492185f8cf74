"""Sequences built from scikit-learn's real 8x8 handwritten digits (``load_digits``: 1,797 scans).

- ``digits`` (one-to-one): one image (64 pixels) -> its digit; the baseline every sequence shape
  extends.
- ``moving_digits`` (synchronous many-to-many): short videos of a digit drifting over a canvas
  and bouncing off its edges; at random times another digit (of another class) takes its place.
  Every frame is labelled with the digit it shows.
- ``digit_captions`` (one-to-many): 1-4 digits side by side in one image -> the caption
  ``"seven one four"``.

The 1,797 images are split once, with a fixed seed, into a training pool and a test pool (20%):
test sequences are built only from test images, so a model is scored on handwriting it has
never seen. The images are read from the CSV inside the scikit-learn wheel
(``sklearn/datasets/data/digits.csv.gz``) without importing scikit-learn, which takes seconds.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from rnnkit.data.batch import Example
from rnnkit.data.dataset import DatasetInfo, SequenceDataset, valid_count
from rnnkit.data.datasets.registry import register
from rnnkit.data.datasets.shipped import (
    ShippedDataError,
    check_fraction,
    check_positive,
    make_dataset,
    make_splits,
    package_file,
)
from rnnkit.data.vocab import Vocab

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
TEST_IMAGE_FRACTION = 0.2
_IMAGE_SPLIT_SEED = 1797
_HELD_OUT_SALT = 6  # with the data seed, picks the training images held out for valid (valid_images)
_SOURCE = ("scikit-learn (sklearn/datasets/data/digits.csv.gz): the UCI 'Optical Recognition of "
           "Handwritten Digits' test set, 1,797 8x8 images by 43 writers (Alpaydin & Kaynak 1998)")
_LICENSE = "scikit-learn BSD-3-Clause; UCI ML Repository data set under CC BY 4.0"

DIGITS_INFO = DatasetInfo(
    name="digits",
    shape="one-to-one",
    task="classification",
    input_kind="vector",
    description="One 8x8 image of a real handwritten digit (64 pixels in [0, 1]) -> the digit.",
    num_features=64,
    classes=[str(d) for d in range(10)],
    sizes={"train": 1294, "valid": 144, "test": 359},
    source=_SOURCE,
    license=_LICENSE,
    metric="accuracy",
)

MOVING_INFO = DatasetInfo(
    name="moving_digits",
    shape="synced",
    task="tagging",
    input_kind="features",
    description="Videos (16-32 frames of a 16x16 canvas, flattened) of real handwritten digits that "
                "drift and switch; a digit label for every frame.",
    num_features=256,
    classes=[str(d) for d in range(10)],
    sizes={"train": 1800, "valid": 200, "test": 400},
    source=_SOURCE,
    license=_LICENSE,
    metric="per_frame_accuracy",
)

CAPTION_INFO = DatasetInfo(
    name="digit_captions",
    shape="one-to-many",
    task="generation",
    input_kind="image",
    description="An 8x32 image of 1-4 real handwritten digits side by side -> its caption "
                "('seven one four').",
    output_vocab=Vocab(WORDS),
    cond_shape=(1, 8, 32),
    sizes={"train": 9000, "valid": 1000, "test": 1000},
    source=_SOURCE,
    license=_LICENSE,
    metric="exact_match",
)


@lru_cache(maxsize=1)
def read_digits() -> tuple[np.ndarray, np.ndarray]:
    """``(1797, 8, 8)`` float32 images scaled to [0, 1] and ``(1797,)`` int64 labels."""
    path = package_file("sklearn", "datasets", "data", "digits.csv.gz")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        rows = f.read().splitlines()
    values = np.zeros((len(rows), 65), dtype=np.float32)
    for lineno, row in enumerate(rows, 1):
        fields = row.split(",")
        if len(fields) != 65:
            raise ShippedDataError(f"{path}:{lineno}: {len(fields)} fields, expected 64 pixels and a label")
        try:
            values[lineno - 1] = [float(v) for v in fields]
        except ValueError as e:
            raise ShippedDataError(f"{path}:{lineno}: {e}") from e
    return values[:, :64].reshape(-1, 8, 8) / 16.0, values[:, 64].astype(np.int64)


def image_pools() -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the training images and of the disjoint test images (fixed for everyone)."""
    _, labels = read_digits()
    order = np.random.default_rng(_IMAGE_SPLIT_SEED).permutation(len(labels))
    n_test = int(round(len(labels) * TEST_IMAGE_FRACTION))
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def make_video(rng: np.random.Generator, pool: np.ndarray, *, length: int, canvas: int,
               min_segment: int, max_segment: int) -> Example:
    """One video: ``x`` (T, canvas*canvas) float32, ``y`` (T,) digit per frame; ``meta["images"]``."""
    images, labels = read_digits()
    room = canvas - 8  # top-left positions 0..room
    frames = np.zeros((length, canvas, canvas), dtype=np.float32)
    y = np.zeros(length, dtype=np.int64)
    used: list[int] = []
    (r, c), (vr, vc) = rng.integers(0, room + 1, size=2).tolist(), rng.integers(-1, 2, size=2).tolist()
    t, image = 0, -1
    while t < length:
        choices = pool if image < 0 else pool[labels[pool] != labels[image]]
        image = int(rng.choice(choices))
        used.append(image)
        stop = min(length, t + int(rng.integers(min_segment, max_segment + 1)))
        y[t:stop] = labels[image]
        for step in range(t, stop):
            frames[step, r:r + 8, c:c + 8] = images[image]
            vr, vc = (-vr if not 0 <= r + vr <= room else vr), (-vc if not 0 <= c + vc <= room else vc)
            r, c = min(max(r + vr, 0), room), min(max(c + vc, 0), room)
        t = stop
    return Example(x=torch.from_numpy(frames.reshape(length, -1)), y=torch.from_numpy(y), meta={"images": used})


def held_out_split(make: Callable[[int, np.ndarray, np.random.Generator], list[Example]], train_pool: np.ndarray,
                   n_train: int, valid_fraction: float, valid_images: float, seed: int,
                   extra: dict[str, Any]) -> tuple[list[Example], list[Example]]:
    """(train, valid) items for ``valid_images`` > 0: that share of the training-pool images is held
    out (drawn with ``seed`` from a stream of its own, so test stays as it is), valid items are made
    by ``make(n, pool, rng)`` from those images only and train items from the rest; ``extra`` gets
    both image counts."""
    held_rng = np.random.default_rng([seed, _HELD_OUT_SALT])
    n_held = min(len(train_pool) - 1, max(1, int(round(len(train_pool) * valid_images))))
    held = np.sort(held_rng.permutation(train_pool)[:n_held])
    kept = np.setdiff1d(train_pool, held)
    n_valid = valid_count(n_train, valid_fraction)
    fit = make(n_train - n_valid, kept, held_rng)
    valid = make(n_valid, held, held_rng)
    extra.update(valid_images=len(held), train_images=len(kept))
    return fit, valid


@register(MOVING_INFO)
def load_moving_digits(
    *,
    n_train: int = 2000,
    n_test: int = 400,
    min_length: int = 16,
    max_length: int = 32,
    canvas: int = 16,
    min_segment: int = 4,
    max_segment: int = 12,
    valid_fraction: float = 0.1,
    valid_images: float = 0.0,
    seed: int = 0,
) -> SequenceDataset:
    """Generate videos of moving, switching handwritten digits.

    Args:
        n_train, n_test: videos; test videos use only test-pool images.
        min_length, max_length: frames per video, drawn uniformly (variable length).
        canvas: side of the square frame; 8 keeps the digit still (a frame is the 64 pixels).
        min_segment, max_segment: frames a digit stays before another digit replaces it.
        valid_fraction: share of the ``n_train`` videos that form valid.
        valid_images: 0 (the default): valid is a random carve of the training videos, so its
            digit images are training images too, and valid accuracy saturates (1.0 by epoch 20-30
            with the recipe) while test, on unseen images, scores about 0.98. Above 0: that share
            of the training-pool images is held out (chosen with ``seed``), valid videos are made
            only from them and train videos only from the rest, so valid measures what test
            measures. Test (its images and videos) is the same either way for the same ``seed``.
        seed: fixes the videos, the valid carve and the held-out images (the image pools are fixed
            for everyone).

    Returns:
        ``x`` (T, canvas**2) float32 in [0, 1], ``y`` (T,) int64 digit per frame.
    """
    for name, value in (("n_train", n_train), ("n_test", n_test), ("min_length", min_length),
                        ("min_segment", min_segment)):
        check_positive(name, value)
    if max_length < min_length or max_segment < min_segment:
        raise ValueError(f"need min <= max, got length {min_length}..{max_length}, "
                         f"segment {min_segment}..{max_segment}")
    if canvas < 8:
        raise ValueError(f"canvas must be >= 8 (a digit is 8x8), got {canvas}")
    check_fraction("valid_images", valid_images)
    train_pool, test_pool = image_pools()
    rng = np.random.default_rng(seed)

    def videos(n: int, pool: np.ndarray, rng: np.random.Generator = rng) -> list[Example]:
        return [make_video(rng, pool, length=int(rng.integers(min_length, max_length + 1)), canvas=canvas,
                           min_segment=min_segment, max_segment=max_segment) for _ in range(n)]

    # the training videos are drawn first in every mode, so the random stream that then draws the
    # test videos (and so test itself) does not depend on valid_images
    train = videos(n_train, train_pool)
    test = videos(n_test, test_pool)
    extra: dict[str, Any] = {"canvas": canvas, "lengths": [min_length, max_length], "test_images": len(test_pool),
                             "train_images": len(train_pool)}
    if valid_images <= 0:
        return make_dataset(MOVING_INFO, train, test, valid_fraction=valid_fraction, seed=seed,
                            num_features=canvas * canvas, extra=extra)
    fit, valid = held_out_split(videos, train_pool, n_train, valid_fraction, valid_images, seed, extra)
    return make_splits(MOVING_INFO, fit, valid, test, num_features=canvas * canvas, extra=extra)


@register(CAPTION_INFO)
def load_digit_captions(
    *, n_train: int = 10000, n_test: int = 1000, max_digits: int = 4, valid_fraction: float = 0.1,
    valid_images: float = 0.0, seed: int = 0
) -> SequenceDataset:
    """Generate images of 1..``max_digits`` handwritten digits side by side with their captions.

    Args:
        n_train, n_test: captions; test captions use only test-pool images.
        valid_fraction: share of the ``n_train`` captions that form valid.
        valid_images: 0 (the default): valid is a random carve of the training captions, so its
            images are training images too. Above 0: that share of the training-pool images is held
            out (chosen with ``seed``) and valid captions are built only from them, train captions
            only from the rest, so valid scores images the model has not trained on, as test does.
            Test (its images and captions) is the same either way for the same ``seed``.
        seed: fixes the captions, the valid carve and the held-out images (the image pools are
            fixed for everyone).

    Returns:
        ``x`` None, ``cond`` (1, 8, 8*max_digits) float32 (digits from the left, zeros after),
        ``y`` (k+1,) word ids of the caption then ``<eos>``; ``meta["images"]``, ``meta["digits"]``.
    """
    for name, value in (("n_train", n_train), ("n_test", n_test), ("max_digits", max_digits)):
        check_positive(name, value)
    check_fraction("valid_images", valid_images)
    images, labels = read_digits()
    vocab = Vocab(WORDS)
    rng = np.random.default_rng(seed)
    train_pool, test_pool = image_pools()

    def captions(n: int, pool: np.ndarray, rng: np.random.Generator = rng) -> list[Example]:
        out = []
        for _ in range(n):
            chosen = rng.choice(pool, size=int(rng.integers(1, max_digits + 1)))
            cond = np.zeros((1, 8, 8 * max_digits), dtype=np.float32)
            for i, row in enumerate(chosen):
                cond[0, :, 8 * i: 8 * i + 8] = images[row]
            digits = [int(labels[row]) for row in chosen]
            y = torch.tensor(vocab.encode([WORDS[d] for d in digits], eos=True), dtype=torch.int64)
            out.append(Example(x=None, y=y, cond=torch.from_numpy(cond),
                               meta={"images": [int(r) for r in chosen], "digits": digits}))
        return out

    # the training captions are drawn first in every mode, so the random stream that then draws
    # the test captions (and so test itself) does not depend on valid_images
    train = captions(n_train, train_pool)
    test = captions(n_test, test_pool)
    extra: dict[str, Any] = {"max_digits": max_digits}
    if valid_images <= 0:
        return make_dataset(CAPTION_INFO, train, test, valid_fraction=valid_fraction, seed=seed,
                            output_vocab=vocab, cond_shape=(1, 8, 8 * max_digits), extra=extra)
    fit, valid = held_out_split(captions, train_pool, n_train, valid_fraction, valid_images, seed, extra)
    return make_splits(CAPTION_INFO, fit, valid, test, output_vocab=vocab, cond_shape=(1, 8, 8 * max_digits),
                       extra=extra)


@register(DIGITS_INFO)
def load_digits(*, valid_fraction: float = 0.1, seed: int = 0) -> SequenceDataset:
    """The 1,797 digit images one by one: ``x`` (64,) float32, ``y`` the digit; the test images are
    the fixed test pool shared with ``moving_digits`` and ``digit_captions``."""
    images, labels = read_digits()
    train_pool, test_pool = image_pools()

    def examples(rows: np.ndarray) -> list[Example]:
        return [Example(x=torch.from_numpy(images[i].reshape(-1)), y=torch.tensor(int(labels[i])),
                        meta={"image": int(i)}) for i in rows]

    return make_dataset(DIGITS_INFO, examples(train_pool), examples(test_pool), valid_fraction=valid_fraction,
                        seed=seed)

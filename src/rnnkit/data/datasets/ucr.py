"""UCR/UEA time-series classification sets (many-to-one), read from the ``.ts`` files aeon ships.

aeon keeps a handful of archive problems inside its wheel (``aeon/datasets/data/<Name>/``). They
are read here with rnnkit's own ``.ts`` parser (:func:`rnnkit.data.formats.ucr.read_ts`, the
``ts:`` format) straight from that folder, found without importing aeon (importing it costs
seconds per process); aeon's ``load_classification`` is never called, because it may download.
``?`` padding at the end of a case (how the archive pads unequal lengths) is trimmed. JapaneseVowels
is read from the raw variable-length files (7–29 steps), not the ``_eq`` resampled ones: rnnkit
pads and masks itself.

Each item becomes ``Example(x=(T, C) float32, y=() int64 class index)``, classes in the order the
file header lists them. The archive's train/test split is kept; ``valid`` is carved from train
only, stratified by class with ``seed`` (``valid_fraction=0`` keeps all of train, for recipes that
train a fixed number of epochs). Values are left as the archive gives them (the UCR univariate
problems are already z-normalised per series); fit a scaler on ``train`` if a model needs one.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit.data.batch import Example
from rnnkit.data.dataset import DatasetInfo, ExampleList, PublishedResult, SequenceDataset
from rnnkit.data.datasets.registry import register
from rnnkit.data.datasets.shipped import ShippedDataError, package_file
from rnnkit.data.formats.errors import DataFileError
from rnnkit.data.formats.ucr import read_ts

_MEASURED = "aeon MiniRocket, measured by the rnnkit team"
_FAWAZ19 = "Fawaz et al. 2019, Deep learning for time series classification: a review (DMKD)"
_FAWAZ20 = "Fawaz et al. 2020, InceptionTime: Finding AlexNet for time series classification (DMKD)"
_KARIM18 = "Karim et al. 2018, LSTM fully convolutional networks for time series classification (IEEE Access)"
_KARIM19 = "Karim et al. 2019, Multivariate LSTM-FCNs for time series classification (Neural Networks)"
_ROCKET = "Dempster et al. 2020, ROCKET: exceptionally fast and accurate time series classification (DMKD)"
_RUIZ21 = "Ruiz et al. 2021, The great multivariate time series classification bake off (DMKD)"

_UCR_LICENSE = ("aeon package: BSD-3-Clause. Data: UCR Time Series Classification Archive (Dau et al. "
                "2019), free for research use; cite the archive and the data donors")
_UEA_LICENSE = ("aeon package: BSD-3-Clause. Data: UEA Multivariate Time Series Classification Archive "
                "(Bagnall et al. 2018), free for research use; cite the archive and the data donors")


def _acc(model: str, value: float, source: str, note: str = "") -> PublishedResult:
    return PublishedResult(model=model, metric="accuracy", value=value, source=source, note=note)


def _info(name: str, problem: str, *, description: str, channels: int, lengths: tuple[int, int],
          classes: list[str], train: int, test: int, license: str, origin: str,
          published: list[PublishedResult]) -> DatasetInfo:
    return DatasetInfo(
        name=name, shape="many-to-one", task="classification", input_kind="features",
        description=description, num_features=channels, classes=classes,
        sizes={"train": train, "test": test},
        source=f"aeon (aeon/datasets/data/{problem}/{problem}_TRAIN.ts, _TEST.ts); {origin}",
        license=license, metric="accuracy", published=published,
        extra={"problem": problem, "channels": channels, "min_length": lengths[0],
               "max_length": lengths[1]},
    )


@functools.lru_cache(maxsize=8)
def _read_ts(problem: str, split: str) -> tuple[list[np.ndarray], np.ndarray, list[str], Path]:
    """(series as (C, T) arrays, labels, class names from the header, path) of one shipped file, parsed
    once per process (the files ship inside a package: they do not change; JapaneseVowels' parse costs
    about half a second). Callers copy what they keep (:func:`_examples`)."""
    path = package_file("aeon", "datasets", "data", problem, f"{problem}_{split}.ts")
    try:
        ts = read_ts(path, missing="trim")
    except DataFileError as e:  # already names the file, line and field
        raise ShippedDataError(str(e)) from e
    series = [np.asarray(values.T, dtype=np.float32) for values, _, _ in ts.cases]  # (T, C) -> (C, T)
    # lower case, as the registered class names (and aeon's reader): BasicMotions' header says "Standing"
    labels = [label.lower() for _, label, _ in ts.cases]
    classes = [c.lower() for c in ts.class_labels] if ts.class_labels else sorted(set(labels))
    return series, np.asarray(labels, dtype=str), classes, path


def _examples(series: list[np.ndarray], labels: np.ndarray, classes: list[str], path: Path,
              split: str) -> list[Example]:
    index = {c: i for i, c in enumerate(classes)}
    out = []
    for i, (x, label) in enumerate(zip(series, labels)):
        if label not in index:
            raise ShippedDataError(f"{path}: case {i + 1}: class label {label!r} is not in the header's "
                                   f"@classLabel list {classes}")
        if x.shape[1] == 0 or np.isnan(x).any():
            raise ShippedDataError(f"{path}: case {i + 1}: empty series or missing values")
        out.append(Example(x=torch.from_numpy(np.array(x.T, order="C")),  # (T, C), a copy: x is _read_ts's
                           y=torch.tensor(index[label], dtype=torch.int64),
                           meta={"split": split, "index": i}))
    return out


def stratified_valid(labels: list[int], valid_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices (train, valid): a seeded split of ``labels`` that keeps the class proportions.

    ``round(valid_fraction * n)`` examples (at least one per class) go to valid. The draw is
    scikit-learn's ``train_test_split(stratify=labels, random_state=seed)`` (its StratifiedShuffleSplit),
    done here in numpy: the same indices (tests/data/test_stratified_valid.py compares them), without
    the 1.7 s a process spent importing ``sklearn.model_selection``, and without a change of split
    should a later scikit-learn draw differently.
    """
    if not 0.0 <= valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must be in [0, 1), got {valid_fraction}")
    idx = list(range(len(labels)))
    if valid_fraction == 0.0:
        return idx, []
    classes, of_class, counts = np.unique(np.asarray(labels), return_inverse=True, return_counts=True)
    n_valid = max(len(classes), int(round(valid_fraction * len(labels))))
    n_train = len(labels) - n_valid
    if counts.min() < 2 or n_train < len(classes):
        few = [int(c) for c in classes[counts < 2]]
        raise ValueError(f"a stratified valid split of {len(labels)} examples ({n_valid} to valid) needs two or "
                         f"more of each of the {len(classes)} classes and one of each left to train"
                         + (f"; classes {few} have one" if few else "")
                         + ": pass valid_fraction=0 (train on all of it) or a smaller fraction")
    rng = np.random.RandomState(seed)  # one stream, drawn from in scikit-learn's order
    by_class = np.split(np.argsort(of_class, kind="stable"), np.cumsum(counts)[:-1])
    to_train = _approximate_mode(counts, n_train, rng)
    to_valid = _approximate_mode(counts - to_train, n_valid, rng)
    train: list[int] = []
    valid: list[int] = []
    for members, k, v in zip(by_class, to_train, to_valid):
        shuffled = members[rng.permutation(len(members))]
        train.extend(int(i) for i in shuffled[:k])
        valid.extend(int(i) for i in shuffled[k:k + v])
    return sorted(train), sorted(valid)


def _approximate_mode(counts: np.ndarray, draws: int, rng: np.random.RandomState) -> np.ndarray:
    """How many of ``draws`` each class gets: its floored share of ``counts``, then one more for the classes
    with the largest remainders, ties broken at random (scikit-learn's ``utils.extmath._approximate_mode``)."""
    share = counts / counts.sum() * draws
    taken = np.floor(share)
    missing = int(draws - taken.sum())
    remainder = share - taken
    for value in np.sort(np.unique(remainder))[::-1]:
        if missing <= 0:
            break
        (tied,) = np.where(remainder == value)
        add = min(len(tied), missing)
        taken[rng.choice(tied, size=add, replace=False)] += 1
        missing -= add
    return taken.astype(int)


def load_ucr(info: DatasetInfo, *, valid_fraction: float = 0.2, seed: int = 0) -> SequenceDataset:
    """Load one shipped archive problem as a :class:`SequenceDataset` (see the module docstring)."""
    problem = str(info.extra["problem"])
    tr_series, tr_labels, classes, tr_path = _read_ts(problem, "TRAIN")
    te_series, te_labels, te_classes, te_path = _read_ts(problem, "TEST")
    if te_classes != classes:
        raise ShippedDataError(f"{te_path}: @classLabel {te_classes} differs from {tr_path}: {classes}")
    pool = _examples(tr_series, tr_labels, classes, tr_path, "train")
    test = _examples(te_series, te_labels, classes, te_path, "test")
    train_idx, valid_idx = stratified_valid([int(e.y) for e in pool], valid_fraction, seed)  # type: ignore[arg-type]
    lengths = [x.shape[1] for x in tr_series + te_series]
    extra: dict[str, Any] = {**info.extra, "valid_fraction": valid_fraction, "seed": seed,
                             "min_length": min(lengths), "max_length": max(lengths),
                             "files": [str(tr_path), str(te_path)]}
    loaded = dataclasses.replace(info, classes=list(classes), extra=extra, published=list(info.published))
    return SequenceDataset(loaded, ExampleList([pool[i] for i in train_idx]),
                           ExampleList([pool[i] for i in valid_idx]), ExampleList(test))


JAPANESE_VOWELS = _info(
    "japanese_vowels", "JapaneseVowels", channels=12, lengths=(7, 29), train=270, test=370,
    classes=[str(i) for i in range(1, 10)],
    description="Nine male speakers saying the Japanese vowel /ae/; 12 LPC cepstrum coefficients per "
                "frame, 7-29 frames (raw variable length); classify the speaker.",
    license=_UEA_LICENSE + "; originally UCI Machine Learning Repository (Kudo et al. 1999)",
    origin="UEA archive, from the UCI Japanese Vowels data (Kudo, Toyama & Shimbo 1999)",
    published=[_acc("FCN", 0.993, _FAWAZ19), _acc("ResNet", 0.992, _FAWAZ19),
               _acc("MLSTM-FCN", 1.00, _KARIM19), _acc("MiniRocket", 0.989, _MEASURED)])
GUNPOINT = _info(
    "gunpoint", "GunPoint", channels=1, lengths=(150, 150), classes=["1", "2"], train=50, test=150,
    description="Hand position (x coordinate) of an actor drawing a gun or pointing a finger; 150 steps.",
    license=_UCR_LICENSE, origin="UCR archive (Ratanamahatana & Keogh)",
    published=[_acc("FCN", 1.00, _FAWAZ19), _acc("InceptionTime", 1.00, _FAWAZ20)])
ARROWHEAD = _info(
    "arrowhead", "ArrowHead", channels=1, lengths=(251, 251), classes=["0", "1", "2"], train=36, test=175,
    description="Outlines of projectile points (arrowheads) as 1-D shape series; three classes of type.",
    license=_UCR_LICENSE, origin="UCR archive (Ye & Keogh)",
    published=[_acc("LSTM-FCN", 0.897, _KARIM18), _acc("InceptionTime", 0.846, _FAWAZ20),
               _acc("ROCKET", 0.814, _ROCKET), _acc("MiniRocket", 0.863, _MEASURED)])
BASIC_MOTIONS = _info(
    "basic_motions", "BasicMotions", channels=6, lengths=(100, 100), train=40, test=40,
    classes=["standing", "running", "walking", "badminton"],
    description="Smart-watch accelerometer and gyroscope (6 channels, 100 steps) of standing, walking, "
                "running and playing badminton.",
    license=_UEA_LICENSE, origin="UEA archive (recorded at the University of East Anglia)",
    published=[_acc("InceptionTime", 1.00, _RUIZ21)])
ITALY_POWER_DEMAND = _info(
    "italy_power_demand", "ItalyPowerDemand", channels=1, lengths=(24, 24), classes=["1", "2"], train=67, test=1029,
    description="Daily Italian electricity demand (24 hourly values); classify winter vs summer months.",
    license=_UCR_LICENSE, origin="UCR archive (Keogh et al.)",
    published=[_acc("ROCKET", 0.970, _ROCKET), _acc("InceptionTime", 0.968, _FAWAZ20),
               _acc("MiniRocket", 0.963, _MEASURED)])


@register(JAPANESE_VOWELS)
def japanese_vowels(*, valid_fraction: float = 0.2, seed: int = 0) -> SequenceDataset:
    """JapaneseVowels: 12 channels, 7-29 steps, 9 classes, 270 train / 370 test."""
    return load_ucr(JAPANESE_VOWELS, valid_fraction=valid_fraction, seed=seed)


@register(GUNPOINT)
def gunpoint(*, valid_fraction: float = 0.2, seed: int = 0) -> SequenceDataset:
    """GunPoint: 1 channel, 150 steps, 2 classes, 50 train / 150 test."""
    return load_ucr(GUNPOINT, valid_fraction=valid_fraction, seed=seed)


@register(ARROWHEAD)
def arrowhead(*, valid_fraction: float = 0.2, seed: int = 0) -> SequenceDataset:
    """ArrowHead: 1 channel, 251 steps, 3 classes, 36 train / 175 test."""
    return load_ucr(ARROWHEAD, valid_fraction=valid_fraction, seed=seed)


@register(BASIC_MOTIONS)
def basic_motions(*, valid_fraction: float = 0.2, seed: int = 0) -> SequenceDataset:
    """BasicMotions: 6 channels, 100 steps, 4 classes, 40 train / 40 test."""
    return load_ucr(BASIC_MOTIONS, valid_fraction=valid_fraction, seed=seed)


@register(ITALY_POWER_DEMAND)
def italy_power_demand(*, valid_fraction: float = 0.2, seed: int = 0) -> SequenceDataset:
    """ItalyPowerDemand: 1 channel, 24 steps, 2 classes, 67 train / 1029 test."""
    return load_ucr(ITALY_POWER_DEMAND, valid_fraction=valid_fraction, seed=seed)

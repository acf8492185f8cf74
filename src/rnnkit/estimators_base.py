"""What the three scikit-learn estimators of :mod:`rnnkit.estimators` share: their common
parameters (:class:`_RNNEstimator`, whose ``__init__`` scikit-learn reads them from), the seed drawn
from ``random_state``, the model (or an ``Ensemble`` of them) built under that seed, the ``Trainer``
that fits it, a guard that leaves the user's global random generators as they were, and one that
leaves the estimator as it was when a fit fails (:func:`_fit_or_nothing`).

Example:
    >>> with _keeping_global_rng("cpu"):
    ...     torch.manual_seed(0)                   # seeded for this block only
    >>> torch.rand(1)                              # the user's generator, as it was before
"""

from __future__ import annotations

import contextlib
import functools
import random
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state

from rnnkit.data.batch import Example, collate
from rnnkit.data.dataset import DatasetInfo, ExampleList, SequenceDataset, split_train_valid

RandomStateLike = int | np.random.RandomState | None  # what scikit-learn takes as random_state
_FIT_PARAMS = ("epochs", "batch_size", "lr", "weight_decay", "early_stopping", "ema_decay")
_Fit = TypeVar("_Fit", bound=Callable[..., Any])


def _fit_or_nothing(fit: _Fit) -> _Fit:
    """``fit``, which leaves the estimator exactly as it was when it raises (bad data, an invalid
    parameter, a diverged loss, Ctrl-C): a fit writes ``classes_`` or ``y_mean_`` before it trains,
    and a failed refit had paired the new labels or scaling with the old ``model_``, which still predicted."""

    @functools.wraps(fit)
    def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
        before = dict(self.__dict__)  # a fit replaces attributes, never changes one in place
        try:
            return fit(self, *args, **kwargs)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    return cast(_Fit, guarded)


class _RNNEstimator(BaseEstimator):
    """Shared parameters and the array handling of the three estimators."""

    def __init__(self, *, cell: str = "gru", hidden_size: int = 32, num_layers: int = 1, dropout: float = 0.0,
                 epochs: int = 30, batch_size: int = 32, lr: float = 3e-3, weight_decay: float = 0.01,
                 early_stopping: int | None = None, ema_decay: float | None = None, ensemble: int = 1,
                 valid_fraction: float = 0.0, device: str = "cpu", random_state: RandomStateLike = 0,
                 verbose: bool = False) -> None:
        self.cell = cell
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.ema_decay = ema_decay
        self.ensemble = ensemble
        self.valid_fraction = valid_fraction
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _trainer(self) -> Any:
        from rnnkit.train.trainer import Trainer

        return Trainer(**{p: getattr(self, p) for p in _FIT_PARAMS}, seed=self.seed_, device=self.device,
                       progress=bool(self.verbose), evaluate_test=False, schedule="cosine")

    def _draw_seed(self) -> None:
        """``seed_``: ``random_state`` as scikit-learn reads it (an int; None: numpy's global generator;
        a ``RandomState``: drawn from it), once per fit."""
        rs = self.random_state
        if isinstance(rs, bool) or not (rs is None or isinstance(rs, int | np.integer | np.random.RandomState)):
            raise ValueError(f"random_state must be None, an int or a numpy RandomState, got {rs!r}")
        self.seed_ = int(rs) if isinstance(rs, int | np.integer) else int(check_random_state(rs).randint(2**31 - 1))

    def _build(self, make: Any) -> Any:
        """``make()`` (a model), or an Ensemble of ``ensemble`` of them, after seeding ``random_state``."""
        if isinstance(self.ensemble, bool) or not isinstance(self.ensemble, int | np.integer) or self.ensemble < 1:
            raise ValueError(f"ensemble must be a positive integer (the number of models), got {self.ensemble!r}")
        with _keeping_global_rng(self.device):
            torch.manual_seed(self.seed_)
            if self.ensemble == 1:
                return make()
            from rnnkit.models import Ensemble

            return Ensemble(members=[make() for _ in range(int(self.ensemble))])

    def _fit_model(self, model: Any, examples: list[Example], info: DatasetInfo) -> None:
        """Fit on independent examples, a seeded random ``valid_fraction`` of them held out for valid."""
        train, valid = split_train_valid(examples, self.valid_fraction, seed=self.seed_)
        self._fit_split(model, train, valid, info)

    def _fit_split(self, model: Any, train: list[Example], valid: list[Example], info: DatasetInfo) -> None:
        """Fit on ``train``, validating on ``valid`` (split by the caller: in time for a forecaster)."""
        dataset = SequenceDataset(info, ExampleList(train), ExampleList(valid), ExampleList([]))
        with _keeping_global_rng(self.device):  # the Trainer seeds the global generators: the user's are theirs
            self.history_ = self._trainer().fit(model, dataset)
        self.model_ = model.cpu().eval()

    @torch.no_grad()
    def _run(self, seqs: list[np.ndarray], fn: Any) -> np.ndarray:
        if not seqs:
            raise ValueError("X holds 0 samples; at least 1 is needed")
        out = []
        for i in range(0, len(seqs), 256):
            batch = collate([Example(x=torch.from_numpy(s)) for s in seqs[i : i + 256]])
            out.append(fn(batch).cpu().numpy())
        return np.concatenate(out)


@contextlib.contextmanager
def _keeping_global_rng(device: str) -> Iterator[None]:
    """The global random generators (Python's, numpy's, torch's) as they were before the block: a fit
    seeds them for its own run, and must not leave a user's bootstrap loop drawing the same sample."""
    py, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=_cuda_devices(device)):
        try:
            yield
        finally:
            random.setstate(py)
            np.random.set_state(np_state)


def _cuda_devices(device: str) -> list[int]:
    """The CUDA devices whose generators a run on ``device`` draws from; ``"auto"`` is the Trainer's
    (CUDA where torch sees a GPU, else the CPU). A device this machine lacks is refused by name here."""
    from rnnkit.train.settings import check_device

    check_device(device)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    return [dev.index or 0] if dev.type == "cuda" and torch.cuda.is_available() else []

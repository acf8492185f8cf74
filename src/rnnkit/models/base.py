"""What every task model shares: ModelOutput, a frozen config, and rebuilding from it."""

from __future__ import annotations

import collections.abc
import contextlib
import dataclasses
import functools
import inspect
import numbers
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.data.batch import Batch, lengths_to_mask
from rnnkit.data.dataset import SequenceDataset
from rnnkit.layers.recurrent import Recurrent
from rnnkit.ops.masks import all_finite, broadcast_mask, traced

MODELS: dict[str, type[Model]] = {}


@dataclass
class ModelOutput:
    """The fixed return type of every model's ``forward``.

    ``loss`` is set when the batch carries targets (padding ignored). ``logits`` for classifiers,
    taggers and generators; ``predictions`` for regression and forecasts; ``extras`` for the rest
    (attention weights, CRF paths, distribution parameters). ``extras["objective"]``, when present,
    is what the Trainer minimises instead of ``loss`` (an Ensemble: the sum of its members' losses,
    while ``loss`` reports their mean).
    """

    loss: Tensor | None = None
    logits: Tensor | None = None
    predictions: Tensor | None = None
    extras: dict[str, Any] = field(default_factory=dict)


class Model(nn.Module):
    """Base class of the task models.

    Contract: ``__init__`` takes plain keyword arguments whose names equal the fields of
    ``config_class`` (a frozen dataclass); it stores ``self.config``. So a run is rebuilt with
    ``MODELS[name].from_config(config)``. Subclasses implement ``forward(batch) -> ModelOutput`` and
    ``from_dataset(dataset, **hyper)``.
    """

    config_class: ClassVar[type]
    config: Any

    # the end of the message a bare tensor or array in place of a Batch gets (see _taking_a_batch)
    bare_input_hint = "or use the scikit-learn-style estimators (rnnkit.RNNClassifier ...) for arrays"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        MODELS[cls.__name__] = cls
        init = cls.__dict__.get("__init__")
        if init is not None and "config_class" in cls.__dict__:
            cls.__init__ = _checking_option_types(cls, init)  # type: ignore[method-assign]
        for name in ("forward", "predict", "predict_proba"):
            method = cls.__dict__.get(name)
            if callable(method):
                setattr(cls, name, _taking_a_batch(method, inference=name != "forward"))

    def forward(self, batch: Batch) -> ModelOutput:  # pragma: no cover - abstract
        raise NotImplementedError

    @torch.no_grad()
    def predict(self, batch: Batch) -> Any:  # pragma: no cover - abstract
        """Task-shaped predictions for a batch (no targets needed), used by evaluation and the CLI; in
        evaluation mode (no dropout), whatever mode the model is in, which it is left in.

        classification: class ids ``(B,)``; regression: values ``(B,)`` or ``(B, K)``;
        tagging: tag ids ``(B, T)`` (Viterbi with a CRF), padding positions set to 0;
        seq2seq / generation: a ``decoding.Generated`` (tokens ``(B, n_best, L)``);
        forecasting: point forecasts ``(B, H)`` or ``(B, H, K)`` in the batch's units.
        """
        raise NotImplementedError

    @classmethod
    def from_dataset(cls, dataset: SequenceDataset, **hyper: Any) -> Model:  # pragma: no cover
        raise NotImplementedError

    @classmethod
    def _refuse_options(cls, options: dict[str, Any]) -> None:
        """Raise where an option is wrong in a way this class can advise on better than the generic
        type check that follows (which names the option and the type it must be); ``options`` are the
        constructor's arguments by name. Nothing here."""

    @classmethod
    def from_config(cls, config: Any) -> Model:
        if isinstance(config, dict):
            config = cls.config_class(**config)
        return cls(**{f.name: getattr(config, f.name) for f in dataclasses.fields(config)})

    def config_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)

    def save(self, directory: str | Path) -> Path:
        """Write ``directory/model.safetensors`` (weights, class and config); ``rnnkit.load(directory)`` rebuilds it."""
        from rnnkit.models.io import save_model

        return save_model(self, directory)

    @property
    def device(self) -> torch.device:
        p = next(self.parameters(), None)
        return p.device if p is not None else torch.device("cpu")

    def decoding(self) -> contextlib.AbstractContextManager[None]:
        """Evaluation mode without gradients for the whole of a generation (see :func:`decoding_mode`)."""
        return decoding_mode(self)


RECURRENT_OPTIONS = ("recurrent_dropout", "zoneout", "weight_drop", "layer_norm")


def with_recurrent_options(config: Any, recurrent_dropout: float, zoneout: float, weight_drop: float,
                           layer_norm: bool) -> Any:
    """``config`` with the regularisation options of its :class:`~rnnkit.layers.recurrent.Recurrent`
    layers: variational ``recurrent_dropout``, ``zoneout``, ``weight_drop`` (DropConnect on the
    recurrent weights, as AWD-LSTM) and ``layer_norm``; every model takes them."""
    return dataclasses.replace(config, recurrent_dropout=float(recurrent_dropout), zoneout=float(zoneout),
                               weight_drop=float(weight_drop), layer_norm=bool(layer_norm))


def recurrent_options(config: Any) -> dict[str, Any]:
    """The keywords of ``Recurrent`` that ``config`` holds (see :func:`with_recurrent_options`)."""
    return {name: getattr(config, name) for name in RECURRENT_OPTIONS}


def decoding_cap(dataset: SequenceDataset, default: int) -> int:
    """The ``max_length`` a generating model gets from ``from_dataset`` when none is given: ``default``,
    or twice the longest target sequence of the training split where that is more (a fixed cap cut
    every longer output short: 100-character targets decoded to 64)."""
    longest = max((int(e.y.shape[0]) for e in dataset.train.examples if e.y is not None and e.y.dim() == 1),
                  default=0)
    return max(default, 2 * longest)


def checked_series(x: Tensor, lengths: Tensor | None, what: str = "batch.x") -> Tensor:
    """Float series ``(B, T, ...)`` as a model reads them: padding past each length zeroed, whatever it
    held (ragged series are often padded with NaN), and NaN or infinity at a valid step a ValueError
    naming the batch items. Token ids and other shapes pass through unchanged."""
    if not x.is_floating_point() or x.dim() < 3:
        return x
    # traced values are symbolic (or, to TorchScript, constants): the exported program's caller checks.
    # The common, all-finite batch costs a sum and a product, where isfinite and masked_fill over every
    # value cost up to 40% of an LSTM's forward on a CPU; the full check runs when the sum is not finite
    finite = all_finite(x)
    if lengths is not None and lengths.shape == x.shape[:1]:
        valid = broadcast_mask(lengths_to_mask(lengths.to(x.device), x.shape[1]), x)  # (B, T, 1, ...)
        x = x * valid if finite else x.masked_fill(~valid, 0.0)  # 0 * NaN is NaN: masked_fill then
    if not finite:
        _refuse_non_finite(x, what, " (at valid steps)")
    return x


def checked_finite(x: Tensor, what: str) -> Tensor:
    """``x`` ``(B, ...)`` (a vector or an image per batch item: no steps, no padding) unchanged, or a
    ValueError naming the batch items that hold NaN or infinity, as :func:`checked_series` names them:
    the network would answer them with a NaN loss and arg-max-of-NaN predictions, and attention or
    batch statistics could carry the NaN into healthy rows. One sum on the common, finite batch."""
    if not all_finite(x):
        _refuse_non_finite(x, what)
    return x


def _refuse_non_finite(x: Tensor, what: str, where: str = "") -> None:
    """The full check behind a sum that was not finite (skipped when traced: values are symbolic, and
    the exported program's caller checks)."""
    if traced():
        return
    bad = ~torch.isfinite(x)
    if bool(bad.any()):
        rows = bad.reshape(bad.shape[0], -1).any(1).nonzero().flatten().tolist()
        kind = "NaN" if bool(torch.isnan(x).any()) else "infinity"
        raise ValueError(f"{kind} in {what}{where} of batch items {rows[:10]}; fill or drop missing "
                         "values (rnnkit.data.windows.fill_missing)")


@contextlib.contextmanager
def decoding_mode(module: nn.Module) -> Iterator[None]:
    """Evaluation mode without gradients for the whole of a generation (encoder and condition
    included, so dropout and augmentation stay off), then the mode ``module`` was in."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        module.train(was_training)


def _checking_option_types(cls: type[Model], init: Callable[..., None]) -> Callable[..., None]:
    """``init`` after a check of the plain options (ints, floats, bools, strings, their ``None``
    and ``Literal`` forms) against the annotations of ``cls.config_class``: a wrong type is named at
    once (``hidden_size must be an int, got '64' (str)``) instead of failing deep inside torch.
    numpy scalars and 1-D arrays pass as the Python numbers and tuples they hold (so configs save as
    plain JSON; see :func:`_plain`). ``cls`` may
    refuse an option first, with advice of its own (:meth:`Model._refuse_options`). After ``init``,
    the model's ``Recurrent`` layers learn whose they are (``Recurrent.owner``), so that an empty
    example is refused in the model user's terms."""
    signature = inspect.signature(init)
    # options the constructor itself lets be None (conv_channels=None: no branch), whatever the config holds
    allows_none = {n for n, p in signature.parameters.items() if p.default is None or "None" in str(p.annotation)}

    @functools.wraps(init)
    def checked(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            bound = signature.bind_partial(self, *args, **kwargs)
        except TypeError:  # an unknown or missing argument: the constructor says which
            bound = None
        if bound is None:
            init(self, *args, **kwargs)
        else:
            type(self)._refuse_options(bound.arguments)
            hints = _config_hints(cls.config_class)
            for name, value in bound.arguments.items():
                if name in hints:
                    if value is None and name in allows_none:
                        continue
                    if _accepts(value, hints[name]) is False:
                        raise TypeError(f"{cls.__name__}: {name} must be {_describe(hints[name])}, got "
                                        f"{_short(value)}")
                    bound.arguments[name] = _plain(value, hints[name])
            init(*bound.args, **bound.kwargs)
        for module in self.modules():  # (the outermost model's name wins: an ensemble's, over its members')
            if isinstance(module, Recurrent):
                module.owner = type(self).__name__

    return checked


def _taking_a_batch(method: Callable[..., Any], *, inference: bool = False) -> Callable[..., Any]:
    """``method(self, batch, ...)`` that refuses a bare tensor or array for ``batch`` with the fix (a
    model reads a :class:`Batch`: ``x`` with its ``lengths``), instead of an AttributeError on ``.x``.

    ``inference`` (``predict``, ``predict_proba``): the method runs in evaluation mode, as ``generate``
    and ``forecast`` do and as Keras's ``predict`` does, and the model is put back in the mode it was
    in. A model fresh from ``Trainer.fit`` is in training mode, and its dropout and augmentation
    would otherwise make each prediction a random draw."""

    @functools.wraps(method)
    def checked(self: Model, *args: Any, **kwargs: Any) -> Any:
        batch = args[0] if args else kwargs.get("batch")
        if isinstance(batch, Tensor | np.ndarray | list | tuple):
            raise TypeError(f"{type(self).__name__}.{method.__name__} takes a Batch, got a {type(batch).__name__}: "
                            "wrap the inputs, Batch(x=x, lengths=lengths) (rnnkit.data.Batch; x (B, T, F) or token "
                            f"ids (B, T), lengths (B,) the steps of each); {self.bare_input_hint}")
        if not (inference and self.training):
            return method(self, *args, **kwargs)
        modes = [(m, m.training) for m in self.modules()]  # each part's (one may be frozen in eval mode)
        self.eval()
        try:
            return method(self, *args, **kwargs)
        finally:
            for module, training in modes:
                module.training = training

    return checked


def _short(value: Any, limit: int = 80) -> str:
    """``value`` for a message: its repr cut to ``limit`` characters, and its type (a tensor or an
    array: shape and dtype), never the whole repr of a model or of a long list."""
    if isinstance(value, Tensor | np.ndarray):
        return f"a {type(value).__name__} of shape {tuple(value.shape)} and dtype {value.dtype}"
    if isinstance(value, nn.Module):  # (a model's repr is its whole module tree)
        return f"a {type(value).__name__}"
    text = repr(value)
    text = text if len(text) <= limit else text[:limit - 3] + "..."
    return f"{text} ({type(value).__name__})"


@functools.cache
def _config_hints(config_class: type) -> dict[str, Any]:
    return typing.get_type_hints(config_class)


def _accepts(value: Any, tp: Any) -> bool | None:
    """Whether ``value`` is of type ``tp``; None where ``tp`` is not a plain type checked here
    (tuples, dicts, ``Any``: the model checks those itself)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        answers = [_accepts(value, arg) for arg in typing.get_args(tp)]
        return True if True in answers else (None if None in answers else False)
    if origin is Literal:
        return value in typing.get_args(tp)
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, (bool, np.bool_))
    if tp is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if origin in (tuple, list, collections.abc.Sequence):  # tuple[int, ...], tuple[int, int, int], list[str]
        args = typing.get_args(tp)
        if not isinstance(value, list | tuple | np.ndarray) or (isinstance(value, np.ndarray) and value.ndim != 1):
            return False  # a string would be read character by character, a number not at all
        items = list(value)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(items) != len(args):
                return False
            answers = [_accepts(v, a) for v, a in zip(items, args)]
        else:
            answers = [_accepts(v, args[0]) for v in items] if args else []
        return False if False in answers else (None if None in answers else True)
    return None


def _plain(value: Any, tp: Any = None) -> Any:
    """numpy values as the Python ones the annotation ``tp`` names, so that configs save as plain JSON:
    a scalar as its int, float (an integer where ``tp`` takes a float but not an int) or bool; a 1-D
    array, or a list or tuple holding numpy scalars, as a tuple (a list where ``tp`` says list) of
    such numbers. Anything else as it is."""
    if isinstance(value, np.generic):
        item = value.item()
        if isinstance(item, int) and not isinstance(item, bool) and _wants_float(tp):
            return float(item)  # np.int64(1) for a float option
        return item
    if isinstance(value, np.ndarray) or (isinstance(value, list | tuple)
                                         and any(isinstance(v, np.generic) for v in value)):
        items = [_plain(v, _item_type(tp)) for v in value]
        return items if _sequence_origin(tp) is list else tuple(items)
    return value


def _wants_float(tp: Any) -> bool:
    """Whether ``tp`` (or its union) names float but not int."""
    arms = typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else (tp,)
    return float in arms and int not in arms


def _sequence_origin(tp: Any) -> Any:
    """``list`` or ``tuple``, the sequence type that ``tp`` (or one arm of its union) names; None if none."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return next((o for o in map(_sequence_origin, typing.get_args(tp)) if o is not None), None)
    return list if origin is list else tuple if origin in (tuple, collections.abc.Sequence) else None


def _item_type(tp: Any) -> Any:
    """The item type of the sequence ``tp`` names (``tuple[int, ...]`` -> int); None where not one type."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return next((i for i in map(_item_type, typing.get_args(tp)) if i is not None), None)
    args = typing.get_args(tp) if origin in (tuple, list, collections.abc.Sequence) else ()
    return args[0] if args and len(set(args) - {Ellipsis}) == 1 else None


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in typing.get_args(tp))
    if origin is Literal:
        return f"one of {typing.get_args(tp)}"
    if origin in (tuple, list, collections.abc.Sequence):
        args = typing.get_args(tp)
        examples = {int: "[128, 256, 128]", float: "[0.1, 0.5, 0.9]", str: '["B", "I", "O"]'}
        if origin is tuple and args and args[-1] is not Ellipsis:
            return f"a list of {len(args)} ({', '.join(_describe(a) for a in args)})"
        item: Any = args[0] if args else object
        kinds = {int: "ints", float: "numbers", str: "strings"}
        return f"a list of {kinds.get(item, 'values')}" + (f" (e.g. {examples[item]})" if item in examples else "")
    names = {type(None): "None", bool: "a bool", int: "an int", float: "a number", str: "a string"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))

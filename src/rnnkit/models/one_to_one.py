"""one-to-one: ``FeedForward``, an MLP over a single input (a vector or a small image).

It is the baseline the other shapes extend: a recurrent model run for one step from a zero state is
this shape (``tanh(W_ih x + b)`` then a linear head is a one-hidden-layer MLP). The task losses that
the sequence models share also live here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.data.batch import Batch
from rnnkit.data.dataset import SequenceDataset
from rnnkit.layers.conv_encoder import ConvEncoder
from rnnkit.models.base import Model, ModelOutput, checked_finite

TASKS = ("classification", "regression")
REGRESSION_LOSSES = ("mse", "huber", "mae")
_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}


def check_task(task: str, num_outputs: int) -> None:
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if num_outputs < 1:
        raise ValueError(f"num_outputs must be >= 1 (classes or regression targets), got {num_outputs}")
    if task == "classification" and num_outputs < 2:
        raise ValueError(f"classification needs num_outputs >= 2 classes, got {num_outputs}")


def classification_loss(logits: Tensor, y: Tensor, *, class_weights: tuple[float, ...] | None = None,
                        label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy over ``(B, C)`` logits; raises a clear error for class ids outside ``[0, C)``."""
    B, C = logits.shape[0], logits.shape[-1]
    if y.is_floating_point():
        raise ValueError(f"classification targets must be int64 class ids, got {y.dtype}")
    if tuple(y.shape) not in ((B,), (B, 1)):
        raise ValueError(f"classification targets y must be ({B},): one class id per batch item, got shape "
                         f"{tuple(y.shape)}")
    y = y.reshape(-1).long()
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= C):
        raise ValueError(f"class id out of range [0, {C}): got min {int(y.min())}, max {int(y.max())}; "
                         f"set num_outputs to the number of classes in the data")
    weight = None if class_weights is None else torch.tensor(class_weights, dtype=logits.dtype,
                                                             device=logits.device)
    return F.cross_entropy(logits, y, weight=weight, label_smoothing=label_smoothing)


def regression_loss(pred: Tensor, y: Tensor, *, kind: str = "mse") -> Tensor:
    """MSE, Huber or MAE between predictions and float targets of the same number of elements."""
    if not y.is_floating_point():
        raise ValueError(f"regression targets must be float, got {y.dtype}")
    if y.numel() != pred.numel() or (y.dim() > 0 and y.shape[0] != pred.shape[0]):
        raise ValueError(f"regression targets have shape {tuple(y.shape)}, predictions {tuple(pred.shape)}; "
                         f"set num_outputs to the number of target columns")
    y = y.reshape(pred.shape).to(pred.dtype)
    if kind == "mse":
        return F.mse_loss(pred, y)
    if kind == "huber":
        return F.huber_loss(pred, y)
    return F.l1_loss(pred, y)


@dataclass(frozen=True)
class FeedForwardConfig:
    """``input_shape``: ``(F,)`` for vectors or ``(C, H, W)`` for images; ``num_outputs``: classes
    (classification) or target columns (regression); ``encoder``: ``"flatten"`` or ``"cnn"``
    (images through :class:`ConvEncoder`, whose output size is ``hidden_sizes[0]``).
    ``label_smoothing`` smooths the training loss only: in eval mode the loss is the plain negative
    log-likelihood (the valid loss that early stopping watches), as Seq2Seq's is."""

    input_shape: tuple[int, ...]
    num_outputs: int
    task: str = "classification"
    hidden_sizes: tuple[int, ...] = (64,)
    activation: str = "relu"
    dropout: float = 0.0
    encoder: str = "flatten"
    conv_channels: tuple[int, ...] = (16, 32)
    class_weights: tuple[float, ...] | None = None
    label_smoothing: float = 0.0
    regression_loss: str = "mse"


class FeedForward(Model):
    """An MLP over one input: ``Linear -> act -> ... -> Linear`` (optionally a small CNN first).

    Args: the fields of :class:`FeedForwardConfig`.

    Shape: ``batch.x`` ``(B, F)`` or ``(B, C, H, W)`` float; ``batch.y`` ``(B,)`` class ids or
    ``(B,)`` / ``(B, K)`` floats. Returns ``ModelOutput(loss, logits (B, C))`` for classification,
    ``ModelOutput(loss, predictions (B,) or (B, K))`` for regression.

    Example:
        >>> model = FeedForward(input_shape=(4,), num_outputs=3)
        >>> model(Batch(x=torch.randn(2, 4))).logits.shape
        torch.Size([2, 3])
    """

    config_class = FeedForwardConfig

    def __init__(self, *, input_shape: tuple[int, ...], num_outputs: int, task: str = "classification",
                 hidden_sizes: tuple[int, ...] = (64,), activation: str = "relu", dropout: float = 0.0,
                 encoder: str = "flatten", conv_channels: tuple[int, ...] = (16, 32),
                 class_weights: tuple[float, ...] | None = None, label_smoothing: float = 0.0,
                 regression_loss: str = "mse") -> None:
        super().__init__()
        input_shape, hidden_sizes = tuple(input_shape), tuple(hidden_sizes)
        check_task(task, num_outputs)
        if len(input_shape) not in (1, 3) or any(s < 1 for s in input_shape):
            raise ValueError(f"input_shape must be (F,) or (C, H, W) of positive sizes, got {input_shape}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        if encoder not in ("flatten", "cnn"):
            raise ValueError(f"encoder must be 'flatten' or 'cnn', got {encoder!r}")
        if encoder == "cnn" and (len(input_shape) != 3 or not hidden_sizes):
            raise ValueError("encoder='cnn' needs image inputs (C, H, W) and at least one hidden size")
        if regression_loss not in REGRESSION_LOSSES:
            raise ValueError(f"regression_loss must be one of {REGRESSION_LOSSES}, got {regression_loss!r}")
        if class_weights is not None and len(class_weights) != num_outputs:
            raise ValueError(f"class_weights has {len(class_weights)} entries for {num_outputs} classes")
        self.config = FeedForwardConfig(
            input_shape, num_outputs, task, hidden_sizes, activation, dropout, encoder,
            tuple(conv_channels), None if class_weights is None else tuple(class_weights),
            label_smoothing, regression_loss)
        layers: list[nn.Module] = []
        if encoder == "cnn":
            layers += [ConvEncoder(input_shape[0], hidden_sizes[0], channels=conv_channels),
                       _ACTIVATIONS[activation]()]
            prev, rest = hidden_sizes[0], hidden_sizes[1:]
        else:
            layers.append(nn.Flatten())
            prev, rest = int(torch.tensor(input_shape).prod()), hidden_sizes
        for size in rest:
            layers += [nn.Linear(prev, size), _ACTIVATIONS[activation](), nn.Dropout(dropout)]
            prev = size
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(prev, num_outputs)

    def forward(self, batch: Batch) -> ModelOutput:
        x = batch.x
        shape = self.config.input_shape
        if x is None or not x.is_floating_point() or tuple(x.shape[1:]) != shape:
            got = None if x is None else (tuple(x.shape), x.dtype)
            raise ValueError(f"FeedForward expects batch.x of shape (B, {', '.join(map(str, shape))}) "
                             f"float, got {got}; check num_features / input_shape")
        if x.shape[0] == 0:
            raise ValueError(f"batch.x holds no items, got shape {tuple(x.shape)}; give at least one")
        dtype = self.head.weight.dtype
        if x.dtype != dtype:
            raise ValueError(f"batch.x is {x.dtype} but the model's parameters are {dtype}; convert one of them "
                             f"(x.to({dtype}) or model.to(x.dtype))")
        out = self.head(self.body(checked_finite(x, "batch.x")))  # (B, num_outputs)
        cfg = self.config
        if cfg.task == "classification":
            loss = None if batch.y is None else classification_loss(
                out, batch.y, class_weights=cfg.class_weights,
                label_smoothing=cfg.label_smoothing if self.training else 0.0)  # evaluation: the plain NLL
            return ModelOutput(loss=loss, logits=out)
        pred = out.squeeze(-1) if cfg.num_outputs == 1 else out
        loss = None if batch.y is None else regression_loss(pred, batch.y, kind=cfg.regression_loss)
        return ModelOutput(loss=loss, predictions=pred)

    @torch.no_grad()
    def predict_proba(self, batch: Batch) -> Tensor:
        """Class probabilities ``(B, C)`` (classification only)."""
        if self.config.task != "classification":
            raise ValueError("predict_proba is for task='classification'; use predict for regression")
        logits = self.forward(Batch(x=batch.x)).logits
        assert logits is not None
        return logits.softmax(-1)

    @torch.no_grad()
    def predict(self, batch: Batch) -> Tensor:
        """Class ids ``(B,)`` or regression values ``(B,)`` / ``(B, K)``."""
        out = self.forward(Batch(x=batch.x))
        if out.logits is not None:
            return out.logits.argmax(-1)
        assert out.predictions is not None
        return out.predictions

    @classmethod
    def from_dataset(cls, dataset: SequenceDataset, **hyper: Any) -> FeedForward:
        """Reads ``input_shape`` from the first training item (or ``num_features``), the task and the
        number of classes (or ``num_targets``); images get the CNN encoder unless told otherwise."""
        info = dataset.info
        if "input_shape" not in hyper:
            first = dataset.train[0].x if len(dataset.train) else None
            if first is not None:
                hyper["input_shape"] = tuple(first.shape)
            elif info.num_features is not None:
                hyper["input_shape"] = (info.num_features,)
            else:
                raise ValueError(f"cannot tell the input shape of {info.name!r}; pass input_shape=")
        task = hyper.setdefault("task", "regression" if info.task == "regression" else "classification")
        if "num_outputs" not in hyper:
            n = info.num_classes if task == "classification" else (info.num_targets or 1)
            if n is None:
                raise ValueError(f"dataset {info.name!r} lists no classes; pass num_outputs=")
            hyper["num_outputs"] = n
        if len(hyper["input_shape"]) == 3:
            hyper.setdefault("encoder", "cnn")
        return cls(**hyper)

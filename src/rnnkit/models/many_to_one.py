"""many-to-one: ``SequenceClassifier``, a sequence -> one class (or one value for regression).

encoder (embed token ids / project features) -> ``Recurrent`` -> masked pooling -> linear head -> loss.
With ``conv_channels`` a fully convolutional branch (:class:`~rnnkit.layers.fcn.FCN`) runs beside the
recurrent one and the two pooled vectors are concatenated before the head: LSTM-FCN (Karim et al.
2018), and MLSTM-FCN (Karim et al. 2019) with ``squeeze_excitation=16``. Unlike LSTM-FCN, whose
"dimension shuffle" feeds the whole series to the LSTM as one step, the recurrent branch here stays
an RNN over time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.data.batch import Batch, lengths_to_mask
from rnnkit.data.dataset import SequenceDataset
from rnnkit.layers.fcn import FCN, MaskedBatchNorm1d
from rnnkit.layers.inputs import InputEncoder, check_features
from rnnkit.layers.ngrams import optional_bigrams, optional_ngram_bag, suggested_buckets
from rnnkit.layers.pooling import SequencePooling
from rnnkit.layers.recurrent import Recurrent
from rnnkit.layers.series_augment import SeriesAugment
from rnnkit.models.base import Model, ModelOutput, checked_series, recurrent_options, with_recurrent_options
from rnnkit.models.one_to_one import REGRESSION_LOSSES, check_task, classification_loss, regression_loss

LONG_SERIES = 200  # steps from which suggested_options widens the conv branch's kernels
LONG_SERIES_KERNELS = (32, 16, 8)


@dataclass(frozen=True)
class SequenceClassifierConfig:
    """``num_outputs``: classes (classification) or target columns (regression). Give exactly one of
    ``num_features`` (float inputs ``(B, T, F)``) or ``vocab_size`` (token ids ``(B, T)``).
    ``embed_dim``: embedding size for tokens; for features a projection size, or None to feed them
    as they are. ``pooling``: ``last``, ``mean``, ``max`` or ``attention``.
    ``conv_channels``: filters of each block of a fully convolutional branch beside the RNN (LSTM-FCN:
    ``(128, 256, 128)``; empty or None: no branch), with ``conv_kernel_sizes`` (one per block; LSTM-FCN
    ``(8, 5, 3)``) and ``squeeze_excitation`` (its reduction ratio after every block but the last,
    MLSTM-FCN: 16; 0: off). The branch reads the raw features (token inputs: their embeddings).
    ``input_norm``: z-normalise each float feature before both branches with statistics learnt on
    the training batches (a :class:`~rnnkit.layers.fcn.MaskedBatchNorm1d` without affine
    parameters, valid steps only): for features of unequal scales, as an in-model scaler.
    ``bigram_buckets`` > 0 (token inputs): the recurrent layer also reads each step's left and right
    bigram embeddings (``bigram_dim`` each), hashed into that many rows
    (:class:`~rnnkit.layers.ngrams.HashedBigrams`): word-like units for character-level text.
    ``ngram_buckets`` > 0 (token inputs): the head also reads the mean embedding (``ngram_dim``) of
    every 1..``ngram_max``-gram of the whole sequence, hashed into that many rows
    (:class:`~rnnkit.layers.ngrams.HashedNgramBag`, fastText's bag of n-grams) beside the pooled
    recurrent vector: the linear text classifier's evidence, which the RNN then refines.
    ``augment_jitter``, ``augment_scale``, ``augment_warp``, ``augment_slice`` (float inputs): random
    noise, scaling, time warping and window slicing of each training series, drawn afresh every
    batch (:class:`~rnnkit.layers.series_augment.SeriesAugment`; 0: off); evaluation reads the
    series as they are. ``input_differences`` (float inputs): both branches also read each feature's
    first difference ``x[t] - x[t-1]`` (0 at the first step and on padding) beside the feature, after
    ``input_norm``: the slope of an outline or a load curve as its own channel (MultiRocket's
    first-difference representation, Tan et al. 2022). ``label_smoothing`` smooths the training loss
    only: in eval mode the loss is the plain negative log-likelihood, as Seq2Seq's is."""

    num_outputs: int
    cell: str = "lstm"
    task: str = "classification"
    num_features: int | None = None
    vocab_size: int | None = None
    embed_dim: int | None = 64
    hidden_size: int = 64
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0
    pooling: str = "last"
    class_weights: tuple[float, ...] | None = None
    label_smoothing: float = 0.0
    regression_loss: str = "mse"
    conv_channels: tuple[int, ...] = ()
    conv_kernel_sizes: tuple[int, ...] = (8, 5, 3)
    squeeze_excitation: int = 0
    input_norm: bool = False
    bigram_buckets: int = 0
    bigram_dim: int = 32
    ngram_buckets: int = 0
    ngram_dim: int = 64
    ngram_max: int = 3
    augment_jitter: float = 0.0
    augment_scale: float = 0.0
    augment_warp: float = 0.0
    augment_slice: float = 0.0
    input_differences: bool = False
    recurrent_dropout: float = 0.0
    zoneout: float = 0.0
    weight_drop: float = 0.0
    layer_norm: bool = False


def with_differences(x: Tensor, lengths: Tensor | None, num_features: int | None) -> Tensor:
    """``(B, T, F)`` series -> ``(B, T, 2F)``: each feature, then its first difference ``x[t] - x[t-1]``,
    which is 0 at the first step and at padded steps (``t >= lengths``)."""
    check_features(x, num_features)
    diff = torch.zeros_like(x)
    diff[:, 1:] = x[:, 1:] - x[:, :-1]
    if lengths is not None:
        diff = diff * lengths_to_mask(lengths.to(x.device), x.shape[1]).unsqueeze(-1).to(x.dtype)
    return torch.cat([x, diff], dim=-1)


class SequenceClassifier(Model):
    """Classify (or regress) a whole sequence from its recurrent outputs.

    Args: the fields of :class:`SequenceClassifierConfig`.

    Shape: ``batch.x`` ``(B, T)`` int64 or ``(B, T, F)`` float with ``batch.lengths`` ``(B,)``
    (right padding); ``batch.y`` ``(B,)`` class ids, or ``(B,)`` / ``(B, K)`` floats for regression.
    Returns ``ModelOutput(loss, logits (B, C))`` or ``ModelOutput(loss, predictions (B,) / (B, K))``;
    ``extras["attention"]`` ``(B, T)`` with attention pooling.

    Example:
        >>> model = SequenceClassifier(num_outputs=2, cell="gru", num_features=3, embed_dim=None)
        >>> model(Batch(x=torch.randn(4, 7, 3), lengths=torch.tensor([7, 5, 2, 1]))).logits.shape
        torch.Size([4, 2])

    LSTM-FCN: ``SequenceClassifier(num_outputs=2, cell="lstm", num_features=1, conv_channels=(128, 256, 128))``.
    """

    config_class = SequenceClassifierConfig

    def __init__(self, *, num_outputs: int, cell: str = "lstm", task: str = "classification",
                 num_features: int | None = None, vocab_size: int | None = None, embed_dim: int | None = 64,
                 hidden_size: int = 64, num_layers: int = 1, bidirectional: bool = False,
                 dropout: float = 0.0, pooling: str = "last", class_weights: tuple[float, ...] | None = None,
                 label_smoothing: float = 0.0, regression_loss: str = "mse",
                 conv_channels: tuple[int, ...] | None = (), conv_kernel_sizes: tuple[int, ...] = (8, 5, 3),
                 squeeze_excitation: int = 0, input_norm: bool = False, bigram_buckets: int = 0,
                 bigram_dim: int = 32, ngram_buckets: int = 0, ngram_dim: int = 64, ngram_max: int = 3,
                 augment_jitter: float = 0.0, augment_scale: float = 0.0, augment_warp: float = 0.0,
                 augment_slice: float = 0.0, input_differences: bool = False,
                 recurrent_dropout: float = 0.0, zoneout: float = 0.0, weight_drop: float = 0.0,
                 layer_norm: bool = False) -> None:
        super().__init__()
        check_task(task, num_outputs)
        if regression_loss not in REGRESSION_LOSSES:
            raise ValueError(f"regression_loss must be one of {REGRESSION_LOSSES}, got {regression_loss!r}")
        if class_weights is not None and len(class_weights) != num_outputs:
            raise ValueError(f"class_weights has {len(class_weights)} entries for {num_outputs} classes")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.config = SequenceClassifierConfig(
            num_outputs, cell, task, num_features, vocab_size, embed_dim, hidden_size, num_layers,
            bidirectional, dropout, pooling, None if class_weights is None else tuple(class_weights),
            label_smoothing, regression_loss, tuple(int(c) for c in conv_channels or ()),
            tuple(int(k) for k in conv_kernel_sizes), int(squeeze_excitation), bool(input_norm),
            int(bigram_buckets), int(bigram_dim), int(ngram_buckets), int(ngram_dim), int(ngram_max),
            float(augment_jitter), float(augment_scale), float(augment_warp), float(augment_slice),
            bool(input_differences))
        self.config = with_recurrent_options(self.config, recurrent_dropout, zoneout, weight_drop,
                                             layer_norm)
        self.augment = SeriesAugment(jitter=augment_jitter, scale=augment_scale, warp=augment_warp,
                                     slice=augment_slice)
        if self.augment.active and num_features is None:
            raise ValueError("augment_* options transform float series; token inputs (vocab_size) have none")
        if input_norm and num_features is None:
            raise ValueError("input_norm z-normalises float features; token inputs (vocab_size) have none")
        if input_differences and num_features is None:
            raise ValueError("input_differences reads float features; token inputs (vocab_size) have none")
        self.input_norm = MaskedBatchNorm1d(num_features, affine=False) if input_norm and num_features else None
        read_features = None if num_features is None else num_features * (2 if input_differences else 1)
        self.encoder = InputEncoder(num_features=read_features, vocab_size=vocab_size, embed_dim=embed_dim,
                                    dropout=dropout)
        self.bigrams = optional_bigrams(vocab_size, bigram_buckets, bigram_dim)
        rnn_input = self.encoder.output_size + (0 if self.bigrams is None else self.bigrams.output_size)
        self.rnn = Recurrent(cell, rnn_input, hidden_size, num_layers=num_layers,
                             bidirectional=bidirectional, dropout=dropout, **recurrent_options(self.config))
        self.pool = SequencePooling(pooling, self.rnn.output_size, bidirectional=bidirectional)
        self.conv: FCN | None = None
        if conv_channels:
            conv_input = read_features if read_features is not None else self.encoder.output_size
            self.conv = FCN(conv_input, channels=conv_channels, kernel_sizes=conv_kernel_sizes,
                            squeeze_excitation=squeeze_excitation)
        elif squeeze_excitation:
            raise ValueError("squeeze_excitation gates the conv branch: set conv_channels too, e.g. (128, 256, 128)")
        self.ngrams = optional_ngram_bag(vocab_size, ngram_buckets, ngram_dim, ngram_max)
        self.dropout = nn.Dropout(dropout)
        head_input = self.rnn.output_size + sum(0 if m is None else m.output_size for m in (self.conv, self.ngrams))
        self.head = nn.Linear(head_input, num_outputs)

    def encode(self, batch: Batch) -> tuple[Tensor, Tensor | None]:
        """The pooled sequence vector ``(B, D*H [+ C] [+ N])`` and the attention weights ``(B, T)`` (or
        None); with a conv branch its ``C = conv_channels[-1]`` pooled values follow the recurrent
        ones, then the ``N = ngram_dim`` values of the bag of n-grams."""
        if batch.x is None:
            raise ValueError("SequenceClassifier needs batch.x (token ids (B, T) or features (B, T, F))")
        lengths = batch.lengths
        if lengths is not None and lengths.shape != batch.x.shape[:1]:
            raise ValueError(f"batch.lengths must be ({batch.x.shape[0]},), got {tuple(lengths.shape)}")
        x = checked_series(batch.x, lengths)
        if x.is_floating_point() and x.dim() == 3:  # (other shapes go on to the encoder's error)
            x = self.augment(x, lengths)  # itself in evaluation, or with every option off
        if (self.input_norm is not None and x.is_floating_point() and x.dim() == 3
                and x.shape[-1] == self.input_norm.num_features):
            # (other shapes go on to the encoder, whose error names the expected one)
            mask = None if lengths is None else lengths_to_mask(lengths.to(x.device), x.shape[1]).unsqueeze(1)
            x = self.input_norm(x.transpose(1, 2), None if mask is None else mask.to(x.dtype)).transpose(1, 2)
        if self.config.input_differences:
            x = with_differences(x, lengths, self.config.num_features)
        h = self.encoder(x)  # (B, T, E)
        if self.bigrams is not None:
            h = torch.cat([h, self.dropout(self.bigrams(x, lengths))], dim=-1)  # (B, T, E + 2 * bigram_dim)
        outputs = self.rnn(h, lengths).outputs  # (B, T, D*H)
        pooled = self.pool(outputs, lengths)
        parts = [pooled.vector]
        if self.conv is not None:
            # the conv branch reads raw features (FCN's input), or the embeddings of token ids
            conv_in = x if self.encoder.vocab_size is None else self.encoder.embed(x)
            parts.append(self.conv(conv_in, lengths))
        if self.ngrams is not None:
            parts.append(self.ngrams(x, lengths))
        return (parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)), pooled.weights

    def forward(self, batch: Batch) -> ModelOutput:
        vector, weights = self.encode(batch)
        out = self.head(self.dropout(vector))  # (B, num_outputs)
        extras: dict[str, Any] = {} if weights is None else {"attention": weights}
        cfg = self.config
        if cfg.task == "classification":
            loss = None if batch.y is None else classification_loss(
                out, batch.y, class_weights=cfg.class_weights,
                label_smoothing=cfg.label_smoothing if self.training else 0.0)  # evaluation: the plain NLL
            return ModelOutput(loss=loss, logits=out, extras=extras)
        pred = out.squeeze(-1) if cfg.num_outputs == 1 else out
        loss = None if batch.y is None else regression_loss(pred, batch.y, kind=cfg.regression_loss)
        return ModelOutput(loss=loss, predictions=pred, extras=extras)

    @torch.no_grad()
    def predict_proba(self, batch: Batch) -> Tensor:
        """Class probabilities ``(B, C)``, each row summing to 1 (classification only)."""
        if self.config.task != "classification":
            raise ValueError("predict_proba is for task='classification'; use predict for regression")
        logits = self.forward(Batch(x=batch.x, lengths=batch.lengths)).logits
        assert logits is not None
        return logits.softmax(-1)

    @torch.no_grad()
    def predict(self, batch: Batch) -> Tensor:
        """Class ids ``(B,)`` or regression values ``(B,)`` / ``(B, K)``."""
        out = self.forward(Batch(x=batch.x, lengths=batch.lengths))
        if out.logits is not None:
            return out.logits.argmax(-1)
        assert out.predictions is not None
        return out.predictions

    @classmethod
    def suggested_options(cls, dataset: SequenceDataset) -> dict[str, Any]:
        """The architecture the data suggest. Classifying numeric series (``input_kind="features"``)
        gets the LSTM-FCN family that the bundled time-series recipes settled on (Karim et al. 2018,
        2019): an LSTM beside a 3-block convolutional branch (128-256-128 filters, kernels 8-5-3),
        mean pooling, the raw features in (no projection), kernels 32-16-8 for series of
        ``LONG_SERIES`` steps or more (four times the reach along time: ArrowHead's recipe notes give the
        cross-validated figures); univariate series a 32-unit LSTM,
        multivariate ones a 64-unit bidirectional LSTM, per-feature normalisation and
        squeeze-and-excitation (MLSTM-FCN). Classifying text (``input_kind="tokens"``) gets the
        sentiment recipe's model: a bidirectional GRU over 128-d embeddings with max pooling, and a
        bag of hashed 1-3-grams beside it whose table has one row per training token, rounded up to
        a power of two, at most 2**18. Regression gets nothing (the constructor's defaults)."""
        info = dataset.info
        if info.task == "regression":
            return {}
        if info.input_kind == "tokens":
            tokens = sum(len(e.x) for e in dataset.train.examples if e.x is not None)
            return {"cell": "gru", "embed_dim": 128, "hidden_size": 64, "bidirectional": True, "pooling": "max",
                    "dropout": 0.3, "ngram_buckets": suggested_buckets(tokens), "ngram_dim": 64, "ngram_max": 3}
        if info.input_kind != "features" or info.num_features is None:
            return {}
        longest = max((len(e.x) for e in dataset.train.examples if e.x is not None), default=0)
        common = {"cell": "lstm", "embed_dim": None, "pooling": "mean", "conv_channels": (128, 256, 128),
                  "conv_kernel_sizes": LONG_SERIES_KERNELS if longest >= LONG_SERIES else (8, 5, 3)}
        if info.num_features == 1:
            return {**common, "hidden_size": 32, "dropout": 0.2}
        return {**common, "hidden_size": 64, "bidirectional": True, "dropout": 0.3, "input_norm": True,
                "squeeze_excitation": 16}

    @classmethod
    def from_dataset(cls, dataset: SequenceDataset, **hyper: Any) -> SequenceClassifier:
        """Token inputs get an embedding of ``len(info.input_vocab)``; feature inputs read
        ``info.num_features``; classification reads ``info.classes``, regression ``info.num_targets``.
        Options not given follow :meth:`suggested_options` (for numeric series: LSTM-FCN)."""
        info = dataset.info
        if "vocab_size" not in hyper:
            given = set(hyper)
            for key, value in cls.suggested_options(dataset).items():
                hyper.setdefault(key, value)
            if not hyper.get("conv_channels") and "squeeze_excitation" not in given:
                hyper.pop("squeeze_excitation", None)  # the user turned the conv branch off: no SE on it
        if "num_features" not in hyper and "vocab_size" not in hyper:
            if info.input_kind == "tokens":
                if info.input_vocab is None:
                    raise ValueError(f"dataset {info.name!r} has token inputs but no input_vocab")
                hyper["vocab_size"] = len(info.input_vocab)
            elif info.num_features is not None:
                hyper["num_features"] = info.num_features
            else:
                raise ValueError(f"dataset {info.name!r} gives neither input_vocab nor num_features")
        task = hyper.setdefault("task", "regression" if info.task == "regression" else "classification")
        if "num_outputs" not in hyper:
            n = info.num_classes if task == "classification" else (info.num_targets or 1)
            if n is None:
                raise ValueError(f"dataset {info.name!r} lists no classes; pass num_outputs=")
            hyper["num_outputs"] = n
        return cls(**hyper)

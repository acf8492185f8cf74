"""Every problem shape x every cell: builds from a tiny SequenceDataset, runs forward, backward and
predict. FeedForward (one-to-one) has no recurrent cell and runs once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from rnnkit.data.batch import Example
from rnnkit.data.dataset import DatasetInfo, ExampleList, SequenceDataset
from rnnkit.data.vocab import Vocab
from rnnkit.decoding import Generated
from rnnkit.models import (
    MODELS,
    ConditionedGenerator,
    FeedForward,
    Forecaster,
    LanguageModel,
    Model,
    Seq2Seq,
    SequenceClassifier,
    SequenceTagger,
)

CELLS = ["rnn", "lstm", "gru", "mingru", "minlstm"]
LENGTHS = [5, 2, 7, 3]  # unequal, so every batch is padded
VOCAB = Vocab.build([list("abcdefgh")])
OUT_VOCAB = Vocab.build([list("wxyz")])



def _tokens(n: int, vocab: Vocab, *, eos: bool = False) -> torch.Tensor:
    ids = torch.randint(4, len(vocab), (n,)).tolist()
    return torch.tensor(ids + ([vocab.eos_id] if eos else []))


def _dataset(info: DatasetInfo, make: Callable[[int], Example]) -> SequenceDataset:
    examples = [make(n) for n in LENGTHS]
    return SequenceDataset(info, ExampleList(examples), ExampleList([]), ExampleList([]))


def one_to_one() -> SequenceDataset:
    info = DatasetInfo(name="vec", shape="one-to-one", task="classification", input_kind="vector",
                       num_features=5, classes=["a", "b", "c"])
    return _dataset(info, lambda n: Example(x=torch.randn(5), y=torch.tensor(n % 3)))


def many_to_one() -> SequenceDataset:
    info = DatasetInfo(name="cls", shape="many-to-one", task="classification", input_kind="tokens",
                       input_vocab=VOCAB, classes=["neg", "pos"])
    return _dataset(info, lambda n: Example(x=_tokens(n, VOCAB), y=torch.tensor(n % 2)))


def synced() -> SequenceDataset:
    info = DatasetInfo(name="tags", shape="synced", task="tagging", input_kind="features", num_features=3,
                       classes=["O", "B", "I"])
    return _dataset(info, lambda n: Example(x=torch.randn(n, 3), y=torch.randint(0, 3, (n,))))


def many_to_many() -> SequenceDataset:
    info = DatasetInfo(name="s2s", shape="many-to-many", task="seq2seq", input_kind="tokens",
                       input_vocab=VOCAB, output_vocab=OUT_VOCAB)
    return _dataset(info, lambda n: Example(x=_tokens(n, VOCAB), y=_tokens(8 - n, OUT_VOCAB, eos=True)))


def one_to_many() -> SequenceDataset:
    info = DatasetInfo(name="cap", shape="one-to-many", task="generation", input_kind="vector",
                       output_vocab=OUT_VOCAB, cond_shape=(4,))
    return _dataset(info, lambda n: Example(x=None, cond=torch.randn(4), y=_tokens(n, OUT_VOCAB, eos=True)))


def language() -> SequenceDataset:
    info = DatasetInfo(name="lm", shape="one-to-many", task="generation", input_kind="tokens", input_vocab=VOCAB)
    return _dataset(info, lambda n: Example(x=_tokens(n, VOCAB)))


def forecasting() -> SequenceDataset:
    info = DatasetInfo(name="fc", shape="forecasting", task="forecasting", input_kind="series", num_features=2,
                       num_targets=1, horizon=3, window=8)
    return _dataset(info, lambda n: Example(x=torch.randn(8, 2) * 10 + 50, y=torch.randn(3) * 10 + 50))


RECURRENT: list[tuple[type[Model], Callable[[], SequenceDataset], dict[str, Any]]] = [
    (SequenceClassifier, many_to_one, {"embed_dim": 6}),
    (SequenceTagger, synced, {}),
    (Seq2Seq, many_to_many, {"embed_dim": 6, "max_length": 6}),
    (ConditionedGenerator, one_to_many, {"embed_dim": 6, "cond_size": 6, "max_length": 6}),
    (LanguageModel, language, {"embed_dim": 6}),
    (Forecaster, forecasting, {}),
]


def _forward_backward(model: Model, ds: SequenceDataset) -> None:
    torch.manual_seed(0)
    batch = ds.collate(list(ds.train))
    out = model(batch)
    assert out.loss is not None and torch.isfinite(out.loss), out.loss
    out.loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    model.eval()
    pred = model.predict(batch)
    if isinstance(pred, Generated):
        assert pred.tokens.shape[0] == batch.size and pred.tokens.dim() == 3
    else:
        assert pred.shape[0] == batch.size and torch.isfinite(pred.float()).all()


# Trainer(precision="bf16") runs the forward pass (training and evaluation) under autocast; the
# weights stay float32
AUTOCAST = pytest.mark.parametrize("autocast", [False, True], ids=["fp32", "bf16-autocast"])


@AUTOCAST
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("model_cls, make, hyper", RECURRENT, ids=[m.__name__ for m, _, _ in RECURRENT])
def test_every_shape_with_every_cell(model_cls: type[Model], make: Callable[[], SequenceDataset],
                                     hyper: dict[str, Any], cell: str, autocast: bool) -> None:
    torch.manual_seed(0)
    ds = make()
    model = model_cls.from_dataset(ds, cell=cell, hidden_size=8, **hyper)
    assert model.config.cell == cell
    assert model_cls.from_config(model.config).config == model.config  # a run can be rebuilt
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        _forward_backward(model, ds)
    assert all(p.dtype == torch.float32 for p in model.parameters())


@AUTOCAST
def test_feedforward_one_to_one(autocast: bool) -> None:
    ds = one_to_one()
    model = FeedForward.from_dataset(ds, hidden_sizes=(8,))
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        _forward_backward(model, ds)


def test_all_seven_shapes_are_registered() -> None:
    names = {"FeedForward", "ConditionedGenerator", "LanguageModel", "SequenceClassifier", "Seq2Seq",
             "SequenceTagger", "Forecaster"}
    assert names <= set(MODELS)



REGULARISED = {"recurrent_dropout": 0.2, "zoneout": 0.1, "weight_drop": 0.3, "layer_norm": True}


@pytest.mark.parametrize("model_cls, make, hyper", RECURRENT, ids=[m.__name__ for m, _, _ in RECURRENT])
def test_every_model_takes_the_recurrent_layers_regularisation(model_cls: type[Model],
                                                               make: Callable[[], SequenceDataset],
                                                               hyper: dict[str, Any]) -> None:
    """Variational recurrent dropout, zoneout, DropConnect on the recurrent weights (AWD-LSTM) and
    layer norm reach every recurrent layer of every model, and a run rebuilds with them."""
    from rnnkit.layers.recurrent import Recurrent

    ds = make()
    model = model_cls.from_dataset(ds, cell="lstm", hidden_size=8, **hyper, **REGULARISED)
    layers = [m for m in model.modules() if isinstance(m, Recurrent)]
    assert layers
    for layer in layers:
        assert (layer.recurrent_dropout, layer.zoneout, layer.weight_drop, layer.layer_norm) == (0.2, 0.1, 0.3, True)
    assert model_cls.from_config(model.config).config == model.config
    _forward_backward(model, ds)
    with pytest.raises(ValueError, match="recurrent_dropout"):  # the parallel scan has no recurrent weights
        model_cls.from_dataset(ds, cell="mingru", hidden_size=8, **hyper, recurrent_dropout=0.2)

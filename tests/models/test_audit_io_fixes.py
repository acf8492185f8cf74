"""Saving, loading and ensembling hold up where the persistence audit found them wanting: an ensemble
of one object is refused, numpy options save as plain JSON, a float64 or bfloat16 model loads in its
own dtype (bit for bit), bad headers and devices are named, members agree on what they read, a file
header cannot make rnnkit import a module outside it, and ``forecast`` takes a bfloat16 ``future``."""

from __future__ import annotations

import copy
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

import rnnkit
from rnnkit.data.batch import Batch
from rnnkit.models import (
    ConditionedGenerator,
    Ensemble,
    FeedForward,
    Forecaster,
    Seq2Seq,
    SequenceClassifier,
    SequenceTagger,
)
from rnnkit.models.base import Model, ModelOutput
from rnnkit.models.io import load_model


def _classifier(seed: int = 0) -> SequenceClassifier:
    torch.manual_seed(seed)
    return SequenceClassifier(num_outputs=3, num_features=2, hidden_size=8)


def _header(path: Path) -> dict:
    with safe_open(str(path / "model.safetensors"), framework="pt") as f:
        return json.loads(f.metadata()["rnnkit_model"])


def _rewrite_header(path: Path, header: str) -> None:
    file = path / "model.safetensors"
    save_file(load_file(str(file)), str(file), metadata={"rnnkit_model": header})


# --- 1. one object, k times ----------------------------------------------------------------------
def test_an_ensemble_of_one_object_repeated_is_refused_with_the_fix() -> None:
    m = _classifier()
    with pytest.raises(ValueError, match=r"member 1 is the same model object as member 0: .*copy\.deepcopy"):
        Ensemble(members=[m] * 3)
    twin = _classifier(1)
    twin.head = m.head  # a shared part: its tensors would be saved once, under one member's name
    with pytest.raises(ValueError, match="member 1 shares weights with member 0"):
        Ensemble(members=[m, twin])


def test_independent_copies_save_and_load(tmp_path: Path) -> None:
    m = _classifier()
    ens = Ensemble(members=[copy.deepcopy(m) for _ in range(3)]).eval()
    ens.save(tmp_path)
    back = rnnkit.load(tmp_path)
    batch = Batch(x=torch.randn(2, 5, 2), lengths=torch.tensor([5, 3]))
    assert torch.equal(back.predict_proba(batch), ens.predict_proba(batch))


# --- 2. numpy options ------------------------------------------------------------------------------
NUMPY_OPTIONS = {
    "input_shape": lambda: FeedForward(input_shape=np.array([1, 8, 8]), num_outputs=3, encoder="cnn"),
    "cond_shape": lambda: ConditionedGenerator(vocab_size=20, cond_shape=np.array([5])),
    "class_weights": lambda: SequenceClassifier(num_outputs=3, num_features=2,
                                                class_weights=np.array([1, 2, 3], dtype=np.float32)),
    "hidden_sizes": lambda: FeedForward(input_shape=(4,), hidden_sizes=np.array([32, 16]), num_outputs=2),
    "scalar items": lambda: FeedForward(input_shape=[np.int64(4)], hidden_sizes=(np.int32(8),), num_outputs=2,
                                        dropout=np.int64(0)),
}


@pytest.mark.parametrize("case", NUMPY_OPTIONS)
def test_numpy_options_become_plain_python_and_save(case: str, tmp_path: Path) -> None:
    model = NUMPY_OPTIONS[case]()
    for value in model.config_dict().values():
        items = value if isinstance(value, tuple) else [value]
        assert not isinstance(value, np.ndarray | list) and not any(isinstance(v, np.generic) for v in items)
    model.save(tmp_path)  # raised "cannot be written as JSON"
    assert rnnkit.load(tmp_path).config == model.config


def test_numpy_options_take_the_annotated_types() -> None:
    model = FeedForward(input_shape=np.array([1, 8, 8]), num_outputs=np.int64(3), dropout=np.int64(0),
                        class_weights=np.array([1, 2, 3]))
    c = model.config
    assert c.input_shape == (1, 8, 8) and all(type(v) is int for v in c.input_shape)
    assert type(c.num_outputs) is int and type(c.dropout) is float
    assert c.class_weights == (1.0, 2.0, 3.0) and all(type(v) is float for v in c.class_weights)
    assert hash(c) is not None


# --- 3. the dtype -----------------------------------------------------------------------------------
def test_a_float64_model_loads_in_float64_bit_for_bit(tmp_path: Path) -> None:
    torch.manual_seed(0)
    m = Forecaster(horizon=4, hidden_size=8).double().eval()
    with torch.no_grad():  # weights that use float64's precision, as training in float64 leaves them
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 1e-3)
    m.save(tmp_path)
    assert _header(tmp_path)["dtype"] == "float64"
    back = rnnkit.load(tmp_path)
    assert back.head.weight.dtype == torch.float64
    for (name, a), (_, b) in zip(m.state_dict().items(), back.state_dict().items(), strict=True):
        assert a.dtype == b.dtype and torch.equal(a, b), name
    x = torch.linspace(1, 2, 30, dtype=torch.float64) * 1e4 + torch.sin(torch.arange(30.0, dtype=torch.float64))
    assert torch.equal(back.forecast(x), m.forecast(x))


def test_a_bfloat16_model_loads_in_bfloat16(tmp_path: Path) -> None:
    m = _classifier().to(torch.bfloat16).eval()
    m.save(tmp_path)
    back = load_model(tmp_path)
    assert {p.dtype for p in back.parameters()} == {torch.bfloat16}
    batch = Batch(x=torch.randn(2, 5, 2).bfloat16(), lengths=torch.tensor([5, 3]))
    assert torch.equal(back.predict_proba(batch), m.predict_proba(batch))


def test_a_file_without_a_dtype_loads_in_float32(tmp_path: Path) -> None:
    m = _classifier().double()
    m.save(tmp_path)
    header = _header(tmp_path)
    del header["dtype"]  # as files written before the dtype was recorded
    _rewrite_header(tmp_path, json.dumps(header))
    assert {p.dtype for p in rnnkit.load(tmp_path).parameters()} == {torch.float32}


# --- 4. bad headers ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("header", "says"), [
    (json.dumps({"config": {}}), "names no model class"),
    (json.dumps([1]), "is a JSON list"),
    ("{oops", "not valid JSON"),
    (json.dumps({"class": "SequenceClassifier", "config": [1]}), "holds no config"),
    (json.dumps({"class": "SequenceClassifier", "config": {}, "dtype": "int8"}), "has dtype 'int8'"),
], ids=["no_class", "a_list", "not_json", "config_list", "dtype"])
def test_a_bad_header_is_a_value_error_naming_the_file(header: str, says: str, tmp_path: Path) -> None:
    _classifier().save(tmp_path)
    _rewrite_header(tmp_path, header)
    file = str(tmp_path / "model.safetensors")
    for load in (load_model, rnnkit.load):
        with pytest.raises(ValueError, match=says) as e:
            load(tmp_path)
        assert file in str(e.value)


# --- 5. devices -------------------------------------------------------------------------------------
@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_a_missing_cuda_device_is_named_not_the_weights(tmp_path: Path) -> None:
    _classifier().save(tmp_path)
    for load in (load_model, rnnkit.load):
        with pytest.raises(ValueError, match="'cuda': torch sees no CUDA GPU") as e:
            load(tmp_path, device="cuda")
        assert "weights" not in str(e.value)


def test_an_invalid_device_is_named_not_the_weights(tmp_path: Path) -> None:
    _classifier().save(tmp_path)
    for load in (load_model, rnnkit.load):
        with pytest.raises(ValueError, match="'cudaa'") as e:
            load(tmp_path, device="cudaa")
        assert "weights" not in str(e.value)


def test_auto_loads_on_the_device_training_would_pick(tmp_path: Path) -> None:
    _classifier().save(tmp_path)
    want = "cuda" if torch.cuda.is_available() else "cpu"
    assert load_model(tmp_path, device="auto").device.type == want


# --- 6. members agree on what they read -------------------------------------------------------------
MISFITS = {
    "input_shape": lambda: [FeedForward(input_shape=(5,), num_outputs=3), FeedForward(input_shape=(6,), num_outputs=3)],
    "src_vocab_size": lambda: [Seq2Seq(tgt_vocab_size=20, src_vocab_size=20),
                               Seq2Seq(tgt_vocab_size=20, src_vocab_size=10)],
    "num_future": lambda: [Forecaster(horizon=4), Forecaster(horizon=4, num_future=2)],
    "quantiles": lambda: [Forecaster(horizon=4, head="quantile"),
                          Forecaster(horizon=4, head="quantile", quantiles=(0.05, 0.5, 0.95))],
    "frame_shape": lambda: [SequenceTagger(num_tags=3, num_features=64),
                            SequenceTagger(num_tags=3, num_features=64, frame_shape=(1, 8, 8))],
}


@pytest.mark.parametrize("field", MISFITS)
def test_members_that_read_differently_are_refused_naming_the_field(field: str) -> None:
    a, b = MISFITS[field]()
    want = f"member 0 has {field}={getattr(a.config, field)!r}, member 1 has {field}={getattr(b.config, field)!r}"
    with pytest.raises(ValueError, match=f"must read and predict the same things: {re.escape(want)}"):
        Ensemble(members=[a, b])


def test_levels_only_matter_to_quantile_heads_and_not_their_order() -> None:
    Ensemble(members=[Forecaster(horizon=4, head="quantile", quantiles=(0.1, 0.5, 0.9)),
                      Forecaster(horizon=4, head="quantile", quantiles=(0.9, 0.1, 0.5))])
    Ensemble(members=[Forecaster(horizon=4, head="gaussian"),
                      Forecaster(horizon=4, head="gaussian", quantiles=(0.05, 0.95))])


# --- 7. what a header may import ----------------------------------------------------------------------
@dataclass(frozen=True)
class _AuditTinyConfig:
    size: int = 3


class AuditTinyModel(Model):
    """A user's own model class, defined (and so registered) outside rnnkit."""

    config_class = _AuditTinyConfig

    def __init__(self, *, size: int = 3) -> None:
        super().__init__()
        self.config = _AuditTinyConfig(size=size)
        self.lin = nn.Linear(size, 1)

    def forward(self, batch: Batch) -> ModelOutput:
        return ModelOutput(predictions=self.lin(batch.x))


MODULE = '''
import pathlib
pathlib.Path({marker!r}).write_text("imported")
from rnnkit.models.base import Model


class AuditUnimported(Model):
    pass
'''


def test_a_header_does_not_import_a_module_outside_rnnkit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "imported.txt"
    name = "audit_io_header_module"
    (tmp_path / f"{name}.py").write_text(MODULE.format(marker=str(marker)))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    _classifier().save(tmp_path / "m")
    for cls in ("AuditUnimported", "Nope"):
        _rewrite_header(tmp_path / "m", json.dumps({"class": cls, "module": name, "config": {}}))
        with pytest.raises(ValueError, match=f"{cls!r} is defined in module {name!r}.*`import {name}`.* before"):
            rnnkit.load(tmp_path / "m")
    assert not marker.exists() and name not in sys.modules
    # an ensemble member's entry is held to the same rule
    with pytest.raises(ValueError, match=f"`import {name}`"):
        Ensemble(members=[{"class": "AuditUnimported", "module": name, "config": {}}])
    assert not marker.exists()


def test_a_known_class_loads_whatever_module_the_header_names(tmp_path: Path) -> None:
    m = _classifier().eval()
    m.save(tmp_path)
    header = _header(tmp_path)
    _rewrite_header(tmp_path, json.dumps({**header, "module": "this"}))  # the Zen of Python, printed on import
    modules = set(sys.modules)
    assert rnnkit.load(tmp_path).config == m.config
    assert "this" in modules or "this" not in sys.modules


def test_a_users_own_imported_model_class_loads(tmp_path: Path) -> None:
    m = AuditTinyModel(size=4)
    m.save(tmp_path)
    back = rnnkit.load(tmp_path)
    assert type(back) is AuditTinyModel and back.config == m.config
    assert torch.equal(back.lin.weight, m.lin.weight)


def test_rnnkit_modules_are_still_imported_for_their_classes(tmp_path: Path) -> None:
    _classifier().save(tmp_path)
    _rewrite_header(tmp_path, json.dumps({"class": "Nope", "module": "rnnkit.models.no_such_module", "config": {}}))
    with pytest.raises(ValueError, match="'rnnkit.models.no_such_module', which cannot be imported"):
        rnnkit.load(tmp_path)


# --- 8. a bfloat16 future -----------------------------------------------------------------------------
def test_forecast_takes_a_bfloat16_future_tensor() -> None:
    torch.manual_seed(0)
    m = Forecaster(horizon=4, hidden_size=8, num_future=2, num_features=2).to(torch.bfloat16).eval()
    x, fut = torch.randn(1, 20, 2).bfloat16(), torch.randn(1, 4, 2).bfloat16()
    got = m.forecast(x[0], future=fut[0])  # raised "unsupported ScalarType BFloat16"
    assert got.dtype == torch.bfloat16
    assert torch.equal(got, m.predict(Batch(x=x, future=fut))[0])


def test_forecast_with_a_numpy_future_still_answers_numpy_for_numpy() -> None:
    torch.manual_seed(0)
    m = Forecaster(horizon=4, hidden_size=8, num_future=2, num_features=2).eval()
    x, fut = np.random.default_rng(0).normal(size=(20, 2)), np.random.default_rng(1).normal(size=(4, 2))
    got = m.forecast(x, future=fut)
    assert isinstance(got, np.ndarray) and got.dtype == np.float64
    np.testing.assert_array_equal(got, m.forecast(torch.as_tensor(x), future=torch.as_tensor(fut)).numpy())

"""Task evaluation: what the Trainer reports for each task, from batches and predictions built by hand."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

import rnnkit.datasets
from rnnkit.data.batch import Batch, Example, collate
from rnnkit.data.dataset import DatasetInfo
from rnnkit.data.scalers import StandardScaler
from rnnkit.train.evaluation import TaskMetrics, metric_key, tag_scheme


def _info(task: str, **kw: object) -> DatasetInfo:
    return DatasetInfo(name="t", shape="synced", task=task, input_kind="features", **kw)  # type: ignore[arg-type]


def test_tagging_is_masked_by_lengths_and_scored_by_spans() -> None:
    classes = ["O", "B-PER", "I-PER"]
    batch = collate([Example(x=torch.zeros(3, 1), y=torch.tensor([1, 2, 0])),
                     Example(x=torch.zeros(1, 1), y=torch.tensor([1]))])
    pred = torch.tensor([[1, 2, 0], [0, 2, 2]])  # the padding steps of row 1 are wrong on purpose
    acc = TaskMetrics(_info("tagging", classes=classes, metric="span_f1"))
    acc.add(batch, pred)
    out = acc.compute()
    assert out["accuracy"] == pytest.approx(3 / 4)
    assert out["span_f1"] == pytest.approx(2 * (1 / 1) * (1 / 2) / (1 + 1 / 2))  # P = 1/1, R = 1/2


def test_seq2seq_cuts_at_eos_and_drops_specials() -> None:
    batch = collate([Example(x=torch.tensor([4, 5]), y=torch.tensor([2, 7, 8, 3])),
                     Example(x=torch.tensor([4]), y=torch.tensor([2, 9, 3]))])
    generated = SimpleNamespace(tokens=torch.tensor([[[7, 8, 3, 5]], [[9, 9, 3, 0]]]),
                                lengths=torch.tensor([[3], [3]]))
    acc = TaskMetrics(_info("seq2seq", metric="per"))
    acc.add(batch, generated)
    out = acc.compute()
    assert out["exact_match"] == 0.5
    assert out["token_error_rate"] == pytest.approx(1 / 3)  # one insertion over 3 reference tokens
    assert out["per"] == pytest.approx(100 / 3)  # percent, as published G2P figures are


def test_seq2seq_accepts_any_listed_reference_and_reports_the_single_one_beside() -> None:
    # word 0 has two pronunciations, [7, 8] (its y) and [7, 9]; word 1 only its y
    batch = collate([Example(x=torch.tensor([4]), y=torch.tensor([7, 8, 3]), meta={"references": ((7, 8), (7, 9))}),
                     Example(x=torch.tensor([4]), y=torch.tensor([9, 3]), meta={})])
    generated = SimpleNamespace(tokens=torch.tensor([[[7, 9, 3]], [[9, 9, 3]]]), lengths=torch.tensor([[3], [3]]))
    acc = TaskMetrics(_info("seq2seq", metric="wer"))
    acc.add(batch, generated)
    out = acc.compute()
    assert out["exact_match"] == 0.5 and out["wer"] == pytest.approx(50.0)  # word 0 matches its second
    assert out["token_error_rate"] == pytest.approx(1 / 3)  # 0 of 2 (closest) + 1 insertion of 1
    assert out["exact_match_single"] == 0.0  # against y alone both are wrong
    assert out["token_error_rate_single"] == pytest.approx(2 / 3)


def test_generation_perplexity_is_token_weighted() -> None:
    acc = TaskMetrics(_info("generation", metric="perplexity"))
    b1 = collate([Example(x=torch.tensor([1, 2]), y=torch.tensor([4, 5, 6]))])
    b2 = collate([Example(x=torch.tensor([1]), y=torch.tensor([4]))])
    acc.add_loss(torch.tensor(1.0), b1)
    acc.add_loss(torch.tensor(3.0), b2)
    out = acc.compute()
    assert out["loss"] == pytest.approx((3 * 1.0 + 1 * 3.0) / 4)
    assert out["perplexity"] == pytest.approx(np.exp(1.5))


def test_a_language_models_perplexity_weights_each_batch_by_its_next_tokens() -> None:
    """A language model's batches hold x alone: each sequence of n tokens predicts n - 1 of them,
    and evaluate_split scores it by the loss, without generating."""
    from rnnkit.models import LanguageModel
    from rnnkit.train.evaluation import evaluate_split

    torch.manual_seed(0)
    info = DatasetInfo(name="lm", shape="one-to-many", task="generation", input_kind="tokens", metric="perplexity")
    examples = [Example(x=torch.randint(4, 9, (n,))) for n in (9, 2, 3, 6)]
    model = LanguageModel(vocab_size=9, embed_dim=4, hidden_size=8).eval()
    model.predict = None  # type: ignore[assignment,method-assign]  # generating would be an error here
    out = evaluate_split(model, examples, info, batch_size=2)
    nll = tokens = 0.0
    for e in examples:
        n = len(e.x)
        with torch.no_grad():
            nll += float(model(collate([e])).loss) * (n - 1)
        tokens += n - 1
    assert out["loss"] == pytest.approx(nll / tokens, rel=1e-5)
    assert out["perplexity"] == pytest.approx(np.exp(nll / tokens), rel=1e-5)


def test_forecasting_scores_predictions_in_the_batch_units_with_window_mase() -> None:
    # predict returns the batch's units (Model contract): a scaler in extras must not be applied
    # again; the fitted scaler here would turn these values into thousands if it were.
    scaler = StandardScaler().fit(np.array([[0.0], [1000.0]]))
    x = torch.tensor([[10.0], [15.0], [25.0]])  # naive diffs 5, 10 -> scale 7.5
    batch = collate([Example(x=x, y=torch.tensor([30.0, 35.0]))])
    acc = TaskMetrics(_info("forecasting", metric="mape"), extras={"scaler": scaler})
    acc.add(batch, torch.tensor([[25.0, 35.0]]))  # errors 5, 0
    out = acc.compute()
    assert out["mae"] == pytest.approx(2.5)
    assert out["rmse"] == pytest.approx(np.sqrt(12.5))
    assert out["mase"] == pytest.approx(2.5 / 7.5)
    assert out["mape"] == pytest.approx(100 * (5 / 30) / 2)
    assert out["smape"] == pytest.approx(100 * (2 * 5 / 55) / 2)


def test_forecasting_of_examples_the_data_set_declares_scaled_is_scored_in_original_units() -> None:
    # the csv:/parquet: layout scales x and y and says so in info.extra["scale"]
    scaler = StandardScaler().fit(np.array([[0.0], [10.0]]))  # offset 5, scale 5
    x = torch.tensor([[1.0], [2.0], [4.0]])  # original 10, 15, 25: naive diffs 5, 10 -> scale 7.5
    batch = collate([Example(x=x, y=torch.tensor([5.0, 6.0]))])  # original 30, 35
    info = _info("forecasting", metric="mae", extra={"scale": "standard", "target_features": [0]})
    acc = TaskMetrics(info, extras={"scaler": scaler})
    acc.add(batch, torch.tensor([[4.0, 6.0]]))  # original 25, 35: errors 5, 0
    out = acc.compute()
    assert out["mae"] == pytest.approx(2.5)
    assert out["mase"] == pytest.approx(2.5 / 7.5)
    assert out["mape"] == pytest.approx(100 * (5 / 30) / 2)


def test_forecasting_mase_uses_the_season_length_when_the_window_is_longer() -> None:
    x = torch.tensor([[1.0], [2.0], [4.0], [8.0]])  # lag-2 diffs 3, 6 -> scale 4.5
    batch = collate([Example(x=x, y=torch.tensor([10.0]))])
    acc = TaskMetrics(_info("forecasting", metric="mase", extra={"season_length": 2}))
    acc.add(batch, torch.tensor([[19.0]]))
    assert acc.compute()["mase"] == pytest.approx(9 / 4.5)
    short = TaskMetrics(_info("forecasting", metric="mase", extra={"season_length": 12}))
    short.add(batch, torch.tensor([[19.0]]))  # window of 4 <= season: lag-1 diffs 1, 2, 4
    assert short.compute()["mase"] == pytest.approx(9 / (7 / 3))


def _fake_batch_and_prediction(info: DatasetInfo) -> tuple[Batch, Any]:
    """A two-example batch of ``info.task`` and a prediction that gets one of them right."""
    if info.task in ("classification", "regression"):
        y = torch.tensor([0, 1]) if info.task == "classification" else torch.tensor([0.5, 1.5])
        batch = collate([Example(x=torch.zeros(3, 1), y=y[0]), Example(x=torch.zeros(2, 1), y=y[1])])
        return batch, torch.stack([y[0], y[0]])
    if info.task == "tagging":
        k = len(info.classes) if info.classes else 3
        tags = torch.arange(4) % k
        batch = collate([Example(x=torch.zeros(4, 1), y=tags), Example(x=torch.zeros(2, 1), y=tags[:2])])
        return batch, torch.stack([tags, tags.flip(0)])
    if info.task in ("seq2seq", "generation"):
        batch = collate([Example(x=torch.tensor([4, 5]), y=torch.tensor([2, 7, 8, 3])),
                         Example(x=torch.tensor([4]), y=torch.tensor([2, 9, 3]))])
        generated = SimpleNamespace(tokens=torch.tensor([[[7, 8, 3]], [[7, 3, 0]]]), lengths=torch.tensor([[3], [2]]))
        return batch, generated
    if info.task == "forecasting":
        x = torch.arange(1.0, 30.0).unsqueeze(-1)  # longer than every season
        batch = collate([Example(x=x, y=torch.tensor([30.0, 31.0])), Example(x=x + 1, y=torch.tensor([31.0, 32.0]))])
        return batch, torch.tensor([[29.0, 31.0], [31.0, 30.0]])
    raise AssertionError(f"no fake batch for task {info.task!r}")


@pytest.mark.parametrize("info", rnnkit.datasets.list(), ids=lambda i: i.name)
def test_every_bundled_data_set_gets_its_metric(info: DatasetInfo) -> None:
    batch, prediction = _fake_batch_and_prediction(info)
    acc = TaskMetrics(info)
    acc.add_loss(torch.tensor(1.0), batch)
    acc.add(batch, prediction)
    out = acc.compute()
    assert info.metric in out, f"{info.name}: {info.task} evaluation computes {sorted(out)}, not {info.metric!r}"
    assert np.isfinite(out[info.metric])


def test_names_and_schemes() -> None:
    assert metric_key("Macro-F1") == "macro_f1" and metric_key("PER") == "per"
    assert metric_key("ter") == "token_error_rate"
    assert metric_key("f1_word") == "span_f1" and metric_key("per_frame_accuracy") == "accuracy"
    assert metric_key("WER") == "sequence_error_rate"
    assert tag_scheme(["O", "B-LOC", "I-LOC"]) == "BIO"
    assert tag_scheme(["B", "M", "E", "S"]) == "BMES"
    assert tag_scheme(["walk", "run"]) is None


class _LastValue(torch.nn.Module):
    """The naive forecast: repeat the last value of the window (in the batch's units, as Model.predict)."""

    device = torch.device("cpu")

    def __init__(self, horizon: int) -> None:
        super().__init__()
        self.horizon = horizon

    def forward(self, batch: Batch) -> Any:
        return SimpleNamespace(loss=None)

    def predict(self, batch: Batch) -> torch.Tensor:
        assert batch.x is not None
        return batch.x[:, -1, :1].expand(-1, self.horizon)


def test_air_passengers_is_scored_in_passengers_with_its_mape() -> None:
    # the data set's extras hold a fitted scaler; its Examples hold raw passengers: applying the
    # scaler's inverse to them made MAE about 4450 on a series of 100..600
    from rnnkit.train.evaluation import evaluate_split

    ds = rnnkit.datasets.load("air_passengers")
    test = ds.test.examples
    out = evaluate_split(_LastValue(int(ds.info.horizon or 0)), test, ds.info, extras=ds.extras)
    y = torch.stack([torch.as_tensor(e.y) for e in test]).reshape(len(test), -1)
    last = torch.stack([torch.as_tensor(e.x)[-1, 0] for e in test]).unsqueeze(1)
    assert out["mae"] == pytest.approx(float((y - last).abs().mean()), rel=1e-5)
    assert 10 < out["mae"] < 300
    assert out["mape"] == pytest.approx(float(100 * ((y - last).abs() / y).mean()), rel=1e-5)


def test_a_language_models_perplexity_does_not_depend_on_the_batch_size():
    """A one-token text has no next token: it weighed 1 in its batch's loss, so perplexity moved with the
    batch that held it."""
    import torch

    from rnnkit.data.batch import Example
    from rnnkit.data.dataset import DatasetInfo, ExampleList
    from rnnkit.data.vocab import Vocab
    from rnnkit.models import LanguageModel
    from rnnkit.train.evaluation import evaluate_split

    torch.manual_seed(0)
    vocab = Vocab.build([list("abcdef")])
    texts = [[2], [2, 5, 6, 7, 8, 3], [2, 9, 4, 3], [2, 3], [2, 4, 5, 6, 7, 8, 9, 3]]
    info = DatasetInfo(name="lm", shape="one-to-many", task="generation", input_kind="tokens", input_vocab=vocab,
                       output_vocab=vocab, metric="perplexity", higher_is_better=False)
    split = ExampleList([Example(x=torch.tensor(t)) for t in texts])
    model = LanguageModel(vocab_size=len(vocab), hidden_size=8, embed_dim=8).double().eval()
    scores = [evaluate_split(model, split, info, batch_size=bs)["perplexity"] for bs in (2, 3, 5)]
    assert max(scores) - min(scores) < 1e-9, scores

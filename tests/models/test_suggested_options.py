"""from_dataset's defaults come from the data (suggested_options) and land on the bundled recipes."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

import rnnkit.datasets
from rnnkit.bench.accuracy import load_recipe
from rnnkit.data.dataset import DatasetInfo, Example, ExampleList, SequenceDataset
from rnnkit.models import Forecaster, SequenceClassifier, SequenceTagger

ARCHITECTURE = ("cell", "hidden_size", "bidirectional", "pooling", "conv_channels", "conv_kernel_sizes",
                "squeeze_excitation", "input_norm", "embed_dim", "dropout", "ngram_buckets", "ngram_dim",
                "ngram_max")


@pytest.mark.parametrize("name", ["gunpoint", "italy_power_demand", "arrowhead", "japanese_vowels", "sentiment"])
def test_classifier_defaults_are_the_recipes_architecture(name):
    raw, spec, _ = load_recipe(name)
    dataset = rnnkit.datasets.load(name, **spec.data_options)
    config = SequenceClassifier.from_dataset(dataset).config_dict()
    recipe = SequenceClassifier.from_dataset(dataset, **spec.model_options).config_dict()
    for key in ARCHITECTURE:
        assert config[key] == recipe[key], key


def test_forecaster_defaults_take_the_recipes_log_and_seasonal_difference():
    raw, spec, _ = load_recipe("air_passengers")
    dataset = rnnkit.datasets.load("air_passengers", **spec.data_options)
    config = Forecaster.from_dataset(dataset).config_dict()
    assert config["transform"] == spec.model_options["transform"] == "log"
    assert list(config["difference"]) == list(spec.model_options["difference"]) == [12]


def test_given_options_win_and_turning_the_conv_branch_off_drops_its_gate():
    dataset = rnnkit.datasets.load("japanese_vowels")  # multivariate: MLSTM-FCN suggested
    plain = SequenceClassifier.from_dataset(dataset, conv_channels=(), cell="gru", hidden_size=16)
    cfg = plain.config_dict()
    assert cfg["conv_channels"] == () and cfg["squeeze_excitation"] == 0
    assert cfg["cell"] == "gru" and cfg["hidden_size"] == 16 and cfg["input_norm"] is True
    # None (YAML's null, `--set conv_channels=null`) turns it off too
    assert SequenceClassifier.from_dataset(dataset, conv_channels=None).config_dict()["conv_channels"] == ()


def _series_dataset(values: torch.Tensor, *, window: int, horizon: int, season: int) -> SequenceDataset:
    examples = [Example(x=values[s:s + window].unsqueeze(-1), y=values[s + window:s + window + horizon])
                for s in range(0, len(values) - window - horizon + 1, 3)]
    info = DatasetInfo(name="synthetic", shape="forecasting", task="regression", input_kind="features",
                       num_features=1, num_targets=1, horizon=horizon, window=window,
                       extra={"season_length": season})
    return SequenceDataset(info, ExampleList(examples), ExampleList([]), ExampleList([]))


def test_forecaster_suggestions_follow_the_series():
    t = torch.arange(240, dtype=torch.float64)
    season = torch.sin(2 * math.pi * t / 12)
    growing = torch.exp(0.01 * t) * (10 + 2 * season)  # positive, level x2+ per example, seasonal
    assert Forecaster.suggested_options(_series_dataset(growing, window=36, horizon=24, season=12)) == \
        {"transform": "log", "difference": [12]}
    around_zero = season + 0.01 * t  # crosses zero: no log; the season still shows
    assert Forecaster.suggested_options(_series_dataset(around_zero, window=36, horizon=24, season=12)) == \
        {"difference": [12]}
    noise = torch.randn(240, generator=torch.Generator().manual_seed(0)).double()  # no season to difference
    assert Forecaster.suggested_options(_series_dataset(noise, window=36, horizon=24, season=12)) == {}
    flat = 100 + season  # positive but level steady: no log
    assert "transform" not in Forecaster.suggested_options(_series_dataset(flat, window=36, horizon=24, season=12))
    # the Gaussian head takes both (its sample paths are summed back); quantiles take no difference
    ds = _series_dataset(growing, window=36, horizon=24, season=12)
    assert Forecaster.suggested_options(ds, head="gaussian") == {"transform": "log", "difference": [12]}
    assert Forecaster.suggested_options(ds, head="quantile") == {"transform": "log"}
    assert Forecaster.from_dataset(ds, head="quantile").config_dict()["difference"] == ()


def test_a_small_text_set_gets_a_bag_no_larger_than_its_tokens():
    info = DatasetInfo(name="t", shape="many-to-one", task="classification", input_kind="tokens",
                       input_vocab=None, classes=("a", "b"))
    ds = SequenceDataset(info, ExampleList([Example(x=torch.ones(n, dtype=torch.long), y=torch.tensor(0))
                                            for n in (300, 200, 100)]), ExampleList([]), ExampleList([]))
    options = SequenceClassifier.suggested_options(ds)
    assert options["ngram_buckets"] == 1024 and options["pooling"] == "max"  # 600 tokens -> 2**10 rows


@pytest.mark.parametrize("steps, kernels", [(24, (8, 5, 3)), (199, (8, 5, 3)), (200, (32, 16, 8)), (251, (32, 16, 8))])
def test_long_series_get_wider_conv_kernels(steps, kernels):
    info = DatasetInfo(name="s", shape="many-to-one", task="classification", input_kind="features", num_features=1,
                       classes=("a", "b"))
    ds = SequenceDataset(info, ExampleList([Example(x=torch.zeros(n, 1), y=torch.tensor(0)) for n in (10, steps)]),
                         ExampleList([]), ExampleList([]))
    assert SequenceClassifier.suggested_options(ds)["conv_kernel_sizes"] == kernels


def test_regression_keeps_the_constructor_defaults():
    info = DatasetInfo(name="r", shape="many-to-one", task="regression", input_kind="features", num_features=3,
                       num_targets=1)
    ds = SequenceDataset(info, ExampleList([Example(x=torch.zeros(4, 3), y=torch.tensor(0.0))]), ExampleList([]),
                         ExampleList([]))
    assert SequenceClassifier.suggested_options(ds) == {}
    assert SequenceClassifier.from_dataset(ds).config_dict()["conv_channels"] == ()


TAGGER_ARCHITECTURE = ("cell", "embed_dim", "hidden_size", "num_layers", "bidirectional", "dropout", "crf",
                       "bigram_buckets", "bigram_dim", "tag_scheme")


def test_tagger_defaults_are_the_segmentation_recipes_architecture():
    raw, spec, _ = load_recipe("peoples_daily_seg")
    dataset = rnnkit.datasets.load("peoples_daily_seg", **spec.data_options)
    config = SequenceTagger.from_dataset(dataset).config_dict()
    recipe = SequenceTagger.from_dataset(dataset, **spec.model_options).config_dict()
    for key in TAGGER_ARCHITECTURE:
        assert config[key] == recipe[key], key
    assert SequenceTagger.from_dataset(dataset, crf=False, hidden_size=16).config.crf is False  # given options win


def test_tagger_suggestions_size_the_bigram_table_and_leave_frames_alone():
    info = DatasetInfo(name="t", shape="synced", task="tagging", input_kind="tokens", input_vocab=None,
                       classes=("B", "M", "E", "S"))
    tokens = ExampleList([Example(x=torch.ones(n, dtype=torch.long), y=torch.zeros(n, dtype=torch.long))
                          for n in (40, 30)])
    options = SequenceTagger.suggested_options(SequenceDataset(info, tokens, ExampleList([]), ExampleList([])))
    assert options["bigram_buckets"] == 128 and options["crf"] is True  # 70 tokens -> 2**7 rows
    assert "tag_scheme" not in options  # rows of B only break BMES order: no constraint is suggested
    valid = ExampleList([Example(x=torch.ones(3, dtype=torch.long), y=torch.tensor([0, 1, 2]))])  # B M E
    assert SequenceTagger.suggested_options(SequenceDataset(info, valid, ExampleList([]), ExampleList([])))[
        "tag_scheme"] == "BMES"  # the CRF never decodes B after B, or S after M
    frames = dataclasses.replace(info, input_kind="features", num_features=4)
    assert SequenceTagger.suggested_options(SequenceDataset(frames, ExampleList([]), ExampleList([]),
                                                            ExampleList([]))) == {}  # no canvas: not images
    odd = dataclasses.replace(frames, extra={"canvas": 3})  # 9 pixels, not 4: not square frames of it
    assert SequenceTagger.suggested_options(SequenceDataset(odd, ExampleList([]), ExampleList([]),
                                                            ExampleList([]))) == {}


@pytest.mark.parametrize("tags,scheme", [
    (("B", "M", "E", "S"), "BMES"), (("S", "E", "B", "M"), "BMES"), (("O", "B-PER", "I-PER", "B-LOC"), "BIO"),
    (("O", "I-PER"), None), (("n", "v", "a"), None), (("B", "M", "E"), None), ((), None)])
def test_the_tag_scheme_is_read_off_the_tag_names(tags, scheme):
    from rnnkit.models.synced import tag_scheme_of

    assert tag_scheme_of(tags) == scheme


def test_the_scheme_is_suggested_only_when_the_training_tags_keep_it():
    """IOB1 data (a chunk opened by I-) carry BIO names but break BIO order: a constrained CRF could not
    score their gold paths, so no scheme is suggested for them."""
    classes = ("O", "B-PER", "I-PER")
    info = DatasetInfo(name="t", shape="synced", task="tagging", input_kind="tokens", input_vocab=None,
                       classes=classes)

    def suggested(*tag_rows: list[int]) -> str | None:
        rows = ExampleList([Example(x=torch.ones(len(t), dtype=torch.long), y=torch.tensor(t)) for t in tag_rows])
        return SequenceTagger.suggested_options(SequenceDataset(info, rows, ExampleList([]), ExampleList([]))).get(
            "tag_scheme")

    assert suggested([0, 1, 2, 0], [1, 0]) == "BIO"
    assert suggested([0, 1, 2, 0], [0, 2, 2, 0]) is None  # O -> I-PER: IOB1
    assert suggested([2, 0]) is None  # I- first


def test_a_bmes_tagger_from_the_data_decodes_only_valid_segmentations():
    info = DatasetInfo(name="t", shape="synced", task="tagging", input_kind="tokens",
                       input_vocab=rnnkit.data.vocab.Vocab.build([list("abcdef")]), classes=("B", "M", "E", "S"))
    tokens = ExampleList([Example(x=torch.arange(4, 10), y=torch.tensor([0, 2, 3, 0, 1, 2]))])
    dataset = SequenceDataset(info, tokens, ExampleList([]), ExampleList([]))
    torch.manual_seed(0)
    model = SequenceTagger.from_dataset(dataset, hidden_size=8, embed_dim=8, bigram_buckets=0).eval()
    assert model.config.tag_scheme == "BMES"
    with torch.no_grad():  # untrained, random emissions: the constraints alone keep the order
        model.crf.transitions.normal_(0, 5.0)
        tags = model.predict(dataset.collate(list(tokens) * 4))
    allowed = {"B": "ME", "M": "ME", "E": "BS", "S": "BS"}
    for row in tags.tolist():
        names = [info.classes[t] for t in row]
        assert names[0] in "BS" and names[-1] in "ES"
        assert all(b in allowed[a] for a, b in zip(names, names[1:])), names
    assert SequenceTagger.from_dataset(dataset, crf=False, hidden_size=8).config.tag_scheme is None


def test_tagger_defaults_on_video_are_the_moving_digits_recipes_model():
    raw, spec, _ = load_recipe("moving_digits")
    dataset = rnnkit.datasets.load("moving_digits", n_train=20, n_test=4, **spec.data_options)
    config = SequenceTagger.from_dataset(dataset).config_dict()
    recipe = SequenceTagger.from_dataset(dataset, **spec.model_options).config_dict()
    for key in ("cell", "hidden_size", "num_layers", "bidirectional", "dropout", "frame_shape", "conv_channels",
                "embed_dim", "crf"):
        assert config[key] == recipe[key], key
    assert config["frame_shape"] == (1, 16, 16)
    linear = SequenceTagger.from_dataset(dataset, frame_encoder="linear", embed_dim=32).config
    assert linear.frame_shape is None and linear.embed_dim == 32  # the user's choice wins

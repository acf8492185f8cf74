"""SeriesAugment: each transformation does what it says, on valid steps only, and only in training."""

from __future__ import annotations

import pytest
import torch

from rnnkit.data.batch import Batch
from rnnkit.layers.series_augment import SeriesAugment
from rnnkit.models import SequenceClassifier


def ramp(B: int = 3, T: int = 20, F: int = 2) -> torch.Tensor:
    return torch.arange(T, dtype=torch.float32).view(1, T, 1).repeat(B, 1, F)


def test_evaluation_mode_and_no_options_return_the_input_itself():
    x = torch.randn(2, 9, 3)
    assert SeriesAugment()(x) is x
    aug = SeriesAugment(jitter=0.1, warp=0.2)
    aug.eval()
    assert aug(x) is x


def test_padding_is_left_as_it_was_and_valid_steps_change():
    torch.manual_seed(0)
    x = torch.randn(3, 12, 2)
    lengths = torch.tensor([12, 7, 1])
    out = SeriesAugment(jitter=0.1, scale=0.2, warp=0.3, slice=0.2)(x, lengths)
    for b, n in enumerate(lengths.tolist()):
        assert torch.equal(out[b, n:], x[b, n:])
        assert not torch.allclose(out[b, :n], x[b, :n])


@pytest.mark.parametrize("warp,slice", [(0.3, 0.0), (0.0, 0.25), (0.5, 0.3)])
def test_positions_are_monotone_inside_each_series(warp, slice):
    torch.manual_seed(1)
    aug = SeriesAugment(warp=warp, slice=slice)
    lengths = torch.tensor([30, 17, 2, 1])
    pos = aug.positions(lengths, 30)
    for b, n in enumerate(lengths.tolist()):
        p = pos[b, :n]
        assert (p.diff() >= -1e-6).all()
        assert p.min() >= 0 and p.max() <= max(n - 1, 0) + 1e-5
        if n > 1 and slice == 0:  # a warp alone keeps both ends
            assert p[0].item() == pytest.approx(0.0, abs=1e-5)
            assert p[-1].item() == pytest.approx(n - 1, abs=1e-4)
        if n > 1 and warp == 0:  # a slice alone reads an evenly stretched window of (1 - r) of the series
            assert (p[-1] - p[0]).item() == pytest.approx((1 - slice) * (n - 1), rel=1e-5)
            if n > 2:
                assert p.diff().std().item() < 1e-5
        assert torch.equal(pos[b, n:], torch.arange(n, 30, dtype=pos.dtype))


def test_a_ramp_read_at_the_positions_is_the_positions():
    torch.manual_seed(2)
    aug = SeriesAugment(warp=0.4, slice=0.2)
    torch.manual_seed(3)
    pos = aug.positions(torch.tensor([20, 20, 20]), 20)
    torch.manual_seed(3)
    out = aug(ramp())
    assert torch.allclose(out[..., 0], pos, atol=1e-5)
    assert torch.allclose(out[..., 1], pos, atol=1e-5)


def test_scaling_multiplies_each_series_and_feature_by_one_factor():
    torch.manual_seed(4)
    x = torch.rand(4, 10, 3) + 1.0
    out = SeriesAugment(scale=0.3)(x)
    ratio = out / x
    assert torch.allclose(ratio, ratio[:, :1, :].expand_as(ratio), atol=1e-6)
    assert ratio[:, 0, :].std() > 0.05


def test_jitter_adds_noise_of_the_given_spread():
    torch.manual_seed(5)
    x = torch.zeros(64, 200, 1)
    noise = SeriesAugment(jitter=0.05)(x)
    assert noise.std().item() == pytest.approx(0.05, rel=0.05)
    assert abs(noise.mean().item()) < 0.005


@pytest.mark.parametrize("kwargs", [{"jitter": -0.1}, {"scale": float("nan")}, {"warp": -1.0},
                                    {"slice": 1.0}, {"slice": -0.1}])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError, match="augment"):
        SeriesAugment(**kwargs)


def test_integer_series_are_refused():
    with pytest.raises(ValueError, match="float series"):
        SeriesAugment(jitter=0.1)(torch.zeros(2, 5, 1, dtype=torch.long))


def test_the_classifier_augments_training_batches_only():
    torch.manual_seed(6)
    model = SequenceClassifier(num_outputs=2, num_features=1, embed_dim=None, hidden_size=8,
                               augment_jitter=0.5, augment_warp=0.3)
    batch = Batch(x=torch.randn(4, 15, 1), lengths=torch.tensor([15, 12, 9, 3]))
    model.train()
    assert not torch.allclose(model(batch).logits, model(batch).logits)
    model.eval()
    assert torch.equal(model(batch).logits, model(batch).logits)
    cfg = model.config_dict()
    assert cfg["augment_jitter"] == 0.5 and cfg["augment_warp"] == 0.3
    assert SequenceClassifier(**cfg).augment.extra_repr() == model.augment.extra_repr()


def test_token_classifiers_refuse_augmentation():
    with pytest.raises(ValueError, match="token inputs"):
        SequenceClassifier(num_outputs=2, vocab_size=10, augment_jitter=0.1)

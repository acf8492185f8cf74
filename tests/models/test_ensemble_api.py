"""Ensemble's public surface as its members': ``generate`` takes a member's call, evaluation's loss
and perplexity are those of the ensemble's own prediction (the mixture of its members), and its
errors say what to do about an ensemble."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from test_all_shapes import forecasting, language, many_to_many, many_to_one, one_to_many, synced

import rnnkit
from rnnkit.data.batch import Batch
from rnnkit.data.vocab import Vocab
from rnnkit.models import (
    ConditionedGenerator,
    Ensemble,
    Forecaster,
    LanguageModel,
    Seq2Seq,
    SequenceClassifier,
    SequenceTagger,
)
from rnnkit.train.evaluation import evaluate_split


def _ensemble(cls, ds, k=2, **hyper):
    torch.manual_seed(0)
    return Ensemble(members=[cls.from_dataset(ds, **hyper) for _ in range(k)]).eval()


def _same(a, b):
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.lengths, b.lengths)
    torch.testing.assert_close(a.scores, b.scores)


def _evaluate(model, ds):
    return evaluate_split(model, ds.train.examples, ds.info, collate_fn=ds.collate, batch_size=len(ds.train))


# --- generate takes what a member takes ---------------------------------------------------------------
def test_generate_takes_a_conditioned_generators_call():
    model = _ensemble(ConditionedGenerator, one_to_many(), embed_dim=6, cond_size=6, max_length=6)
    cond = torch.randn(3, 4)
    as_batch = Batch(x=None, cond=cond)
    _same(model.generate(cond), model.generate(as_batch))
    _same(model.generate(cond, method="beam", max_length=4, beam_size=3, n_best=2),
          model.generate(as_batch, "beam", max_length=4, beam_size=3, n_best=2))
    banned = model.generate(cond, ban_unk=True, banned=[4, 5])
    _same(banned, model.generate(as_batch, ban_unk=True, banned=[4, 5]))
    assert not set(banned.tokens.flatten().tolist()) & {Vocab.unk_id, 4, 5}
    with pytest.raises(TypeError):  # as the member: no positional arguments after cond
        model.generate(cond, "beam")


def test_generate_takes_a_language_models_call_and_still_does_after_loading(tmp_path):
    ds = language()
    model = _ensemble(LanguageModel, ds, embed_dim=6)
    batch = ds.collate(list(ds.train))
    got = model.generate([5, 6], 10)  # LanguageModel.generate(prompt_ids, max_length, method)
    _same(got, model.generate(Batch(x=torch.tensor([[5, 6]])), max_length=10))
    assert got.tokens.shape[0] == 1 and int(got.lengths.max()) <= 10
    _same(model.generate(batch.x, 7, "beam", prompt_lengths=batch.lengths, beam_size=3),
          model.generate(batch, "beam", max_length=7, beam_size=3))
    sampled = model.generate(torch.tensor([5, 6]), 8, method="sample", ban_unk=True, banned=[7],
                             generator=torch.Generator().manual_seed(0))
    _same(sampled, model.generate(Batch(x=torch.tensor([[5, 6]])), "sample", max_length=8, ban_unk=True,
                                  banned=[7], generator=torch.Generator().manual_seed(0)))
    assert not set(sampled.tokens.flatten().tolist()) & {Vocab.unk_id, 7}
    model.save(tmp_path)
    back = rnnkit.load(tmp_path)
    assert isinstance(back, Ensemble)
    _same(back.generate([5, 6], 10), got)
    with pytest.raises(ValueError, match="prompt_ids must be integer"):
        model.generate([0.5, 1.5])


def test_generate_of_seq2seq_members_takes_a_batch_as_they_do():
    ds = many_to_many()
    model = _ensemble(Seq2Seq, ds, embed_dim=6, max_length=6)
    batch = ds.collate(list(ds.train))
    assert model.generate(batch, "beam", beam_size=2).tokens.shape[0] == batch.size
    with pytest.raises(TypeError, match="Seq2Seq models generates for a Batch"):
        model.generate(batch.x)


# --- evaluation scores the mixture --------------------------------------------------------------------
def _mixture_token_nll(members, batch, targets, mask):
    """-log mean_j p_j(target), averaged over the valid targets, by hand."""
    probs = torch.stack([m(batch).logits.softmax(-1) for m in members]).mean(0)  # (B, T, V)
    nll = -probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1).log()
    return float(nll[mask].mean())


def test_classifier_ensemble_loss_is_the_nll_of_the_mean_probability():
    ds = many_to_one()
    model = _ensemble(SequenceClassifier, ds, k=3, embed_dim=6)
    batch = ds.collate(list(ds.train))
    with torch.no_grad():
        probs = torch.stack([m(batch).logits.softmax(-1) for m in model.members]).mean(0)  # (B, C)
        members_mean = float(torch.stack([m(batch).loss for m in model.members]).mean())
    want = float(-probs[torch.arange(batch.size), batch.y].log().mean())
    got = _evaluate(model, ds)["loss"]
    assert got == pytest.approx(want, rel=1e-5)
    assert got < members_mean  # the members' mean loss, reported before, is more


def test_classifier_ensemble_loss_keeps_the_members_class_weights_and_plain_eval_nll():
    """Twins: the mixture is the member, so the ensemble is scored exactly as the member alone (an
    evaluation loss: without the label smoothing that the members train with)."""
    ds = many_to_one()
    torch.manual_seed(0)
    one = SequenceClassifier.from_dataset(ds, embed_dim=6, label_smoothing=0.2, class_weights=(1.0, 3.0)).eval()
    twin = SequenceClassifier.from_config(one.config)
    twin.load_state_dict(one.state_dict())
    other = SequenceClassifier.from_config(one.config)
    for members in ([one, twin], [one, other]):
        model = Ensemble(members=members).eval()
        batch = ds.collate(list(ds.train))
        with torch.no_grad():
            out = model(batch)
            log_mix = torch.stack([m(batch).logits.softmax(-1) for m in members]).mean(0).log()
        want = F.cross_entropy(log_mix, batch.y, weight=torch.tensor([1.0, 3.0]))
        torch.testing.assert_close(out.extras["mixture_loss"], want)
    assert _evaluate(Ensemble(members=[one, twin]).eval(), ds)["loss"] == pytest.approx(_evaluate(one, ds)["loss"])


def test_language_model_ensemble_perplexity_is_exp_of_the_mixture_nll():
    ds = language()
    model = _ensemble(LanguageModel, ds, embed_dim=6)
    batch = ds.collate(list(ds.train))
    targets = batch.x[:, 1:]
    mask = torch.arange(1, batch.x.shape[1]) < batch.lengths.unsqueeze(1)  # next tokens inside each text
    with torch.no_grad():
        nll = _mixture_token_nll(model.members, batch, targets, mask)
        members_mean = float(torch.stack([m(batch).loss for m in model.members]).mean())
    got = _evaluate(model, ds)
    assert got["loss"] == pytest.approx(nll, rel=1e-5)
    assert got["perplexity"] == pytest.approx(math.exp(nll), rel=1e-5)
    assert got["perplexity"] < math.exp(members_mean)


@pytest.mark.parametrize("kind", ["conditioned", "seq2seq"])
def test_generator_ensemble_loss_is_the_mixture_nll_of_the_target_tokens(kind):
    cls, data, hyper = {"conditioned": (ConditionedGenerator, one_to_many, {"cond_size": 6}),
                        "seq2seq": (Seq2Seq, many_to_many, {})}[kind]
    ds = data()
    model = _ensemble(cls, ds, embed_dim=6, max_length=6, **hyper)
    batch = ds.collate(list(ds.train))
    with torch.no_grad():
        nll = _mixture_token_nll(model.members, batch, batch.y, batch.y_mask())
    got = _evaluate(model, ds)
    assert got["loss"] == pytest.approx(nll, rel=1e-5)
    if kind == "conditioned":
        assert got["perplexity"] == pytest.approx(math.exp(nll), rel=1e-5)


@pytest.mark.parametrize("crf", [False, True])
def test_tagger_ensemble_loss_is_the_mixture_nll(crf):
    ds = synced()
    hyper = {"crf": True} if crf else {}
    model = _ensemble(SequenceTagger, ds, **hyper)
    batch = ds.collate(list(ds.train))
    mask = batch.mask()
    with torch.no_grad():
        if crf:  # the mixture of the members' distributions over whole tag sequences, per valid step
            log_p = torch.stack([-m.crf.nll(m(batch).logits, batch.y, mask, reduction="none") for m in model.members])
            want = float(-(log_p.double().exp().mean(0).log()).sum() / mask.sum())
        else:
            want = _mixture_token_nll(model.members, batch, batch.y, mask)
    assert _evaluate(model, ds)["loss"] == pytest.approx(want, rel=1e-5)


# --- errors that speak of the ensemble -----------------------------------------------------------------
def test_point_forecaster_ensemble_says_its_members_need_a_distribution():
    ds = forecasting()
    model = _ensemble(Forecaster, ds, k=3)
    batch = ds.collate(list(ds.train))
    with pytest.raises(ValueError, match=r"ensemble's 3 members have head='point'.*train the members with "
                                         r"head='gaussian' \(any levels\) or head='quantile'"):
        model.quantiles(batch)
    with pytest.raises(ValueError, match="ensemble's 3 members have head='point': train the members with "
                                         "head='gaussian'"):
        model.sample(batch, 10)


def test_members_given_as_one_model_is_a_short_error():
    ds = many_to_one()
    one = SequenceClassifier.from_dataset(ds, embed_dim=6)
    with pytest.raises(TypeError, match=r"members must be a list of models, got one SequenceClassifier") as info:
        Ensemble(members=one)
    assert len(str(info.value)) < 200 and "\n" not in str(info.value)
    with pytest.raises(TypeError, match="got one dict"):
        Ensemble(members={"class": "SequenceClassifier", "config": {}})


def test_members_of_another_type_is_a_short_error_naming_the_option():
    with pytest.raises(TypeError, match=r"^Ensemble: members must be a list of values, got a Tensor of shape "
                                        r"\(1000, 1000\)") as info:
        Ensemble(members=torch.zeros(1000, 1000))
    assert len(str(info.value)) < 300

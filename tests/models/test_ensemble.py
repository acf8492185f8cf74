"""Ensemble: each member trains as it would alone, predictions are the documented averages of the
members', CRF marginals and constrained decoding agree with brute force, and an ensemble saves,
loads and runs from the command line like any model."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from test_all_shapes import forecasting, language, many_to_many, many_to_one, one_to_many, synced

from rnnkit.data.batch import Batch, Example
from rnnkit.data.dataset import DatasetInfo, ExampleList, SequenceDataset
from rnnkit.decoding import greedy
from rnnkit.layers.crf import CRF, bmes_constraints
from rnnkit.models import (
    ConditionedGenerator,
    Ensemble,
    Forecaster,
    LanguageModel,
    Seq2Seq,
    SequenceClassifier,
    SequenceTagger,
)
from rnnkit.models.ensemble import EnsembleDecoder
from rnnkit.models.io import load_model
from rnnkit.train import Trainer


def _members(cls, ds, k=3, **hyper):
    torch.manual_seed(0)
    return [cls.from_dataset(ds, **hyper) for _ in range(k)]


def _toy_classification(n: int = 96) -> SequenceDataset:
    """Variable-length series; the class is which third the mean of feature 0 falls in."""
    g = torch.Generator().manual_seed(0)
    examples = []
    for _ in range(n):
        x = torch.randn(int(torch.randint(4, 11, (1,), generator=g)), 2, generator=g)
        m = float(x[:, 0].mean())
        examples.append(Example(x=x, y=torch.tensor(0 if m < -0.2 else 1 if m < 0.2 else 2)))
    info = DatasetInfo(name="toy", shape="many-to-one", task="classification", input_kind="features",
                       num_features=2, classes=["low", "mid", "high"], metric="accuracy")
    return SequenceDataset(info, ExampleList(examples[:64]), ExampleList(examples[64:80]),
                           ExampleList(examples[80:]))


def test_classifier_averages_member_probabilities():
    ds = many_to_one()
    members = _members(SequenceClassifier, ds, embed_dim=6)
    model = Ensemble(members=members).eval()
    batch = ds.collate(list(ds.train))
    probs = torch.stack([m.predict_proba(batch) for m in members]).mean(0)
    torch.testing.assert_close(model.predict_proba(batch), probs)
    assert torch.equal(model.predict(batch), probs.argmax(-1))
    out = model(batch)
    torch.testing.assert_close(out.logits.exp(), probs)
    losses = torch.stack([m(batch).loss for m in members])
    torch.testing.assert_close(out.loss, losses.mean())
    torch.testing.assert_close(out.extras["objective"], losses.sum())


def test_each_member_trains_exactly_as_it_would_alone():
    """Sum objective + per-member clipping: a member of an ensemble ends with the weights it gets when
    the same Trainer trains it alone from the same start (no dropout, so no random draws differ).
    The clip is tight enough that a shared clip over all members would change every step."""
    ds = _toy_classification()
    members = _members(SequenceClassifier, ds, k=2, hidden_size=8, embed_dim=None, dropout=0.0, conv_channels=(4, 4, 4))
    alone = [SequenceClassifier.from_config(m.config) for m in members]
    for a, m in zip(alone, members):
        a.load_state_dict(m.state_dict())
    settings = {"epochs": 2, "batch_size": 16, "lr": 0.01, "weight_decay": 0.01, "clip_grad_norm": 0.05,
                "progress": False, "seed": 3, "restore_best": False}
    ens = Ensemble(members=members)
    history = Trainer(**settings).fit(ens, ds)
    for a in alone:
        Trainer(**settings).fit(a, ds)
    for a, m in zip(alone, ens.members):
        for (name, p), q in zip(m.named_parameters(), a.parameters()):
            torch.testing.assert_close(p, q, atol=1e-6, rtol=1e-5, msg=name)
    # the reported training loss is the members' mean, on one model's scale
    assert history.rows[0]["train_loss"] < 2.0


def test_mean_and_median_of_forecasts_and_mixture_samples():
    ds = forecasting()
    members = _members(Forecaster, ds, k=3, head="gaussian")
    batch = ds.collate(list(ds.train))
    each = torch.stack([m.eval().predict(batch) for m in members])  # (k, B, H)
    torch.testing.assert_close(Ensemble(members=members).eval().predict(batch), each.mean(0))
    median = Ensemble(members=members, combine="median").eval()
    torch.testing.assert_close(median.predict(batch), each.median(0).values)
    series = np.random.default_rng(0).normal(50, 10, size=(8, 2)).astype(np.float32)
    got = median.forecast(series)
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, np.median([m.forecast(series) for m in members], axis=0), rtol=1e-6)
    paths = median.sample(batch, 7, generator=torch.Generator().manual_seed(0))
    assert paths.shape == (7, batch.size, 3) and torch.isfinite(paths).all()



def test_quantiles_of_forecasters_average_quantile_heads_and_mix_gaussian_ones():
    ds = forecasting()
    batch = ds.collate(list(ds.train))
    quant = _members(Forecaster, ds, k=3, head="quantile", quantiles=(0.1, 0.5, 0.9))
    each = torch.stack([m.eval().quantiles(batch, [0.9, 0.1]) for m in quant])
    torch.testing.assert_close(Ensemble(members=quant).eval().quantiles(batch, [0.9, 0.1]), each.mean(0))
    gauss = Ensemble(members=_members(Forecaster, ds, k=2, head="gaussian")).eval()
    q = gauss.quantiles(batch, [0.1, 0.9], samples=300, generator=torch.Generator().manual_seed(0))
    paths = gauss.sample(batch, 300, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(q, torch.quantile(paths, torch.tensor([0.1, 0.9]), dim=0).movedim(0, -1))
    with pytest.raises(ValueError, match="different heads"):
        Ensemble(members=[quant[0], gauss.members[0]]).quantiles(batch)
    with pytest.raises(ValueError, match="ensemble's 2 members have head='point', point forecasts without a"):
        Ensemble(members=_members(Forecaster, ds, k=2)).quantiles(batch)


def _brute_marginals(crf: CRF, emissions: torch.Tensor) -> torch.Tensor:
    """P(y_t = k) by enumerating every path of one sequence (T, K)."""
    T, K = emissions.shape
    trans, start, end = crf._potentials(-1e4)
    out = torch.zeros(T, K, dtype=torch.float64)
    weights = []
    for path in itertools.product(range(K), repeat=T):
        s = start[path[0]] + end[path[-1]] + sum(emissions[t, path[t]] for t in range(T))
        s = s + sum(trans[path[t - 1], path[t]] for t in range(1, T))
        weights.append((path, float(s.detach())))
    z = max(w for _, w in weights)
    total = sum(math.exp(w - z) for _, w in weights)
    for path, w in weights:
        for t, k in enumerate(path):
            out[t, k] += math.exp(w - z) / total
    return out


def test_crf_marginals_and_constrained_decoding_match_brute_force():
    tags = ["B", "M", "E", "S"]
    torch.manual_seed(0)
    crf = CRF(4, constraints=bmes_constraints(tags))
    emissions = torch.randn(2, 5, 4)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.bool)
    marg = crf.marginals(emissions, mask)
    for b, n in enumerate((5, 3)):
        torch.testing.assert_close(marg[b, :n].double(), _brute_marginals(crf, emissions[b, :n]), atol=1e-5, rtol=0)
    assert (marg[1, 3:] == 0).all()
    torch.testing.assert_close(marg.sum(-1), mask.float())
    # decode_allowed: the best allowed path of the scores alone (no learnt transitions)
    scores = torch.randn(2, 5, 4)
    best, _ = crf.decode_allowed(scores, mask)
    allowed = crf.allowed
    for b, n in enumerate((5, 3)):
        paths = [p for p in itertools.product(range(4), repeat=n)
                 if crf.allowed_start[p[0]] and crf.allowed_end[p[-1]]
                 and all(allowed[p[t - 1], p[t]] for t in range(1, n))]
        want = max(paths, key=lambda p: sum(float(scores[b, t, p[t]]) for t in range(n)))
        assert best[b, :n].tolist() == list(want)
    assert (best[1, 3:] == 0).all()


@pytest.mark.parametrize("crf", [False, True])
def test_tagger_ensemble_averages_per_step_probabilities(crf):
    ds = synced()
    hyper = {"crf": crf, "tag_scheme": "BIO" if crf else None} if crf else {}
    if crf:
        ds.info.classes = ["O", "B-X", "I-X"]
        hyper["tags"] = ("O", "B-X", "I-X")
    members = _members(SequenceTagger, ds, **hyper)
    model = Ensemble(members=members).eval()
    batch = ds.collate(list(ds.train))
    probs = torch.stack([m.eval().predict_proba(batch) for m in members]).mean(0)
    torch.testing.assert_close(model.predict_proba(batch), probs)
    pred, mask = model.predict(batch), batch.mask()
    for m in members:  # each member's own probabilities: rows of 1 on valid steps, 0 on padding
        torch.testing.assert_close(m.predict_proba(batch).sum(-1), mask.float())
    if not crf:
        assert torch.equal(members[0].predict_proba(batch).argmax(-1).masked_fill(~mask, 0), members[0].predict(batch))
    assert (pred[~mask] == 0).all()
    if crf:
        want = members[0].crf.decode_allowed(probs.clamp_min(1e-30).log(), mask)[0]
        assert torch.equal(pred, want)
        for row, n in zip(pred.tolist(), batch.lengths.tolist()):  # BIO: I-X never follows O or starts
            assert all(not (row[t] == 2 and (t == 0 or row[t - 1] == 0)) for t in range(n))
    else:
        assert torch.equal(pred, probs.argmax(-1).masked_fill(~mask, 0))


def test_ensemble_decoder_step_is_the_log_of_the_mean_probability():
    ds = one_to_many()
    members = [m.eval() for m in _members(ConditionedGenerator, ds, embed_dim=6, cond_size=6, max_length=6)]
    cond = torch.randn(4, 4)
    dec = EnsembleDecoder(members)
    state = tuple(m.init_state(cond) for m in members)
    tokens = torch.full((4,), members[0].config.bos_id)
    mixed, state2 = dec.step(tokens, state)
    each = torch.stack([m.step(tokens, s)[0] for m, s in zip(members, state)]).exp().mean(0).log()
    torch.testing.assert_close(mixed, each)
    torch.testing.assert_close(mixed.exp().sum(-1), torch.ones(4))
    assert dec.batch_size(state2) == 4
    reordered = dec.reorder(state2, torch.tensor([1, 1]))
    assert dec.batch_size(reordered) == 2


@pytest.mark.parametrize("kind", ["conditioned", "seq2seq", "lm"])
def test_an_ensemble_of_identical_generators_generates_what_one_does(kind):
    """Mean of k equal distributions = the distribution: greedy and beam output equal one member's."""
    make = {"conditioned": (ConditionedGenerator, one_to_many, {"embed_dim": 6, "cond_size": 6, "max_length": 6}),
            "seq2seq": (Seq2Seq, many_to_many, {"embed_dim": 6, "max_length": 6}),
            "lm": (LanguageModel, language, {"embed_dim": 6})}[kind]
    cls, data, hyper = make
    ds = data()
    torch.manual_seed(0)
    one = cls.from_dataset(ds, **hyper).eval()
    twin = cls.from_config(one.config)
    twin.load_state_dict(one.state_dict())
    model = Ensemble(members=[one, twin]).eval()
    batch = ds.collate(list(ds.train))
    if kind == "conditioned":
        want, want_beam = one.generate(batch.cond), one.generate(batch.cond, method="beam", beam_size=3)
    elif kind == "seq2seq":
        want, want_beam = one.generate(batch), one.generate(batch, method="beam", beam_size=3)
    else:
        want = one.generate(batch.x, prompt_lengths=batch.lengths, max_length=50)
        want_beam = one.generate(batch.x, prompt_lengths=batch.lengths, max_length=50, method="beam", beam_size=3)
    got = model.predict(batch)
    assert torch.equal(got.tokens, want.tokens) and torch.equal(got.lengths, want.lengths)
    torch.testing.assert_close(got.scores, want.scores, atol=1e-4, rtol=1e-4)
    beam = model.generate(batch, method="beam", beam_size=3)
    assert torch.equal(beam.tokens, want_beam.tokens)


def test_greedy_over_two_different_generators_follows_the_mixture():
    ds = one_to_many()
    members = [m.eval() for m in _members(ConditionedGenerator, ds, k=2, embed_dim=6, cond_size=6, max_length=6)]
    cond = torch.randn(3, 4)
    got = Ensemble(members=members).eval().generate(Batch(x=None, cond=cond))
    c = members[0].config
    want = greedy(EnsembleDecoder(members), tuple(m.init_state(cond) for m in members), bos=c.bos_id,
                  eos=c.eos_id, max_length=c.max_length)
    assert torch.equal(got.tokens, want.tokens)


def test_saves_and_loads_as_one_model(tmp_path):
    ds = many_to_one()
    model = Ensemble(members=_members(SequenceClassifier, ds, embed_dim=6, conv_channels=(4, 4, 4))).eval()
    model.save(tmp_path)
    back = load_model(tmp_path)
    assert isinstance(back, Ensemble) and len(back.members) == 3
    assert back.members[1].config == model.members[1].config  # tuples come back as tuples
    batch = ds.collate(list(ds.train))
    torch.testing.assert_close(back.predict_proba(batch), model.predict_proba(batch))


def test_members_must_agree():
    ds = many_to_one()
    a = SequenceClassifier.from_dataset(ds, embed_dim=6)
    with pytest.raises(ValueError, match="one class"):
        Ensemble(members=[a, SequenceTagger.from_dataset(synced())])
    with pytest.raises(ValueError, match="num_outputs"):
        Ensemble(members=[a, SequenceClassifier(num_outputs=5, vocab_size=a.config.vocab_size)])
    with pytest.raises(ValueError, match="non-empty"):
        Ensemble(members=[])
    with pytest.raises(ValueError, match="combine"):
        Ensemble(members=[a], combine="vote")
    with pytest.raises(ValueError, match="cannot be an Ensemble"):
        Ensemble(members=[Ensemble(members=[a])])
    with pytest.raises(ValueError, match="size"):
        Ensemble.from_dataset(ds, size=0)
    with pytest.raises(ValueError, match="generators"):
        Ensemble(members=[a]).generate(ds.collate(list(ds.train)))


def test_from_dataset_builds_distinct_members():
    ds = many_to_one()
    torch.manual_seed(0)
    model = Ensemble.from_dataset(ds, size=2, model="SequenceClassifier", embed_dim=6)
    p0, p1 = (next(m.parameters()) for m in model.members)
    assert not torch.equal(p0, p1)


def test_an_even_median_averages_the_two_middle_forecasts_and_quantiles_pair_levels_by_value():
    """torch's median of two members was the smaller forecast; the default quantiles of members whose
    heads list their levels in other orders were averaged by position (a 0.1 with a 0.9)."""
    from rnnkit.models import Ensemble, Forecaster

    torch.manual_seed(0)
    t = torch.arange(40.0)
    batch = Batch(x=(100 + 20 * torch.sin(t / 2) + t)[None, :, None].repeat(2, 1, 1), lengths=torch.tensor([40, 33]))
    for k in (2, 4):
        members = [Forecaster(horizon=4, hidden_size=6) for _ in range(k)]
        forecasts = torch.stack([m.eval().predict(batch) for m in members])
        got = Ensemble(members=members, combine="median").eval().predict(batch)
        torch.testing.assert_close(got, torch.from_numpy(np.median(forecasts.numpy(), axis=0)))
    ordered = Forecaster(horizon=4, hidden_size=6, head="quantile", quantiles=(0.1, 0.5, 0.9)).eval()
    shuffled = Forecaster(horizon=4, hidden_size=6, head="quantile", quantiles=(0.9, 0.1, 0.5)).eval()
    both = Ensemble(members=[ordered, shuffled]).eval()
    want = (ordered.quantiles(batch, [0.1, 0.5, 0.9]) + shuffled.quantiles(batch, [0.1, 0.5, 0.9])) / 2
    torch.testing.assert_close(both.quantiles(batch), want)

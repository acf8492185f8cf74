"""``generate(..., ban_unk=True)`` on every generating model: an untrained model whose output bias
favours ``<unk>`` emits it by default (ban_unk is off, as OpenNMT's) and never with the ban."""

from __future__ import annotations

import pytest
import torch

from rnnkit.data.batch import Batch
from rnnkit.data.vocab import Vocab
from rnnkit.models import ConditionedGenerator, Ensemble, LanguageModel, Seq2Seq

UNK = Vocab.unk_id
METHODS = ["greedy", "beam", "sample"]


def favour_unk(head: torch.nn.Linear) -> None:
    with torch.no_grad():
        head.bias[UNK] = 8.0


def seq2seq() -> tuple[Seq2Seq, Batch]:
    torch.manual_seed(0)
    model = Seq2Seq(src_vocab_size=10, tgt_vocab_size=10, embed_dim=6, hidden_size=8, max_length=6)
    favour_unk(model.decoder.out)
    return model, Batch(x=torch.randint(4, 10, (3, 5)), lengths=torch.tensor([5, 4, 2]))


def language_model(seed: int = 0) -> LanguageModel:
    torch.manual_seed(seed)
    model = LanguageModel(vocab_size=10, embed_dim=6, hidden_size=8)
    favour_unk(model.head)
    return model


def conditioned() -> ConditionedGenerator:
    torch.manual_seed(0)
    model = ConditionedGenerator(vocab_size=10, cond_shape=(4,), embed_dim=6, hidden_size=8, cond_size=6,
                                 max_length=6)
    favour_unk(model.head)
    return model


def tokens(out) -> list[int]:
    return [t for rows in out.sequences() for seq in rows for t in seq]


def options(method: str) -> dict[str, object]:
    return {"generator": torch.Generator().manual_seed(0)} if method == "sample" else {}


@pytest.mark.parametrize("method", METHODS)
def test_seq2seq_bans_unk_on_request(method):
    model, batch = seq2seq()
    assert UNK in tokens(model.generate(batch, method=method, **options(method)))
    banned = model.generate(batch, method=method, ban_unk=True, **options(method))
    assert UNK not in tokens(banned) and tokens(banned)


@pytest.mark.parametrize("method", METHODS)
def test_language_model_bans_unk_on_request(method):
    model = language_model()
    prompts = torch.tensor([[4, 5, 6], [7, 8, 0]])
    kw = {"max_length": 6, "method": method, "prompt_lengths": torch.tensor([3, 2]), **options(method)}
    assert UNK in tokens(model.generate(prompts, **kw))
    kw = {**kw, **options(method)}  # a fresh generator
    banned = model.generate(prompts, ban_unk=True, **kw)
    assert UNK not in tokens(banned) and tokens(banned)


@pytest.mark.parametrize("method", METHODS)
def test_conditioned_generator_bans_unk_on_request(method):
    model = conditioned()
    cond = torch.randn(3, 4)
    assert UNK in tokens(model.generate(cond, method=method, **options(method)))
    banned = model.generate(cond, method=method, ban_unk=True, **options(method))
    assert UNK not in tokens(banned) and tokens(banned)


def test_an_ensemble_passes_ban_unk_on_and_banned_ids_reach_the_strategy():
    members = [language_model(0), language_model(1)]
    model = Ensemble(members=members).eval()
    batch = Batch(x=torch.tensor([[4, 5, 6]]), lengths=torch.tensor([3]))
    assert UNK in tokens(model.generate(batch, max_length=5))
    assert UNK not in tokens(model.generate(batch, max_length=5, ban_unk=True))
    lm = members[0]
    both = lm.generate([4, 5, 6], max_length=5, ban_unk=True, banned=[4])
    assert not {UNK, 4} & set(tokens(both))


def test_ban_unk_is_refused_where_unk_is_the_end_token():
    model = LanguageModel(vocab_size=10, embed_dim=6, hidden_size=8, eos_id=UNK)
    with pytest.raises(ValueError, match="eos"):
        model.generate([4, 5], max_length=3, ban_unk=True)


@pytest.mark.parametrize("special", [Vocab.pad_id, Vocab.bos_id])
def test_pad_and_bos_are_never_generated(special):
    """Neither is an output (pad fills the tokens past each length, bos only starts), so generate bans
    both always; the decoder's own arg-max, decoded without a ban, would emit them."""
    from rnnkit.decoding import greedy

    model = language_model()
    with torch.no_grad():
        model.head.bias[UNK] = 0.0
        model.head.bias[special] = 8.0
    prompts = torch.tensor([[4, 5, 6]])
    with torch.no_grad():
        raw = greedy(model, model.prompt_state(prompts), bos=Vocab.bos_id, eos=Vocab.eos_id, max_length=6)
    assert special in tokens(raw)
    for method in METHODS:
        out = model.generate(prompts, max_length=6, method=method, **options(method))
        assert special not in tokens(out) and tokens(out), method


def test_seq2seq_forward_without_targets_feeds_what_generate_chooses():
    model, batch = seq2seq()
    with torch.no_grad():
        model.decoder.out.bias[UNK] = 0.0
        model.decoder.out.bias[Vocab.pad_id] = 8.0
    model.eval()
    g = model.generate(batch)
    assert Vocab.pad_id not in tokens(g)
    with torch.no_grad():
        free = model(Batch(x=batch.x, lengths=batch.lengths)).logits
        forced = model(Batch(x=batch.x, lengths=batch.lengths, y=g.tokens[:, 0], y_lengths=g.lengths[:, 0])).logits
    for b, n in enumerate(g.lengths[:, 0].tolist()):
        torch.testing.assert_close(free[b, :n], forced[b, :n], atol=1e-5, rtol=0)


@pytest.mark.parametrize("build", ["seq2seq", "language_model", "conditioned", "ensemble"])
def test_a_banned_id_outside_the_vocabulary_is_refused_naming_its_size(build):
    """A model knows its vocabulary, so ``banned=[10]`` with 10 ids is a mistake (another vocabulary's
    id, an off-by-one) rather than silently nothing banned."""
    if build == "seq2seq":
        model, batch = seq2seq()
        call = lambda **kw: model.generate(batch, **kw)  # noqa: E731
    elif build == "conditioned":
        model = conditioned()
        call = lambda **kw: model.generate(torch.randn(2, 4), **kw)  # noqa: E731
    else:
        model = language_model() if build == "language_model" else Ensemble(members=[language_model(0),
                                                                                      language_model(1)])
        prompt = Batch(x=torch.tensor([[4, 5, 6]]), lengths=torch.tensor([3])) if build == "ensemble" else [4, 5, 6]
        call = lambda **kw: model.generate(prompt, max_length=4, **kw)  # noqa: E731
    for method in METHODS:
        with pytest.raises(ValueError, match=r"banned token id 10 is outside the vocabulary of 10 ids \(0 to 9\)"):
            call(method=method, banned=[4, 10], **options(method))
    assert 9 not in tokens(call(banned=[9]))

"""Attention: weights are a distribution over valid positions only; padding never leaks in."""

from __future__ import annotations

import pytest
import torch

from rnnkit.layers.attention import Attention, masked_softmax

KINDS = ["additive", "dot", "general"]


def make(kind: str) -> Attention:
    torch.manual_seed(0)
    return Attention(kind, query_size=8, key_size=8 if kind == "dot" else 6, scaled=kind == "dot")


@pytest.mark.parametrize("kind", KINDS)
def test_weights_sum_to_one_on_valid_positions_and_zero_on_padding(kind):
    att = make(kind)
    keys = torch.randn(3, 5, att.key_size)
    lengths = torch.tensor([5, 2, 1])
    mask = torch.arange(5) < lengths[:, None]
    for query in (torch.randn(3, 8), torch.randn(3, 4, 8)):
        out = att(query, keys, mask=mask)
        w = out.weights if out.weights.dim() == 3 else out.weights.unsqueeze(1)
        torch.testing.assert_close(w.sum(-1), torch.ones(w.shape[:2]))
        assert (w.masked_select(~mask[:, None, :].expand_as(w)) == 0).all(), "exactly 0 on padding"
        assert out.context.shape == (*query.shape[:-1], att.key_size)


@pytest.mark.parametrize("kind", KINDS)
def test_padding_content_never_changes_the_context(kind):
    att = make(kind)
    keys = torch.randn(2, 6, att.key_size)
    mask = torch.tensor([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    query = torch.randn(2, 8)
    base = att(query, keys, mask=mask)
    noisy = keys.clone()
    noisy[0, 3:] = 1e3 * torch.randn(3, att.key_size)
    again = att(query, noisy, mask=mask)
    torch.testing.assert_close(base.context, again.context)
    # and equals running the first row alone, trimmed to its length
    alone = att(query[:1], keys[:1, :3], mask=mask[:1, :3])
    torch.testing.assert_close(alone.context, base.context[:1])
    torch.testing.assert_close(alone.weights, base.weights[:1, :3])


def test_scores_match_their_equations():
    torch.manual_seed(1)
    q, k = torch.randn(2, 4), torch.randn(2, 3, 4)
    dot = Attention("dot", 4)
    torch.testing.assert_close(dot(q, k).weights, torch.einsum("bd,bsd->bs", q, k).softmax(-1))
    gen = Attention("general", 4, 4)
    W = gen.key_proj.weight
    torch.testing.assert_close(gen(q, k).weights, torch.einsum("bd,de,bse->bs", q, W, k).softmax(-1))
    add = Attention("additive", 4, 4, hidden_size=5)
    e = torch.tanh(add.query_proj(q)[:, None] + add.key_proj(k)) @ add.v.weight.squeeze(0)
    torch.testing.assert_close(add(q, k).weights, e.softmax(-1))


def test_prepared_keys_give_the_same_answer_and_gradients_flow():
    att = make("additive")
    q, k = torch.randn(2, 8, requires_grad=True), torch.randn(2, 5, 6)
    torch.testing.assert_close(att(q, k).context, att(q, k, prepared=att.prepare(k)).context)
    att(q, k).context.sum().backward()
    assert q.grad is not None and torch.isfinite(q.grad).all()


def test_all_padding_row_gives_zero_weights_not_nan():
    w = masked_softmax(torch.randn(2, 3), torch.tensor([[True, False, False], [False, False, False]]))
    assert w.tolist()[1] == [0.0, 0.0, 0.0] and w[0, 0] == 1.0


def test_bad_configuration_is_explained():
    with pytest.raises(ValueError, match="kind"):
        Attention("cosine", 4)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="general"):
        Attention("dot", 4, 5)
    with pytest.raises(ValueError, match="query has size"):
        Attention("dot", 4)(torch.randn(1, 3), torch.randn(1, 2, 4))

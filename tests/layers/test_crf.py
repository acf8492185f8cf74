"""CRF: forward algorithm and Viterbi against brute-force enumeration; constraints hold."""

from __future__ import annotations

import itertools

import pytest
import torch

from rnnkit.layers.crf import CRF, Constraints, bio_constraints, bmes_constraints, scheme_constraints


@torch.no_grad()
def brute_score(crf: CRF, emissions: torch.Tensor, tags: tuple[int, ...]) -> float:
    s = float(crf.start_transitions[tags[0]] + emissions[0, tags[0]])
    for t in range(1, len(tags)):
        s += float(crf.transitions[tags[t - 1], tags[t]] + emissions[t, tags[t]])
    return s + float(crf.end_transitions[tags[-1]])


def allowed_path(c: Constraints, tags: tuple[int, ...]) -> bool:
    ok = c.start is None or bool(c.start[tags[0]])
    ok = ok and (c.end is None or bool(c.end[tags[-1]]))
    return ok and all(bool(c.transitions[a, b]) for a, b in zip(tags, tags[1:]))


def setup(constraints: Constraints | None = None, K: int = 3, seed: int = 0):
    torch.manual_seed(seed)
    crf = CRF(K, constraints=constraints).double()
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_()
    emissions = torch.randn(3, 4, K, dtype=torch.float64) * 2
    lengths = torch.tensor([4, 2, 1])
    mask = torch.arange(4) < lengths[:, None]
    return crf, emissions, lengths, mask


@pytest.mark.parametrize("constrained", [False, True])
def test_log_partition_and_viterbi_equal_brute_force(constrained):
    c = bio_constraints(["O", "B-X", "I-X"]) if constrained else None
    crf, emissions, lengths, mask = setup(c)
    log_z = crf.log_partition(emissions, mask)
    best, best_score = crf.decode(emissions, mask)
    for b, n in enumerate(lengths.tolist()):
        paths = [p for p in itertools.product(range(3), repeat=n) if c is None or allowed_path(c, p)]
        scores = torch.tensor([brute_score(crf, emissions[b], p) for p in paths], dtype=torch.float64)
        assert log_z[b].item() == pytest.approx(torch.logsumexp(scores, 0).item(), abs=1e-9)
        assert tuple(best[b, :n].tolist()) == paths[int(scores.argmax())]
        assert best_score[b].item() == pytest.approx(scores.max().item(), abs=1e-9)
        assert (best[b, n:] == 0).all()


def test_nll_is_a_normalised_distribution_over_tag_sequences():
    crf, emissions, _, _ = setup()
    e, mask = emissions[:1, :3], torch.ones(1, 3, dtype=torch.bool)
    paths = torch.tensor(list(itertools.product(range(3), repeat=3)))
    nll = crf.nll(e.expand(len(paths), -1, -1), paths, mask.expand(len(paths), -1), reduction="none")
    assert (nll > 0).all()
    assert torch.exp(-nll).sum().item() == pytest.approx(1.0, abs=1e-9)


def test_padding_never_changes_loss_or_path():
    crf, emissions, _, mask = setup()
    tags = torch.randint(0, 3, (3, 4)) * mask
    noisy = emissions.clone()
    noisy[~mask] = 100 * torch.randn(int((~mask).sum()), 3, dtype=torch.float64)
    torch.testing.assert_close(crf.nll(emissions, tags, mask, reduction="none"),
                               crf.nll(noisy, tags, mask, reduction="none"))
    assert torch.equal(crf.decode(emissions, mask)[0], crf.decode(noisy, mask)[0])
    # the gradient of log Z is the tag marginals: 1 per valid step, 0 on padding
    e = emissions.clone().requires_grad_()
    crf.log_partition(e, mask).sum().backward()
    torch.testing.assert_close(e.grad.sum(-1), mask.double())


@pytest.mark.parametrize("scheme", ["BIO", "BMES"])
def test_constrained_transitions_are_never_decoded(scheme):
    tags = ["O", "B-A", "I-A", "B-B", "I-B"] if scheme == "BIO" else ["B", "M", "E", "S"]
    c = scheme_constraints(tags, scheme)  # type: ignore[arg-type]
    K = len(tags)
    torch.manual_seed(3)
    crf = CRF(K, constraints=c)
    with torch.no_grad():
        crf.transitions.normal_(0, 5)  # strong pull towards forbidden moves
    emissions = torch.randn(64, 9, K) * 6
    lengths = torch.randint(1, 10, (64,))
    mask = torch.arange(9) < lengths[:, None]
    best, score = crf.decode(emissions, mask)
    assert torch.isfinite(score).all()
    for b, n in enumerate(lengths.tolist()):
        assert allowed_path(c, tuple(best[b, :n].tolist())), best[b, :n].tolist()
    # and the loss is finite and trainable even with a forbidden gold path
    gold = torch.randint(0, K, (64, 9)) * mask  # random paths: most break a constraint
    loss = crf.nll(emissions, gold, mask, reduction="token_mean")
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(crf.transitions.grad).all()


def test_scheme_rules():
    bio = bio_constraints(["O", "B-P", "I-P", "I-L"])
    assert bio.transitions[1, 2] and bio.transitions[2, 2] and not bio.transitions[0, 2]
    assert not bio.transitions[1, 3] and not bio.start[2] and bio.start[1]
    bmes = bmes_constraints(["B", "M", "E", "S"])
    assert bmes.transitions[0, 1] and bmes.transitions[0, 2] and not bmes.transitions[0, 3]
    assert bmes.transitions[2, 0] and not bmes.transitions[2, 1]
    assert bmes.start.tolist() == [True, False, False, True] and bmes.end.tolist() == [False, False, True, True]
    with pytest.raises(ValueError, match="not a BIO tag"):
        bio_constraints(["X-P"])
    with pytest.raises(ValueError, match="scheme"):
        scheme_constraints(["O"], "IOBES")  # type: ignore[arg-type]


def test_bad_inputs_are_explained():
    crf = CRF(3)
    with pytest.raises(ValueError, match=r"emissions must be \(B, T, 3\)"):
        crf.decode(torch.randn(2, 4, 5))
    with pytest.raises(ValueError, match="tag ids"):
        crf.nll(torch.randn(1, 2, 3), torch.tensor([[0, 7]]))
    with pytest.raises(ValueError, match="at least one valid step"):
        crf.nll(torch.randn(1, 2, 3), torch.tensor([[0, 1]]), torch.tensor([[False, False]]))


def test_float64_marginals_keep_float64_precision():
    """marginals ran in float32 whatever the emissions' dtype: at emissions near 1000 a float64 posterior
    was off by 7e-6."""
    crf = CRF(2).double()
    with torch.no_grad():
        for p in crf.parameters():
            p.zero_()
    e = torch.tensor([[[1000.0, 1000.03]]], dtype=torch.float64)
    exact = torch.softmax(e[0, 0], -1)
    got = crf.marginals(e)
    assert got.dtype == torch.float64
    torch.testing.assert_close(got[0, 0], exact, rtol=0, atol=1e-12)

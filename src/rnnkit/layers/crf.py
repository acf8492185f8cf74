"""Linear-chain conditional random field: NLL by the forward algorithm, Viterbi decoding,
and transition constraints (e.g. BIO or BMES tag sets) that decoding never breaks.

Lafferty et al. 2001; the score of tags ``y`` for emissions ``e`` over ``n`` valid steps is
``start[y_0] + sum_t e[t, y_t] + sum_{t>0} trans[y_{t-1}, y_t] + end[y_{n-1}]`` and
``log Z = logsumexp`` of that over every tag sequence.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

import torch
from torch import Tensor, nn

# A forbidden transition costs this much in the (differentiable) partition function: finite, so
# gradients stay finite; Viterbi uses -inf so a forbidden transition is never decoded.
FORBIDDEN = -10_000.0


class Constraints(NamedTuple):
    """Allowed transitions: ``transitions[i, j]`` (K, K) bool allows tag i -> tag j; ``start`` /
    ``end`` (K,) bool allow a tag first / last (None = all allowed)."""

    transitions: Tensor
    start: Tensor | None = None
    end: Tensor | None = None


def _split(tag: str) -> tuple[str, str]:
    """``"B-PER" -> ("B", "PER")``; ``"O" -> ("O", "")``; ``"S" -> ("S", "")``."""
    prefix, _, kind = tag.partition("-")
    return prefix.upper(), kind


def bio_constraints(tags: Sequence[str]) -> Constraints:
    """BIO (IOB2): ``I-X`` only after ``B-X`` or ``I-X``, and never first.

    Example:
        >>> c = bio_constraints(["O", "B-PER", "I-PER"])
        >>> c.transitions[0, 2].item()  # O -> I-PER
        False
    """
    parts = [_split(t) for t in tags]
    for t, (p, _) in zip(tags, parts):
        if p not in ("B", "I", "O"):
            raise ValueError(f"tag {t!r} is not a BIO tag; expected 'O', 'B-<type>' or 'I-<type>'")
    K = len(tags)
    allowed = torch.ones(K, K, dtype=torch.bool)
    start = torch.ones(K, dtype=torch.bool)
    for j, (pj, kj) in enumerate(parts):
        if pj == "I":
            start[j] = False
            for i, (pi, ki) in enumerate(parts):
                allowed[i, j] = pi in ("B", "I") and ki == kj
    return Constraints(allowed, start, torch.ones(K, dtype=torch.bool))


def bmes_constraints(tags: Sequence[str]) -> Constraints:
    """BMES (begin, middle, end, single; plus optional ``O``), typed (``B-X``) or not (``B``).

    ``B-X`` and ``M-X`` continue with ``M-X`` or ``E-X``; ``E``, ``S``, ``O`` and the start are
    followed by ``B``, ``S`` or ``O``; a sequence ends on ``E``, ``S`` or ``O``.
    """
    parts = [_split(t) for t in tags]
    for t, (p, _) in zip(tags, parts):
        if p not in ("B", "M", "E", "S", "O"):
            raise ValueError(f"tag {t!r} is not a BMES tag; expected B, M, E, S (optionally '-<type>') or O")
    K = len(tags)
    allowed = torch.zeros(K, K, dtype=torch.bool)
    for i, (pi, ki) in enumerate(parts):
        for j, (pj, kj) in enumerate(parts):
            if pi in ("B", "M"):
                allowed[i, j] = pj in ("M", "E") and ki == kj
            else:
                allowed[i, j] = pj in ("B", "S", "O")
    start = torch.tensor([p in ("B", "S", "O") for p, _ in parts])
    end = torch.tensor([p in ("E", "S", "O") for p, _ in parts])
    return Constraints(allowed, start, end)


def scheme_constraints(tags: Sequence[str], scheme: Literal["BIO", "BMES"]) -> Constraints:
    """Constraints for a named tagging scheme."""
    builders = {"BIO": bio_constraints, "BMES": bmes_constraints}
    if scheme.upper() not in builders:
        raise ValueError(f"unknown tagging scheme {scheme!r}; choose one of {sorted(builders)}")
    return builders[scheme.upper()](tags)


class CRF(nn.Module):
    """Linear-chain CRF over per-step emission scores.

    Args:
        num_tags: K.
        constraints: optional :class:`Constraints`; forbidden transitions are never decoded.

    Shape:
        emissions ``(B, T, K)``; tags ``(B, T)`` int64; mask ``(B, T)`` bool, True on valid steps
        (right padding; every sequence has at least one step). ``nll`` -> ``()`` (or ``(B,)`` with
        ``reduction="none"``); ``decode`` -> tags ``(B, T)`` (0 on padding), scores ``(B,)``.

    Example:
        >>> crf = CRF(3, constraints=bio_constraints(["O", "B-X", "I-X"]))
        >>> loss = crf.nll(emissions, tags, mask)
        >>> best, score = crf.decode(emissions, mask)
    """

    def __init__(self, num_tags: int, *, constraints: Constraints | None = None) -> None:
        super().__init__()
        if num_tags < 1:
            raise ValueError(f"num_tags must be >= 1, got {num_tags}")
        self.num_tags = num_tags
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags).uniform_(-0.1, 0.1))
        self.start_transitions = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))
        self.end_transitions = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))
        ones = torch.ones(num_tags, dtype=torch.bool)
        c = constraints or Constraints(torch.ones(num_tags, num_tags, dtype=torch.bool))
        if tuple(c.transitions.shape) != (num_tags, num_tags):
            raise ValueError(f"constraints.transitions must be ({num_tags}, {num_tags}), "
                             f"got {tuple(c.transitions.shape)}")
        self.register_buffer("allowed", c.transitions.bool().clone())
        self.register_buffer("allowed_start", (ones if c.start is None else c.start.bool()).clone())
        self.register_buffer("allowed_end", (ones if c.end is None else c.end.bool()).clone())

    allowed: Tensor
    allowed_start: Tensor
    allowed_end: Tensor

    def viterbi_potentials(self) -> tuple[Tensor, Tensor, Tensor]:
        """The scores that :meth:`decode` adds to the emissions, ``-inf`` where the constraints forbid:
        transitions ``(K, K)`` indexed [previous, next], start ``(K,)`` and end ``(K,)`` (an exported
        tagger returns emissions; these decode them outside rnnkit)."""
        return tuple(t.detach() for t in self._potentials(float("-inf")))  # type: ignore[return-value]

    def _potentials(self, forbidden: float) -> tuple[Tensor, Tensor, Tensor]:
        trans = self.transitions.masked_fill(~self.allowed, forbidden)
        start = self.start_transitions.masked_fill(~self.allowed_start, forbidden)
        end = self.end_transitions.masked_fill(~self.allowed_end, forbidden)
        return trans, start, end

    def _check(self, emissions: Tensor, mask: Tensor | None) -> Tensor:
        if emissions.dim() != 3 or emissions.shape[-1] != self.num_tags:
            raise ValueError(f"emissions must be (B, T, {self.num_tags}), got {tuple(emissions.shape)}")
        if mask is None:
            return torch.ones(emissions.shape[:2], dtype=torch.bool, device=emissions.device)
        if mask.shape != emissions.shape[:2]:
            raise ValueError(f"mask must be (B, T) = {tuple(emissions.shape[:2])}, got {tuple(mask.shape)}")
        if not bool(mask[:, 0].all()):
            raise ValueError("every sequence needs at least one valid step (mask[:, 0] must be True)")
        return mask.bool()

    def log_partition(self, emissions: Tensor, mask: Tensor | None = None) -> Tensor:
        """``log Z`` by the forward algorithm. Returns ``(B,)``."""
        mask = self._check(emissions, mask)
        trans, start, end = self._potentials(FORBIDDEN)
        steps, valid = emissions.unbind(1), mask.unbind(1)
        alpha = start + steps[0]  # (B, K)
        for e_t, m_t in zip(steps[1:], valid[1:]):
            nxt = torch.logsumexp(alpha.unsqueeze(2) + trans, dim=1) + e_t  # (B, K)
            alpha = torch.where(m_t.unsqueeze(1), nxt, alpha)
        return torch.logsumexp(alpha + end, dim=1)

    def score(self, emissions: Tensor, tags: Tensor, mask: Tensor | None = None) -> Tensor:
        """The unnormalised score of the given tag sequences. Returns ``(B,)``."""
        mask = self._check(emissions, mask)
        if tags.shape != mask.shape:
            raise ValueError(f"tags must be (B, T) = {tuple(mask.shape)}, got {tuple(tags.shape)}")
        valid_tags = tags.masked_select(mask)
        if valid_tags.numel() and (int(valid_tags.min()) < 0 or int(valid_tags.max()) >= self.num_tags):
            raise ValueError(f"tag ids must be in [0, {self.num_tags}), got min {int(valid_tags.min())}, "
                             f"max {int(valid_tags.max())}")
        tags = tags.masked_fill(~mask, 0)
        trans, start, end = self._potentials(FORBIDDEN)
        emit = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)  # (B, T)
        pair = trans[tags[:, :-1], tags[:, 1:]]  # (B, T-1)
        total = start[tags[:, 0]] + (emit * mask).sum(1) + (pair * mask[:, 1:]).sum(1)
        last = tags.gather(1, (mask.sum(1) - 1).unsqueeze(1)).squeeze(1)  # (B,)
        return total + end[last]

    def nll(self, emissions: Tensor, tags: Tensor, mask: Tensor | None = None, *,
            reduction: Literal["mean", "sum", "none", "token_mean"] = "mean") -> Tensor:
        """Negative log-likelihood ``log Z - score(tags)``.

        ``reduction``: ``"mean"`` over sequences, ``"sum"``, ``"none"`` (``(B,)``), or
        ``"token_mean"`` (summed, divided by the number of valid steps).
        """
        mask = self._check(emissions, mask)
        per_seq = self.log_partition(emissions, mask) - self.score(emissions, tags, mask)  # (B,)
        if reduction == "none":
            return per_seq
        if reduction == "sum":
            return per_seq.sum()
        if reduction == "mean":
            return per_seq.mean()
        if reduction == "token_mean":
            return per_seq.sum() / mask.sum().clamp_min(1)
        raise ValueError(f"reduction must be 'mean', 'sum', 'none' or 'token_mean', got {reduction!r}")

    forward = nll

    def marginals(self, emissions: Tensor, mask: Tensor | None = None) -> Tensor:
        """The posterior of each tag at each step, ``P(y_t = k | x)``: ``(B, T, K)``, rows summing to
        1 on valid steps and 0 on padding.

        It is the gradient of ``log Z`` with respect to the emissions (the forward-backward
        algorithm, by autograd), so it works under ``torch.no_grad`` too (not ``inference_mode``).
        """
        mask = self._check(emissions, mask)
        with torch.enable_grad():
            # half precisions go up to float32; float64 stays (its marginals had float32's rounding)
            e = emissions.detach()
            e = (e if e.dtype == torch.float64 else e.float()).requires_grad_(True)
            (grad,) = torch.autograd.grad(self.log_partition(e, mask).sum(), e)
        return (grad * mask.unsqueeze(-1)).to(emissions.dtype)

    @torch.no_grad()
    def decode(self, emissions: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Viterbi: the highest-scoring allowed tag sequence.

        Returns: tags ``(B, T)`` int64 with 0 on padding, and their scores ``(B,)``.
        """
        mask = self._check(emissions, mask)
        return _viterbi(emissions, mask, *self._potentials(float("-inf")))

    @torch.no_grad()
    def decode_allowed(self, scores: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The allowed tag sequence with the highest sum of per-step ``scores`` ``(B, T, K)``, with no
        learnt transition scores: only the constraints (e.g. BMES order) apply. Decoding the log of
        averaged :meth:`marginals` this way gives an ensemble of CRF taggers a valid path.

        Returns: tags ``(B, T)`` int64 with 0 on padding, and their scores ``(B,)``.
        """
        mask = self._check(scores, mask)
        forbidden = float("-inf")
        zero = torch.zeros_like(self.transitions)
        trans = zero.masked_fill(~self.allowed, forbidden)
        start = zero[0].masked_fill(~self.allowed_start, forbidden)
        end = zero[0].masked_fill(~self.allowed_end, forbidden)
        return _viterbi(scores, mask, trans.to(scores.dtype), start.to(scores.dtype), end.to(scores.dtype))


def _viterbi(emissions: Tensor, mask: Tensor, trans: Tensor, start: Tensor, end: Tensor) -> tuple[Tensor, Tensor]:
    """The best path under per-step ``emissions`` (B, T, K) and transition scores ``trans`` (K, K)."""
    steps, valid = emissions.unbind(1), mask.unbind(1)
    B, K = emissions.shape[0], emissions.shape[2]
    keep = torch.arange(K, device=emissions.device).expand(B, K)  # a padded step keeps its tag
    delta = start + steps[0]  # (B, K)
    back: list[Tensor] = []
    for e_t, m_t in zip(steps[1:], valid[1:]):
        best, arg = (delta.unsqueeze(2) + trans).max(dim=1)  # (B, K) over the previous tag
        delta = torch.where(m_t.unsqueeze(1), best + e_t, delta)
        back.append(torch.where(m_t.unsqueeze(1), arg, keep))
    scores, tag = (delta + end).max(dim=1)  # (B,)
    path = [tag]
    for bp in reversed(back):
        tag = bp.gather(1, tag.unsqueeze(1)).squeeze(1)
        path.append(tag)
    tags = torch.stack(path[::-1], dim=1)  # (B, T)
    return tags.masked_fill(~mask, 0), scores

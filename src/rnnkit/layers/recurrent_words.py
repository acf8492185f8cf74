"""The words of ``Recurrent``'s checks and explanations (``layers/recurrent.py``): a rate's range,
the refusal of a model's empty examples, and a list of backend names in a sentence."""

from __future__ import annotations

from torch import Tensor


def _check_rate(name: str, p: float) -> float:
    if not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1), got {p!r}")
    return float(p)


def _empty_examples(owner: str, lengths: Tensor) -> str:
    """The refusal of rows of length < 1 in a model's batch: which rows (a few), and what to do."""
    rows = (lengths < 1).nonzero().flatten().tolist()
    shown = ", ".join(map(str, rows[:5])) + (f", ... ({len(rows)} in all)" if len(rows) > 5 else "")
    return (f"{owner}: batch row{'s' if len(rows) > 1 else ''} [{shown}] of {lengths.shape[0]} "
            f"{'have' if len(rows) > 1 else 'has'} no steps (length {int(lengths.min())}); every example "
            "needs at least one step: drop the empty examples or fill them (e.g. with one padding step)")


def _join(names: list[str]) -> str:
    """``['a'] -> 'a'``; ``['a', 'b', 'c'] -> 'a', 'b' and 'c'``."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]

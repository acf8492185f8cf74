"""The words of ``Recurrent``'s checks and explanations (``layers/recurrent.py``): a rate's range,
the refusal of a model's empty examples, a list of backend names in a sentence, and the forms of
lengths it takes besides a tensor."""

from __future__ import annotations

import numbers
from typing import Any

import torch
from torch import Tensor


def _check_rate(name: str, p: float) -> float:
    """``p`` as a float in [0, 1): a Python or numpy real number (np.float32(0.2), a config's value)."""
    if not isinstance(p, numbers.Real) or not 0.0 <= p < 1.0:
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


def _as_lengths(lengths: Any) -> Any:
    """Lengths given as a list or tuple of whole numbers (numpy's included) or an integer numpy array, as
    an int64 tensor; anything else as it is, for ``_check_input`` to take or name."""
    if isinstance(lengths, (list, tuple)) and all(isinstance(n, numbers.Integral) and not isinstance(n, bool)
                                                  for n in lengths):
        return torch.tensor([int(n) for n in lengths], dtype=torch.long)
    if type(lengths).__module__ == "numpy" and getattr(getattr(lengths, "dtype", None), "kind", "") in "iu" \
            and getattr(lengths, "ndim", 0) == 1:
        return torch.as_tensor(lengths.astype("int64"))
    return lengths

"""How an exported program is checked against the model: the numbers of steps it takes (its range,
:func:`step_range`, widened to one step where it runs one, :func:`takes_one_step`; the steps it refuses
that the model takes, :func:`refused_steps`; in words, :func:`steps_in_words`) and how far its output
may be from the model's (:func:`relative_difference`, within ``DRIFT_FACTOR`` times the model's own
float32 :func:`rounding_drift`).

    span = step_range(program)  # (1, None): any number of steps
    steps_in_words(span)        # "any number of steps"
"""

from __future__ import annotations

from typing import Any

from rnnkit.cli.export_scoring import Scaling, scoring_module


def takes_one_step(program: Any, module: Any, args: tuple) -> bool:
    """Whether ``program`` (a ``torch.export`` program) gives the model's output on the first step
    of ``args`` alone. torch.export takes a free size to be at least 2 (it specialises 0 and 1), so
    its range says 2 where one step (a one-character sentence) may run all the same."""
    x, lengths, *rest = args
    one = (x[:, :1], lengths.clamp(max=1), *rest)
    try:
        return relative_difference(program.module()(*one), module(*one)) <= 1e-4
    except Exception:  # a guard of the program, or of the model, refuses one step
        return False


def refused_steps(program: Any, module: Any, args: tuple, span: tuple[int, int | None] | None) -> int | None:
    """The first of the three fewest numbers of steps in ``span`` that the model takes and ``program``
    refuses, else None. A size the trace derives (T - 1 from a shifted copy of x) gets a range of its
    own, which the program's range for x does not show: a tagger's program said "any number of steps"
    and refused two."""
    if span is None:
        return None
    x, lengths, *rest = args
    lo, hi = span
    for t in range(max(lo, 1), min(lo + 3, int(x.shape[1]) + 1, hi + 1 if hi is not None else lo + 3)):
        short = (x[:, :t], lengths.clamp(max=t), *rest)
        try:
            module(*short)
        except Exception:  # the model itself does not take t steps (a lag-12 difference needs 13)
            continue
        try:
            program.module()(*short)
        except Exception:
            return t
    return None


def relative_difference(got: Any, expected: Any) -> float:
    """The largest difference, relative to the largest magnitude of ``expected`` where that exceeds 1
    (a forecast of hundreds of passengers agrees to float32's 1e-7 relative, not 1e-4 absolute)."""
    return float((got - expected).abs().max() / expected.abs().max().clamp(min=1.0))


DRIFT_FACTOR = 10  # an export may differ from the model by this many times the model's own rounding drift


def rounding_drift(model: Any, args: tuple[Any, ...], scaling: Scaling | None = None) -> float:
    """How far ``model`` itself, in float32, is from the same model in float64 on ``args``
    (``relative_difference``): the rounding that a long sequence accumulates through the steps. Two
    correct float32 programs (the model on another backend, or an export) may differ by about as
    much; a layer-norm LSTM over 300 steps drifts by about 1e-3."""
    import copy

    import torch

    wide = scoring_module(copy.deepcopy(model).double(), scaling=scaling).double()
    with torch.no_grad():
        expected = scoring_module(model, scaling=scaling)(*args)
        exact = wide(*(a.double() if a.is_floating_point() else a for a in args))
    return relative_difference(expected.double(), exact)


def step_range(program: Any) -> tuple[int, int | None] | None:
    """The numbers of steps of ``x`` that a ``torch.export`` program takes, as (fewest, most; None
    for no bound), or None when ``x`` has no steps (one vector per example)."""
    import torch

    node = next(n for n in program.graph.nodes if n.op == "placeholder" and n.name == "x")
    val = node.meta["val"]
    if val.dim() == 2 and val.is_floating_point():
        return None
    steps = val.shape[1]
    if not isinstance(steps, torch.SymInt):
        return int(steps), int(steps)
    if steps.node.expr.is_number:  # specialized by the trace to one value
        return int(steps.node.expr), int(steps.node.expr)
    bounds = program.range_constraints[steps.node.expr]
    upper = int(bounds.upper) if bounds.upper.is_Integer else None  # int_oo: no bound
    return int(bounds.lower), upper


def steps_in_words(span: tuple[int, int | None] | None) -> str:
    if span is None:
        return "one vector per example"
    lo, hi = span
    if hi is None:
        return "any number of steps" if lo <= 1 else f"at least {lo} steps"
    return f"{lo} steps" if lo == hi else f"{lo} to {hi} steps"

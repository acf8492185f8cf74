"""How an exported program is checked against the model: the numbers of steps it takes (its range,
:func:`step_range`, widened to one step where it runs one, :func:`takes_one_step`; the steps it refuses
that the model takes, :func:`refused_steps`; in words, :func:`steps_in_words`) and how far its output
may be from the model's (:func:`relative_difference`, within ``DRIFT_FACTOR`` times the model's own
float32 :func:`rounding_drift`).

    span = step_range(program)  # (1, None): any number of steps
    steps_in_words(span)        # "any number of steps"
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnnkit.cli.export_scoring import Scaling, scoring_module
from rnnkit.cli.main import CLIError


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


def program_output(path: Any, fmt: str, args: tuple) -> Any:
    """The output of the program written to ``path`` (``fmt``: torchscript, torch.export or onnx) on
    ``args``, loaded as a user loads it (onnxruntime through ``run_session``, which checks min_steps)."""
    import torch

    with torch.no_grad():
        if fmt == "torchscript":
            return torch.jit.load(str(path))(*args)
        if fmt == "torch.export":
            return torch.export.load(str(path)).module()(*args)
    import onnxruntime

    from rnnkit.cli.export_onnx import run_session

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {name: a.numpy() for name, a in zip(("x", "lengths", "future"), args)}
    return torch.from_numpy(run_session(session, feeds))


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


def check_outputs(paths: list[Path], run_dir: str, *, overwrite: bool, chosen: bool) -> None:
    """CLIError for an output that would replace a file of the run (its weights, checkpoints, info:
    anything outside ``RUN/export/``) or, unless ``overwrite``, an existing file that ``--out`` names
    (``chosen``; a re-export to the default ``RUN/export/`` path replaces the last export)."""
    run = Path(run_dir).resolve()
    for path in paths:
        if not path.exists():
            continue
        resolved = path.resolve()
        if resolved.is_relative_to(run) and not resolved.is_relative_to(run / "export"):
            raise CLIError(f"--out {path} is a file of the run {run_dir} (export would replace it, and the run "
                           f"could not be read again); write under {Path(run_dir) / 'export'} or outside the run")
        if chosen and not overwrite:
            raise CLIError(f"--out {path} exists; pass --overwrite to replace it, or another --out")


def program_inputs(batch: Any, scaling: Scaling | None) -> tuple[Any, ...]:
    """A batch as an exported program takes it: ``(x, lengths[, future])`` (lengths of ones for one
    vector per example), ``x`` in the data's own units where the examples were scaled by ``scaling``."""
    import torch

    x = batch.x
    if scaling is not None and x is not None and x.is_floating_point():
        x = x * torch.tensor(scaling.in_scale) + torch.tensor(scaling.in_offset)
    lengths = batch.lengths if batch.lengths is not None else torch.ones(x.shape[0], dtype=torch.long)
    return (x, lengths) if batch.future is None else (x, lengths, batch.future)


def random_inputs(model: Any, info: Any, *, steps: int = 16) -> tuple[Any, Any]:
    """Two batches of random inputs of the run's shapes (a trace batch and a check batch), for
    exporting a run whose data cannot be loaded here: token ids over its vocabulary, features,
    frames, positive series (a log transform needs them), conditions, known-future covariates."""
    import torch

    from rnnkit.data.batch import Batch
    from rnnkit.models.ensemble import first_member

    cfg = first_member(model).config  # an Ensemble's members share shapes
    g = torch.Generator().manual_seed(0)

    def make(B: int, T: int) -> Any:
        lengths = torch.tensor([T] + [max(1, T - 1 - i % T) for i in range(B - 1)])
        if getattr(cfg, "cond_shape", None) is not None:
            return Batch(x=None, cond=torch.randn(B, *cfg.cond_shape, generator=g))
        if getattr(cfg, "input_shape", None) is not None:
            return Batch(x=torch.randn(B, *cfg.input_shape, generator=g))
        vocab = getattr(cfg, "src_vocab_size", None) or getattr(cfg, "vocab_size", None)
        if vocab:
            return Batch(x=torch.randint(4, vocab, (B, T), generator=g), lengths=lengths)
        if hasattr(cfg, "horizon"):  # a forecaster: full windows of positive values
            future = torch.randn(B, cfg.horizon, cfg.num_future, generator=g) if cfg.num_future else None
            return Batch(x=torch.rand(B, T, cfg.num_features, generator=g) + 0.5, lengths=torch.full((B,), T),
                         future=future)
        return Batch(x=torch.randn(B, T, cfg.num_features, generator=g), lengths=lengths)

    T = int(info.window or steps)
    return make(2, T), make(8, T)

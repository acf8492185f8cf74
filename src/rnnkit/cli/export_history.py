"""What a forecaster's exported program needs of its history: the fewest steps its differencing
takes (``sum(difference) + 1``: a lag-12 difference needs 13), the check that refuses fewer in
every format that can (eager, TorchScript, torch.export), and the trace setting under which a
torch.export program takes exactly that many. ONNX cannot: ``rnnkit.cli.export_onnx``
writes ``min_steps`` into the file's metadata and its ``run_session`` applies it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


def forecast_steps(model: Any) -> tuple[int | None, int]:
    """A forecaster's ``window`` (the last steps it reads of a history; None without one) and the
    fewest steps its differencing needs (``sum(difference) + 1``); ``(None, 1)`` for other models."""
    from rnnkit.models.ensemble import first_member

    config = first_member(model).config
    if not hasattr(config, "horizon"):
        return None, 1
    return getattr(config, "window", None), sum(getattr(config, "difference", ()) or ()) + 1


def too_short(difference: Any) -> str:
    """The message a forecaster's program gives a history too short for ``difference`` (its lags),
    with ``{}`` for the steps given."""
    lags, shortest = list(difference), sum(difference) + 1
    return (f"a history of {{}} steps is too short for this forecaster: difference={lags} needs at least {shortest} "
            f"steps; pass a longer history (every length at least {shortest})")


def _enough_steps(x: torch.Tensor, lengths: torch.Tensor, shortest: int, message: str) -> torch.Tensor:
    """TorchScript's side of :func:`history_check`, scripted: a trace keeps a scripted function's ``if``
    (a Python ``if`` on a size is decided once, when tracing)."""
    given = x.size(1)
    if lengths.numel() > 0:
        given = min(given, int(lengths.min()))
    if given < shortest:
        raise ValueError(message.format(given))
    return x


def history_check(model: Any) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None:
    """``check(x, lengths) -> x`` for a forecaster whose differencing needs ``sum(difference) + 1``
    steps (None for any other model): it refuses a history ``x`` ``(B, T, F)`` of fewer steps, or a
    length below that, with the message of :func:`too_short`, wherever the program runs:

    * eager (the model the export is checked against): a ValueError;
    * traced by TorchScript: a call to a scripted function, which the program keeps and raises in;
    * under torch.export: ``torch._check`` on ``x``'s steps, which becomes the program's range of
      steps (the export's step range says "at least N steps"; fewer fail torch's guard, "Guard failed:
      x.size()[1] >= N"), and on the lengths, a runtime assertion of the program;
    * ONNX keeps neither: its metadata's ``min_steps`` states the rule, which
      :func:`rnnkit.cli.export_onnx.run_session` applies."""
    import torch

    from rnnkit.models.ensemble import first_member

    shortest = forecast_steps(model)[1]
    if shortest <= 1:
        return None
    message = too_short(getattr(first_member(model).config, "difference", ()))

    def check(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if torch.jit.is_tracing():  # (torch.jit.script compiles the function once and keeps it)
            return torch.jit.script(_enough_steps)(x, lengths, shortest, message)
        if torch.compiler.is_compiling():
            torch._check(x.shape[1] >= shortest, lambda: message.format(x.shape[1]))
            torch._check(lengths.min().item() >= shortest, lambda: message.format("too few"))
            return x
        given = min([int(x.shape[1])] + ([int(lengths.min())] if lengths.numel() else []))
        if given < shortest:
            raise ValueError(message.format(given))
        return x

    return check


@contextlib.contextmanager
def sizes_oblivious_of_one() -> Iterator[None]:
    """torch's shape config that traces sizes without assuming they are not 0 or 1 (torch 2.6+; a no-op
    before it, where an exported differenced forecaster without a window takes one step more than it needs)."""
    try:
        from torch.fx.experimental import _config as shapes_config
    except ImportError:
        yield
        return
    if not hasattr(shapes_config, "backed_size_oblivious"):
        yield
        return
    with shapes_config.patch(backed_size_oblivious=True):  # type: ignore[attr-defined]  # set up at import
        yield

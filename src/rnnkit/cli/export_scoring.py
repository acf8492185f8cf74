"""The module an export traces: a model wrapped to take plain tensors ``(x, lengths[, future])``
instead of a Batch (:func:`scoring_module`), with the run's scaling inside (:class:`Scaling`), so that
the program reads and returns the data's own units, as ``rnnkit predict`` does.

    module = scoring_module(model, scaling=Scaling.of_run(info, extras))
    y = module(x, lengths)  # (B, C) logits, (B, T, C) tags or (B, H) forecast
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from rnnkit.cli.export_history import forecast_steps, history_check

if TYPE_CHECKING:
    import torch


def scoring_module(model: Any, *, pad_to: int | None = None, scaling: Any = None) -> Any:
    """Wrap ``model`` so that it takes plain tensors ``(x, lengths[, future])`` instead of a Batch
    (``future``: a forecaster's known-future covariates ``(B, H, C)``).

    ``pad_to``: pad ``x`` with zeros to this many steps before the model (and cut per-step outputs
    back to ``x``'s steps), so that a program traced with a fixed number of steps takes any ``T``
    up to it; lengths mask the padding. ``scaling``: a :class:`Scaling` that the program applies
    to a float ``x`` first (and undoes on a forecast), so that it reads and returns the data's own
    units, as ``rnnkit predict`` does. A forecaster with a ``window`` reads the last ``window``
    valid steps of any longer history, as ``Forecaster.forecast`` and ``rnnkit predict`` do; a
    differenced one refuses a history shorter than ``sum(difference) + 1`` steps (:func:`history_check`)."""
    import math

    import torch
    from torch import nn
    from torch.nn import functional as F

    from rnnkit.data.batch import Batch
    from rnnkit.models.ensemble import first_member
    from rnnkit.models.synced import SequenceTagger

    window = forecast_steps(model)[0]
    enough_steps = history_check(model)
    # a tagger's outputs are per step, cut back to x's steps after padding; any other model's second
    # dimension (classes, horizon) is not, even when it happens to equal pad_to
    per_step = isinstance(first_member(model), SequenceTagger)

    class Scoring(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner
            self.scaled = scaling is not None
            self.unscaled_output = scaling is not None and scaling.out_offset is not None
            if scaling is not None:
                self.register_buffer("in_offset", torch.tensor(scaling.in_offset, dtype=torch.float32))
                self.register_buffer("in_scale", torch.tensor(scaling.in_scale, dtype=torch.float32))
                if scaling.out_offset is not None:
                    self.register_buffer("out_offset", torch.tensor(scaling.out_offset, dtype=torch.float32))
                    self.register_buffer("out_scale", torch.tensor(scaling.out_scale, dtype=torch.float32))

        def forward(self, x: torch.Tensor, lengths: torch.Tensor, future: torch.Tensor | None = None) -> torch.Tensor:
            if self.scaled and x.is_floating_point():  # the data's units -> what the model learnt on
                x = (x - self.get_buffer("in_offset")) / self.get_buffer("in_scale")
            if enough_steps is not None and x.dim() == 3:  # a lag-12 difference needs 13 steps and more
                x = enough_steps(x, lengths)
            if window is not None and x.dim() == 3:  # each history's last `window` valid steps, left-aligned
                start = (lengths.to(x.device) - window).clamp_min(0)  # (B,)
                index = (start.unsqueeze(1) + torch.arange(window, device=x.device)).clamp_max(x.shape[1] - 1)
                x = x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.shape[2]))  # past a length: masked
                lengths = lengths.clamp_max(window)
            is_vector = x.dim() == 2 and x.is_floating_point() and getattr(self.inner.config, "input_shape", None)
            steps = x.shape[1]
            if pad_to is not None and not is_vector:
                if not torch.jit.is_tracing():  # a guard for torch.export: the program takes at most pad_to steps
                    torch._check(steps <= pad_to)
                x = F.pad(x, (0, 0, 0, pad_to - steps) if x.dim() == 3 else (0, pad_to - steps))
            out = self.inner(Batch(x=x, lengths=None if is_vector else lengths, future=future))
            y = out.logits if out.logits is not None else out.predictions
            if y is None and out.extras.get("members"):  # a tagger ensemble: log of the mean probabilities
                logs = torch.stack([m.logits.float().log_softmax(-1) for m in out.extras["members"]])
                y = torch.logsumexp(logs, 0) - math.log(len(logs))
            if pad_to is not None and per_step:  # per-step outputs (tagging) back to the caller's steps;
                # by index, not y[:, :steps]: the trace of a slice guards whether it cuts anything, which
                # pins the program to the traced example's side of pad_to
                y = y.index_select(1, torch.arange(steps, device=y.device))
            if self.unscaled_output:  # a forecast back in the data's units: (B, H) or (B, H, K)
                scale, offset = self.get_buffer("out_scale"), self.get_buffer("out_offset")
                y = y * scale + offset if y.dim() == 3 else y * scale[0] + offset[0]
            return y

    return Scoring(model).eval()


@dataclasses.dataclass(frozen=True)
class Scaling:
    """The affine map a run's data were scaled with: ``(x - in_offset) / in_scale`` per input feature,
    and for a forecast ``y * out_scale + out_offset`` per target (None: the output is not scaled)."""

    in_offset: list[float]
    in_scale: list[float]
    out_offset: list[float] | None = None
    out_scale: list[float] | None = None

    @classmethod
    def of_run(cls, info: Any, extras: dict[str, Any]) -> Scaling | None:
        """The run's declared scaler (``info.extra["scale"]``) as a Scaling, or None."""
        from rnnkit.train.evaluation import declared_scaler

        declared = declared_scaler(info, extras)
        if declared is None:
            return None
        scaler, targets = declared
        state = scaler.state_dict()
        offset, scale = [float(v) for v in state["offset"]], [float(v) for v in state["scale"]]
        if info.task != "forecasting":
            return cls(offset, scale)
        return cls(offset, scale, [offset[i] for i in targets], [scale[i] for i in targets])


def at_most_steps(program: Any, most: int, *, future: bool) -> Any:
    """A TorchScript ``program`` (traced with ``pad_to=most``) that refuses ``x`` of more than ``most``
    steps by name: a trace cannot hold the check, and such an ``x`` failed deep inside the program
    with an index error."""
    import torch
    from torch import Tensor, nn

    message = (f"this program takes at most {most} steps (x's dimension 1; the longest sequence of the run's "
               "data, to which its loop over time is unrolled): cut the input, or export the run with "
               "--format torch.export or onnx, which take longer inputs where the cell allows")

    class AtMost(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = program
            self.most = most
            self.message = message

        def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
            if x.size(1) > self.most:
                raise ValueError(self.message)
            return self.inner(x, lengths)

    class AtMostWithFuture(AtMost):
        def forward(self, x: Tensor, lengths: Tensor, future: Tensor) -> Tensor:  # type: ignore[override]
            if x.size(1) > self.most:
                raise ValueError(self.message)
            return self.inner(x, lengths, future)

    return torch.jit.script(AtMostWithFuture() if future else AtMost())

"""An exponential moving average (EMA) of a model's weights, kept beside training (``Trainer(ema_decay=...)``).

After every optimizer step each shadow weight moves towards the live one::

    d_n    = min(decay, (1 + n) / (10 + n))      # n = updates made before this one: 0, 1, 2, ...
    shadow = d_n * shadow + (1 - d_n) * param

The warm-up ``(1 + n) / (10 + n)`` is TensorFlow's ``ExponentialMovingAverage(num_updates=...)``
(timm's ``ModelEma`` has the same idea): the shadow starts as a copy of the initial weights, and
without the warm-up a decay of 0.999 would keep it close to that random start for thousands of
steps. With it the first update keeps only 10% of the start, and ``decay`` itself takes over after
``(10 * decay - 1) / (1 - decay)`` updates (8 990 for 0.999, 89 for 0.9).

Only floating-point parameters are averaged. Buffers (running statistics of a normalisation layer,
...) are not: the model's own buffers, which follow the live weights, are used as they are.

Example:
    >>> ema = WeightEMA(model, decay=0.999)
    >>> optimizer.step(); ema.update()           # after every step
    >>> with ema.averaged(): evaluate(model)     # the averaged weights, swapped in and back out
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Iterator

import torch
from torch import Tensor, nn


def check_decay(decay: float) -> None:
    """The one check of an EMA decay (``TrainerConfig`` and :class:`WeightEMA` share it)."""
    if not (isinstance(decay, numbers.Real) and 0.0 < decay < 1.0):  # NaN fails the comparison too
        raise ValueError(f"ema_decay must be between 0 and 1 (exclusive), e.g. 0.999, or None for no weight "
                         f"averaging; got {decay!r}")


class WeightEMA:
    """A shadow copy of ``model``'s floating-point parameters that follows them as an EMA.

    The shadow tracks the parameters of the module given, so under DDP pass the unwrapped module
    (the Trainer does). It holds references to those parameters: replace them (for example by
    ``load_state_dict(..., assign=True)``) and the average no longer follows the model.

    Args:
        model: the module whose parameters are averaged; the shadow starts as a copy of them.
        decay: the weight of the old shadow at each update, 0 < decay < 1 (warm-up: module docstring).
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        check_decay(decay)
        named = [(name, p) for name, p in model.named_parameters() if p.is_floating_point()]
        self.decay = float(decay)
        self.updates = 0
        self.names = [name for name, _ in named]
        self.params: list[Tensor] = [p for _, p in named]
        self.shadow = [p.detach().clone() for p in self.params]

    def next_decay(self) -> float:
        """The decay the next :meth:`update` uses (the warm-up of the module docstring)."""
        n = self.updates
        return min(self.decay, (1 + n) / (10 + n))

    @torch.no_grad()
    def update(self) -> None:
        """Move the shadow towards the live parameters (call after every optimizer step)."""
        # lerp(shadow, param, 1 - d) = d * shadow + (1 - d) * param, one fused kernel for all tensors
        torch._foreach_lerp_(self.shadow, self.params, 1.0 - self.next_decay())
        self.updates += 1

    @torch.no_grad()
    def copy_to_model(self) -> None:
        """Overwrite the live parameters with the averaged ones (the end of training)."""
        torch._foreach_copy_(self.params, self.shadow)

    @contextlib.contextmanager
    def averaged(self) -> Iterator[None]:
        """Inside the block the model holds the averaged weights; the live ones come back afterwards.

        The values are copied into the same tensors (no ``.data`` swap), so optimizer state, DDP's
        hooks and caches keyed on a parameter's storage and version all stay valid.
        """
        with torch.no_grad():
            live = [p.detach().clone() for p in self.params]
            torch._foreach_copy_(self.params, self.shadow)
        try:
            yield
        finally:
            with torch.no_grad():
                torch._foreach_copy_(self.params, live)

    def state_dict(self) -> dict[str, Tensor]:
        """The shadow by parameter name (what a checkpoint stores; the count is :attr:`updates`)."""
        return dict(zip(self.names, self.shadow))

    @torch.no_grad()
    def load_state_dict(self, shadow: dict[str, Tensor], *, updates: int) -> None:
        """Restore a shadow written by :meth:`state_dict`; the names and shapes must match exactly."""
        missing, unexpected = sorted(set(self.names) - set(shadow)), sorted(set(shadow) - set(self.names))
        if missing or unexpected:
            raise ValueError(f"the EMA weights do not fit this model (missing {missing}, unexpected {unexpected})")
        for name, mine in zip(self.names, self.shadow):
            if shadow[name].shape != mine.shape:
                raise ValueError(f"the EMA weight {name} has shape {tuple(shadow[name].shape)}, "
                                 f"the model's {tuple(mine.shape)}")
        for name, mine in zip(self.names, self.shadow):
            mine.copy_(shadow[name])  # one tensor at a time: the checkpoint may sit on another device
        self.updates = int(updates)

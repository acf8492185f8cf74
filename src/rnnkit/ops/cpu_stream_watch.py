"""Whether the parameters behind ``ops/cpu_stream.py``'s packed weights changed since they were packed
(:class:`ParamsWatch`), and the parameters a stack of cells holds now (:func:`cell_params`).

The watch reads its sampled elements with the C++ library's ``rnnkit_probe``; it finds the library
through ``ops/cpu_stream.py`` at call time (where it is cached once, and where tests patch
``load_library``), not at import, since ``cpu_stream`` imports this module.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import torch
from torch import Tensor

PROBES = 4  # elements sampled per parameter by ParamsWatch


class ParamsWatch:
    """Whether parameters changed since packed weights were made of them: in storage, in version
    counter, or in one of a few sampled elements (:data:`PROBES` each, spread over the tensor, read
    in C++ in a fraction of a microsecond). The samples see the changes that leave the counter
    alone: writes through ``p.data`` (``p.data.copy_(w)``, ``p.data.mul_(d)``) and torch's fused
    optimizers. A partial write through ``.data`` that misses every sampled element is not seen:
    call :func:`rnnkit.train.optim.mark_updated` after one.

    The watch holds the storages it samples, so the addresses it reads stay valid until the next
    :meth:`mark`, whatever happens to the module meanwhile (``p.data = other`` included).

    Example::

        watch = ParamsWatch()
        if watch.changed(params):    # True at first
            ...                      # pack the weights
            watch.mark(params)
    """

    def __init__(self) -> None:
        self._key: list[tuple[int, int]] | None = None
        self._held: list[Any] = []  # the sampled tensors' storages
        self._table: Tensor | None = None
        self._probe: Any = _no_probe  # (address of the table) -> digest
        self._address = 0
        self._digest = 0

    def __getstate__(self) -> dict[str, Any]:
        return ParamsWatch().__dict__  # a copy watches its own tensors: it starts unmarked

    def changed(self, params: list[Tensor]) -> bool:
        """Whether ``params`` differ from those of the last :meth:`mark` (always, before one)."""
        if _key_of(params) != self._key:
            return True
        return self._probe(self._address) != self._digest  # inline: a call of ctypes costs ~0.2 µs

    def moved(self, params: list[Tensor]) -> bool:
        """:meth:`changed` without the sampled elements, for a caller whose kernel reads them
        itself (:meth:`probe_args`; the in-place stream step)."""
        return _key_of(params) != self._key

    def probe_args(self) -> tuple[int, int]:
        """The sampled elements' table address (0: none) and their digest at :meth:`mark`, as int64s."""
        return self._address, self._digest - (1 << 64) if self._digest >= 1 << 63 else self._digest

    def mark(self, params: list[Tensor]) -> None:
        """Remember ``params`` as they are now (call after packing them)."""
        self._key = _key_of(params)
        # the storages, not the tensors: `p.data = other` frees a tensor's old storage, not a held one
        self._held, self._table = [p.untyped_storage() for p in params], probe_table(params)
        self._probe = _no_probe if self._table is None else _library()._function("rnnkit_probe")
        self._address = 0 if self._table is None else self._table.data_ptr()
        self._digest = self._probe(self._address)


def _no_probe(address: int) -> int:
    return 0


def _key_of(params: list[Tensor]) -> list[tuple[int, int]]:
    """Each parameter's storage address and version counter."""
    try:
        return [(p.data_ptr(), p._version) for p in params]
    except RuntimeError:  # inference tensors (made under torch.inference_mode) have no counter: the samples
        return [(p.data_ptr(), -1 if p.is_inference() else p._version) for p in params]  # watch them alone


def probe_table(params: list[Tensor], per_param: int = PROBES) -> Tensor | None:
    """``[n, then per sampled element its address and size in bytes]`` (int64) for
    ``rnnkit_probe``: ``per_param`` elements of each parameter, first to last; None without the
    C++ library (the watch then relies on storage and version counters alone)."""
    if _library().load_library() is None:
        return None
    rows: list[int] = []
    for p in params:
        n = p.numel()
        if n == 0:
            continue
        size = min(p.element_size(), 8)
        for flat in sorted({(n - 1) * j // max(per_param - 1, 1) for j in range(per_param)}):
            offset, rest = 0, flat
            for dim, stride in zip(reversed(p.shape), reversed(p.stride())):  # strided tensors too
                rest, i = divmod(rest, dim)
                offset += i * stride
            rows += [p.data_ptr() + offset * p.element_size(), size]
    return torch.tensor([len(rows) // 2, *rows], dtype=torch.int64)


def _library() -> ModuleType:
    """``ops/cpu_stream.py``, the one home of the compiled library (imported here at call time: it
    imports this module)."""
    from rnnkit.ops import cpu_stream

    return cpu_stream


def cell_params(cells: list[Any]) -> list[Tensor]:
    """The parameters the cells hold now. Read afresh at each call, not kept: ``load_state_dict(...,
    assign=True)`` and module conversions may put new Parameter objects in place of the old ones."""
    return [p for c in cells for p in (c._parameters.values() if not c._modules else c.parameters())
            if p is not None]

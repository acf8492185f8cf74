"""``rnnkit.datasets``: the public face of the data-set registry (``list()``, ``load(name)``)."""

from rnnkit.data.datasets.registry import info, list, load, names

__all__ = ["info", "list", "load", "names"]

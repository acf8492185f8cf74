"""Bundled data sets (loaded offline from the Python packages that ship them)."""

from rnnkit.data.datasets.registry import info, list, load, names, register, register_format

__all__ = ["info", "list", "load", "names", "register", "register_format"]

"""rnnkit: recurrent neural networks for every shape of sequence problem, on PyTorch."""

from rnnkit.layers.recurrent import Recurrent, RecurrentOutput

__version__ = "0.1.0"

__all__ = ["Recurrent", "RecurrentOutput", "__version__"]

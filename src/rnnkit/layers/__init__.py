"""Layers: Recurrent (runs any cell over a sequence), attention, CRF, dropout, embeddings."""

from rnnkit.layers.recurrent import Recurrent, RecurrentOutput

__all__ = ["Recurrent", "RecurrentOutput"]

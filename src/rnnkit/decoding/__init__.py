"""Decoding strategies over any decoder with ``step(tokens, state)`` and ``reorder(state, index)``.

Example:
    >>> from rnnkit.decoding import beam_search
    >>> out = beam_search(decoder, state, bos=2, eos=3, max_length=30, beam_size=5)
"""

from rnnkit.decoding.base import Decoder, Generated, length_norm, score_sequences
from rnnkit.decoding.beam import beam_search
from rnnkit.decoding.greedy import greedy
from rnnkit.decoding.sample import sample

__all__ = ["Decoder", "Generated", "beam_search", "greedy", "length_norm", "sample", "score_sequences"]

"""Layers: Recurrent (runs any cell over a sequence), attention, CRF, pooling, input encoders, FCN,
hashed n-gram features."""

from rnnkit.layers import (
    export_loop,  # noqa: F401  (registers 'export_loop', for export only)
    fused_backends,  # noqa: F401  (registers 'triton-persistent', 'triton-fused', 'cpu-fused')
    onnx_backend,  # noqa: F401  (registers 'onnx', for export only)
    scan_backends,  # noqa: F401  (registers the 'triton-scan' backend)
)
from rnnkit.layers.attention import Attention, AttentionOutput, masked_softmax
from rnnkit.layers.crf import CRF, Constraints, bio_constraints, bmes_constraints, scheme_constraints
from rnnkit.layers.fcn import FCN
from rnnkit.layers.inputs import InputEncoder
from rnnkit.layers.ngrams import HashedBigrams, HashedNgramBag
from rnnkit.layers.recurrent import Recurrent, RecurrentOutput
from rnnkit.layers.stream import Stream

__all__ = ["CRF", "FCN", "Attention", "AttentionOutput", "Constraints", "HashedBigrams", "HashedNgramBag",
           "InputEncoder", "Recurrent", "RecurrentOutput", "Stream", "bio_constraints", "bmes_constraints",
           "masked_softmax", "scheme_constraints"]

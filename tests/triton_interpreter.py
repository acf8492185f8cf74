"""Shared set-up of the test modules that run Triton kernels: compiled on a CUDA GPU, else on CPU
tensors through Triton's interpreter (``TRITON_INTERPRET=1``, which must be set before triton
defines its own @jit functions, so before anything imports triton)."""

import importlib
import os
import sys
from types import ModuleType

import pytest
import torch


def use_triton_interpreter(*modules: str) -> ModuleType:
    """Turn the interpreter on where there is no GPU and return triton; skip the calling module when
    triton is missing, or was imported before the switch (run it alone, or with TRITON_INTERPRET=1).
    ``modules`` already imported are loaded again, so that their kernels are defined after it."""
    if "triton" not in sys.modules and not torch.cuda.is_available():
        os.environ["TRITON_INTERPRET"] = "1"
    triton = pytest.importorskip("triton")
    if not triton.knobs.runtime.interpret and not torch.cuda.is_available():
        pytest.skip("triton was imported before TRITON_INTERPRET=1 was set; run with TRITON_INTERPRET=1",
                    allow_module_level=True)
    for name in modules:
        if name in sys.modules:  # kernels defined before the switch: define them again
            importlib.reload(sys.modules[name])
    return triton

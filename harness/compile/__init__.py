"""The compiled whole-model path of the C kernels, registered as backend ``c_compiled``
(see model.py). Layer by layer it is the ``c`` backend; sweeps time it per model only."""

from __future__ import annotations

from harness.backends import BACKENDS, Backend
from harness.compile.model import compile_model

_C = BACKENDS["c"]
BACKENDS.add("c_compiled", Backend("c_compiled", ("cpu",), True, _C.availability, _C.prepare,
                                   _C.build_info, prepare_model=compile_model,
                                   layer_jobs=False))

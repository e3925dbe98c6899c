"""CPU sparse convolution kernels in C, built with cffi, with thin Python wrappers.

``conv2d`` / ``prepare`` run a masked weight through the C kernel family of its pattern
(packers.py), vectorised with AVX-512, AVX2 or scalar code picked at run time, on an
explicit number of OpenMP threads.  The extension builds on first use (_build.py).
"""

from .api import (
    ISAS,
    LAYOUTS,
    PreparedConv,
    available_isas,
    build_info,
    conv2d,
    max_threads,
    peak_gflops,
    prepare,
)

__all__ = ["ISAS", "LAYOUTS", "PreparedConv", "available_isas", "build_info", "conv2d",
           "max_threads", "peak_gflops", "prepare"]

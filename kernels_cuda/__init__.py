"""CUDA sparse convolution kernels loaded through PyCUDA, with thin Python wrappers.

Same API as ``kernels_c`` (docs/CONTRACTS.md §kernels_cuda-python-api) for torch CUDA tensors::

    conv = kernels_cuda.prepare(weight, pattern=p, stride=1, padding=1)   # pack once
    y = conv(x)                       # x: NCHW float32/float16 CUDA tensor
    kernels_cuda.is_available()       # (False, reason) without a GPU or PyCUDA; never raises

Importing this package needs neither PyCUDA nor a GPU: PyCUDA is imported on first use.
"""

from kernels_cuda.build import source_hash
from kernels_cuda.conv import CudaConv, conv2d, prepare
from kernels_cuda.info import build_info, is_available
from kernels_cuda.packing import pack, supported_patterns, unpack

__all__ = [
    "CudaConv",
    "build_info",
    "conv2d",
    "is_available",
    "pack",
    "prepare",
    "source_hash",
    "supported_patterns",
    "unpack",
]

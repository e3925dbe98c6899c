"""CUDA sparse convolution kernels loaded through PyCUDA, with thin Python wrappers."""

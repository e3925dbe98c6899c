"""CPU sparse convolution kernels in C, built with cffi, with thin Python wrappers."""

"""The CUDA-events clock for ``harness.timing.measure``: GPU time, not launch time.

Host timers around an asynchronous launch count the launch; a host synchronise inside
the timed region adds its own latency. Two CUDA events recorded on the stream bracket the
GPU work itself. Importing this module needs PyCUDA (the ``[cuda]`` extra); events go on
the legacy default stream, where ``kernels_cuda`` launches and which is torch's default
stream, in the device's primary context that torch and ``kernels_cuda`` share.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pycuda.driver as drv
import torch

MIN_SAMPLE_S = 1e-3  # a sample spans enough calls for ~1 ms (events resolve ~0.5 µs)


class CudaEventClock:
    """Seconds between a CUDA event recorded before ``calls`` back-to-back calls and one
    recorded after them (the end event is waited for; the calls themselves never sync)."""

    name = "cuda-events"

    def __init__(self, device: int | None = None, min_sample_s: float = MIN_SAMPLE_S) -> None:
        drv.init()
        torch.cuda.init()  # torch creates the primary context the events share
        self.device = torch.cuda.current_device() if device is None else device
        self.min_sample_s = min_sample_s
        self._context = drv.Device(self.device).retain_primary_context()

    @contextmanager
    def _current(self) -> Iterator[None]:
        self._context.push()
        try:
            yield
        finally:
            drv.Context.pop()

    def elapsed_s(self, fn: Callable[[], object], calls: int) -> float:
        if torch.cuda.current_stream(self.device).cuda_stream != 0:
            raise RuntimeError("the CUDA-events clock brackets the default stream; time the "
                               "call on torch's default stream")
        with self._current():
            start, end = drv.Event(), drv.Event()
            start.record()  # on the legacy default stream
        for _ in range(calls):
            fn()
        with self._current():
            end.record()
            end.synchronize()
            return end.time_since(start) / 1e3

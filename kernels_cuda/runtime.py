"""PyCUDA side: load the cubins into torch's CUDA context and launch in torch's stream order.

PyCUDA is imported here, on first use only, so ``import kernels_cuda`` works without it.
torch and PyCUDA share the device's primary context (pushed around each PyCUDA call,
never left on the thread's stack).  PyCUDA cannot wrap a foreign stream handle, so the
kernels launch on the legacy default stream, which is torch's default stream; when torch's
current stream is another one, ``wait_stream`` orders the launch after the work already
queued there and that stream's later work after the launch (no host synchronisation).
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator
from typing import Any

import torch

from kernels_cuda import build
from kernels_cuda.launch import Launch


class Runtime:
    """Loaded kernel modules of one device."""

    def __init__(self, device: int) -> None:
        import pycuda.driver as drv

        drv.init()
        if torch.cuda.default_stream(device).cuda_stream != 0:
            raise RuntimeError("torch's default stream is not the legacy NULL stream; "
                               "kernels_cuda needs a torch build without per-thread streams")
        dev = drv.Device(device)
        major, minor = dev.compute_capability()
        self._drv = drv
        self.device = device
        self.name: str = dev.name()
        self.compute_capability = f"{major}.{minor}"
        self.arch = f"sm_{major}{minor}"
        self.driver_version: int = drv.get_driver_version()
        self._context = dev.retain_primary_context()
        self._modules: dict[str, Any] = {}
        self._functions: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def _current(self) -> Iterator[None]:
        self._context.push()
        try:
            yield
        finally:
            self._drv.Context.pop()

    def function(self, family: str, name: str, signature: str) -> Any:
        """The prepared entry point ``name`` of ``family``'s cubin (compiled on first use)."""
        key = (family, name)
        with self._lock:
            if key not in self._functions:
                cubin = build.cached_cubin(family, self.arch)
                with self._current():
                    if family not in self._modules:
                        self._modules[family] = self._drv.module_from_file(str(cubin))
                    fn = self._modules[family].get_function(name)
                    fn.prepare(signature)
                self._functions[key] = fn
            return self._functions[key]

    def launch(self, launch: Launch) -> None:
        """Run one kernel launch in the stream order of torch's current stream."""
        signature = "".join("i" if isinstance(a, int) else "P" for a in launch.args)
        values = [a if isinstance(a, int) else 0 if a is None else a.data_ptr()
                  for a in launch.args]
        fn = self.function(launch.family, launch.name, signature)
        current = torch.cuda.current_stream(self.device)
        default = torch.cuda.default_stream(self.device)
        side = current.cuda_stream != default.cuda_stream
        if side:
            default.wait_stream(current)
        with self._current():
            fn.prepared_call(launch.grid, launch.block, *values)
        if side:
            current.wait_stream(default)


def unavailable_reason() -> str | None:
    """Why the kernels cannot run here (None when they can); never raises."""
    try:
        try:
            import pycuda.driver  # noqa: F401
        except ImportError as exc:
            return f"PyCUDA is not installed ({exc}); pip install 'sparsebench[cuda]'"
        if not torch.cuda.is_available():
            return "no CUDA GPU visible to torch (torch.cuda.is_available() is False)"
        if build.nvcc_path() is None:
            return "nvcc not found on PATH or in $CUDA_HOME; install the CUDA toolkit"
        runtime(torch.cuda.current_device())
    except Exception as exc:  # a broken driver or install is a reason, not a crash
        return f"CUDA runtime failed to start: {type(exc).__name__}: {exc}"
    return None


@functools.cache
def runtime(device: int) -> Runtime:
    """The runtime of CUDA device ``device`` (one per process and device)."""
    return Runtime(device)


def runtime_for(device: torch.device) -> Runtime:
    """The runtime of a CUDA tensor's device; RuntimeError saying why when none can run."""
    reason = unavailable_reason()
    if reason is not None:
        raise RuntimeError(f"kernels_cuda is not available here: {reason}")
    return runtime(device.index if device.index is not None else torch.cuda.current_device())

"""ONNX Runtime, CPU execution provider: the model exported to ONNX (TorchScript exporter),
all graph optimisations on, sequential execution, intra-op threads = the row's threads."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from harness.engines.base import Compiled, engine, onnx_bytes, package_available


def _available() -> tuple[bool, str]:
    return package_available("onnxruntime", "onnx")


def _info() -> dict[str, Any]:
    import onnxruntime

    return {"compiler": "onnxruntime", "flags": f"onnxruntime {onnxruntime.__version__} "
            "CPUExecutionProvider ORT_ENABLE_ALL sequential"}


@engine("onnxruntime", availability=_available, build_info=_info)
def compile_onnxruntime(model: nn.Module, example: torch.Tensor, threads: int) -> Compiled:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads  # counts the calling thread
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(onnx_bytes(model, example), options,
                                   providers=["CPUExecutionProvider"])
    ran_with = session.get_session_options().intra_op_num_threads
    if ran_with != threads:
        raise RuntimeError(f"onnxruntime took {ran_with} intra-op threads, not {threads}")

    def run(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run(None, {"x": x.numpy()})[0])

    return Compiled(run, "onnxruntime-cpu", "",
                    kernel_function="onnxruntime.InferenceSession.run:CPUExecutionProvider")

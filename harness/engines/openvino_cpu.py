"""OpenVINO on the CPU: latency hint, one stream, ``INFERENCE_NUM_THREADS`` = the row's
threads. ``openvino`` forces fp32 (``INFERENCE_PRECISION_HINT=f32``): on CPUs with
AVX512_BF16 or AMX its default silently becomes bf16. ``openvino_default`` keeps the
default precision, records it, and is held only to a bf16-sized error bound.

Sparse weights: ``CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE`` is set on every compile; the
row's note says which primitives the compiled graph's FullyConnected and Convolution
nodes use, so the database shows whether the option did anything (OpenVINO implements it
for FullyConnected only, and only with AMX; convolutions never use it).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import torch
from torch import nn

from harness.engines.base import Compiled, engine, onnx_bytes, package_available

SPARSE_RATE = 0.5  # weights at least this sparse may use sparse decompression
BF16_TOLERANCE = 5e-2  # bf16 keeps 8 mantissa bits; wrong beyond this is a broken engine
PRECISIONS = {"f32": "fp32", "bf16": "bf16", "f16": "fp16"}


def _available() -> tuple[bool, str]:
    return package_available("openvino", "onnx")


def _info() -> dict[str, Any]:
    import openvino

    return {"compiler": "openvino", "flags": f"openvino {openvino.get_version()} "
            f"LATENCY 1 stream sparse_rate={SPARSE_RATE}"}


def _primitives(compiled: Any) -> str:
    """E.g. 'Convolution: brgconv_avx512_f32 x53; FullyConnected: gemm_mlas_f32 x1'."""
    found: dict[str, Counter] = {"Convolution": Counter(), "FullyConnected": Counter()}
    for op in compiled.get_runtime_model().get_ops():
        info = op.get_rt_info()
        kind = info["layerType"].astype(str) if "layerType" in info else ""
        if kind in found:
            found[kind][info["primitiveType"].astype(str)] += 1
    return "; ".join(f"{kind}: " + ", ".join(f"{p} x{n}" for p, n in counts.items())
                     for kind, counts in found.items() if counts)


def _compile(model: nn.Module, example: torch.Tensor, threads: int,
             precision_hint: str | None) -> Compiled:
    import openvino as ov

    core = ov.Core()
    config: dict[str, Any] = {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1,
                              "PERFORMANCE_HINT": "LATENCY",
                              "CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE": SPARSE_RATE}
    if precision_hint:
        config["INFERENCE_PRECISION_HINT"] = precision_hint
    compiled = core.compile_model(core.read_model(model=onnx_bytes(model, example),
                                                  weights=b""), "CPU", config)
    ran_with = int(compiled.get_property("INFERENCE_NUM_THREADS"))
    if ran_with != threads:
        raise RuntimeError(f"openvino took {ran_with} threads, not {threads}")
    precision = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
    request = compiled.create_infer_request()

    def run(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(request.infer([x.numpy()])[0].copy())

    primitives = _primitives(compiled)
    sparse = "sparse" in primitives
    return Compiled(run, "openvino-cpu", "", PRECISIONS.get(precision, precision),
                    note=f"sparse weights {'used' if sparse else 'unused'}: {primitives}",
                    kernel_function="openvino.InferRequest.infer:CPU")


@engine("openvino", availability=_available, build_info=_info)
def compile_openvino_f32(model: nn.Module, example: torch.Tensor, threads: int) -> Compiled:
    return _compile(model, example, threads, "f32")


@engine("openvino_default", availability=_available, build_info=_info,
        tolerance=BF16_TOLERANCE)
def compile_openvino_default(model: nn.Module, example: torch.Tensor,
                             threads: int) -> Compiled:
    return _compile(model, example, threads, None)

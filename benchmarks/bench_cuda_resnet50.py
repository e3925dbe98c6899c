"""GPU benchmark: kernels_cuda on ResNet-50's conv layers against cuDNN and torch's 2:4.

    python benchmarks/bench_cuda_resnet50.py --out cuda_resnet50.csv
    python benchmarks/bench_cuda_resnet50.py --dump-shapes shapes.json   # no GPU needed
    python benchmarks/bench_cuda_resnet50.py --shapes shapes.json --out ...  # no torchvision

For every distinct conv shape of torchvision's ResNet-50 at 224 px (the stem stays dense
by the layer policy), batch 1 and 8, it times in one run:
  * torch conv2d (cuDNN, benchmark mode) fp32 with TF32 off (the reference), with TF32 on,
    and fp16;
  * torch's semi-structured 2:4 sparsity (``to_sparse_semi_structured``, fp16) for the
    stride-1 1×1 layers as a GEMM (weight 2:4 x activations laid out (Cin, N*H*W); the
    layout change is not timed), next to the same dense fp16 GEMM;
  * kernels_cuda: dense, and at each sparsity (50 / 75 / 87.5 %) unstructured, N:M and CS
    at the nearest level, 1×4 and 1×16 blocks and filter pruning in fp32, CS and 1×16 in fp16.
Every output is checked against an fp64 ``F.conv2d`` of the same masked weight first; a
wrong one is recorded as 'wrong' without a time.  Times are CUDA-event medians per call
(``harness.timing.measure`` on ``harness.cuda_clock.CudaEventClock``).  Writes one row per
(layer, batch, kernel) to --out, a geomean table (over the 52 conv layers, each shape
weighted by how often it occurs) to <out>_geomean.csv, and build_info + versions to <out>.json.

This file sits in asv's benchmarks folder: it runs only as a script, defines no asv
benchmark names and imports nothing heavy at import time.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REFERENCE = "torch-cudnn-f32"
TOL_F32, TOL_F16 = 1e-4, 2e-3  # max rel error vs fp64 torch (tests/test_kernels_cuda_gpu.py)
TOL_TORCH_LOW = 1e-2  # torch's TF32 / fp16 baselines (cuBLAS may reduce in fp16): a sanity check
COLUMNS = [
    "device", "layer", "layers", "kind", "in_channels", "out_channels", "height", "width",
    "kernel_h", "kernel_w", "stride", "padding", "batch", "backend", "kernel", "dtype",
    "pattern", "pattern_params", "requested_sparsity", "nominal_density", "actual_density",
    "flops_dense", "flops_nonzero", "median_s", "min_s", "p90_s", "stdev_s", "repeats",
    "calls_per_repeat", "speedup_vs_cudnn_f32", "max_rel_error", "status", "message",
]


@dataclass(frozen=True)
class Shape:
    """One distinct conv shape of the model and how many layers have it."""

    layer: Any          # harness.layers.ConvLayer of its first occurrence
    count: int


@dataclass(frozen=True)
class Candidate:
    """A sparse configuration kernels_cuda runs: (pattern name, fixed params, dtype)."""

    name: str
    fixed: dict[str, Any]
    dtype: str


CANDIDATES = [
    Candidate("unstructured", {}, "f32"),
    Candidate("nm", {}, "f32"),
    Candidate("cs", {}, "f32"),
    Candidate("block", {"n": 4}, "f32"),
    Candidate("block", {"n": 16}, "f32"),
    Candidate("filter", {}, "f32"),
    Candidate("cs", {}, "f16"),
    Candidate("block", {"n": 16}, "f16"),
]


def resnet50_shapes() -> list[Shape]:
    """Distinct non-stem conv shapes of ResNet-50 at 224 px, in first-seen order."""
    import torchvision

    from harness.layers import conv_layers

    groups: dict[tuple, list] = defaultdict(list)
    for layer in conv_layers(torchvision.models.resnet50(weights=None), 224):
        if layer.is_stem:
            continue
        key = (layer.in_channels, layer.out_channels, layer.kernel_h, layer.kernel_w,
               layer.stride, layer.padding, layer.height, layer.width)
        groups[key].append(layer)
    return [Shape(layers[0], len(layers)) for layers in groups.values()]


def dump_shapes(path: Path) -> None:
    """Write the shapes as JSON, for a GPU machine without torchvision (--shapes)."""
    rows = [{"layer": asdict(s.layer), "count": s.count} for s in resnet50_shapes()]
    path.write_text(json.dumps(rows, indent=1))


def load_shapes(path: Path) -> list[Shape]:
    """Shapes written by --dump-shapes."""
    from harness.layers import ConvLayer

    return [Shape(ConvLayer(**r["layer"]), int(r["count"])) for r in json.loads(path.read_text())]


class Sink:
    """Every row goes to the CSV, to the summary list and, in short, to stdout."""

    def __init__(self, writer: csv.DictWriter) -> None:
        self.writer = writer
        self.rows: list[dict[str, Any]] = []

    def write(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self.writer.writerow(row)
        print(f"{row['layer']:>28} b{row['batch']} {row['kernel']:>22} "
              f"{row.get('pattern', ''):>30} {row['status']:>5} "
              f"{row.get('speedup_vs_cudnn_f32', float('nan')):6.2f}x "
              f"{row.get('message', '')}", flush=True)


class Bench:
    """One (layer shape, batch): its inputs, the reference time, and one method per kind of
    row (cuDNN baselines, torch's 2:4, kernels_cuda)."""

    def __init__(self, shape: Shape, batch: int, args: argparse.Namespace, device: str,
                 sink: Sink) -> None:
        import torch

        layer = shape.layer
        self.shape, self.batch, self.args, self.device, self.sink = (
            shape, batch, args, device, sink)
        gen = torch.Generator().manual_seed(0)
        self.x = torch.randn(batch, layer.in_channels, layer.height, layer.width,
                             generator=gen).cuda()
        fan_in = layer.in_channels * layer.kernel_h * layer.kernel_w
        self.w = (torch.randn(layer.weight_shape, generator=gen) / math.sqrt(fan_in)).cuda()
        self.ref_s: float | None = None

    def base_row(self) -> dict[str, Any]:
        layer = self.shape.layer
        return {
            "device": self.device, "layer": layer.name, "layers": self.shape.count,
            "kind": layer.kind, "in_channels": layer.in_channels,
            "out_channels": layer.out_channels, "height": layer.height, "width": layer.width,
            "kernel_h": layer.kernel_h, "kernel_w": layer.kernel_w, "stride": layer.stride,
            "padding": layer.padding, "batch": self.batch,
            "flops_dense": layer.flops(self.batch),
        }

    def record(self, row: dict[str, Any], fn: Callable[[], Any], check: Callable[[], float],
               tolerance: float) -> None:
        """Check (max rel error vs fp64 torch) below ``tolerance``, then time ``fn``."""
        from harness.cuda_clock import CudaEventClock
        from harness.timing import measure

        row = {**self.base_row(), **row}
        row["flops_nonzero"] = row["flops_dense"] * row["actual_density"]
        try:
            err = check()
            row["max_rel_error"] = err
            if not err < tolerance:
                row.update(status="wrong", message=f"max rel error {err:.3g} vs torch")
            else:
                t = measure(fn, budget_s=self.args.budget, max_repeats=self.args.max_repeats,
                            clock=CudaEventClock())
                row.update(status="ok", median_s=t.median_s, min_s=t.min_s, p90_s=t.p90_s,
                           stdev_s=t.stdev_s, repeats=t.repeats,
                           calls_per_repeat=t.calls_per_repeat)
                if row["kernel"] == REFERENCE:
                    self.ref_s = t.median_s
                if self.ref_s:
                    row["speedup_vs_cudnn_f32"] = self.ref_s / t.median_s
        except Exception as exc:  # one failing configuration must not end the sweep
            row.update(status="error", message=f"{type(exc).__name__}: {exc}".splitlines()[0])
        self.sink.write(row)

    def cudnn(self) -> None:
        """torch conv2d: fp32 TF32 off (the reference, first), fp32 TF32 on, fp16."""
        import torch
        import torch.nn.functional as F

        from harness.verified import max_rel_error
        from kernels_cuda.launch import DTYPE_SUFFIX

        layer = self.shape.layer
        want = F.conv2d(self.x.double(), self.w.double(), None, layer.stride, layer.padding)
        for kernel, dtype, tf32, tol in ((REFERENCE, torch.float32, False, TOL_F32),
                                         ("torch-cudnn-tf32", torch.float32, True, TOL_TORCH_LOW),
                                         ("torch-cudnn-f16", torch.float16, False, TOL_TORCH_LOW)):
            torch.backends.cudnn.allow_tf32 = tf32
            x, w = self.x.to(dtype), self.w.to(dtype)

            def run(x=x, w=w):
                return F.conv2d(x, w, None, layer.stride, layer.padding)

            row = {"backend": "torch", "kernel": kernel, "dtype": DTYPE_SUFFIX[dtype],
                   "pattern": "dense", "requested_sparsity": 0.0, "nominal_density": 1.0,
                   "actual_density": 1.0}
            self.record(row, run, lambda run=run: max_rel_error(run(), want), tol)
        torch.backends.cudnn.allow_tf32 = False

    def semi_structured(self) -> None:
        """torch's 2:4 (fp16) for stride-1 1×1 layers: W[Cout, Cin] @ X[Cin, N*H*W], X's
        columns zero-padded to a multiple of 64 (what the sparse GEMM needs)."""
        import torch

        import patterns
        from harness.verified import max_rel_error

        layer = self.shape.layer
        if layer.kind != "1x1":
            return
        p = patterns.make("nm", n=2, m=4)
        w = (self.w * p.mask(self.w)).flatten(1).half()
        cols = self.x.half().permute(1, 0, 2, 3).reshape(layer.in_channels, -1)
        x = torch.zeros(layer.in_channels, -(-cols.shape[1] // 64) * 64,
                        dtype=torch.float16, device=cols.device)
        x[:, : cols.shape[1]] = cols
        want = w.double() @ x.double()
        dense = {"backend": "torch", "kernel": "torch-mm-f16", "dtype": "f16",
                 "pattern": "dense", "requested_sparsity": 0.0, "nominal_density": 1.0,
                 "actual_density": float((w != 0).float().mean())}
        self.record(dense, lambda: torch.mm(w, x),
                    lambda: max_rel_error(torch.mm(w, x), want), TOL_TORCH_LOW)
        held: dict[str, Any] = {}

        def check() -> float:
            from torch.sparse import to_sparse_semi_structured

            held["w"] = to_sparse_semi_structured(w)
            return max_rel_error(torch.mm(held["w"], x), want)

        sparse = {"backend": "torch", "kernel": "torch-2:4-f16", "dtype": "f16",
                  "pattern": p.describe(), "pattern_params": json.dumps(p.params),
                  "requested_sparsity": 0.5, "nominal_density": 0.5,
                  "actual_density": dense["actual_density"]}
        self.record(sparse, lambda: torch.mm(held["w"], x), check, TOL_TORCH_LOW)

    def ours(self, pattern: Any, dtype: str, requested: float) -> None:
        """kernels_cuda on the weight masked with ``pattern``, in fp32 or fp16."""
        import torch
        import torch.nn.functional as F

        import kernels_cuda
        from harness.verified import max_rel_error

        layer = self.shape.layer
        torch_dtype = torch.float16 if dtype == "f16" else torch.float32
        w = (self.w * pattern.mask(self.w)).to(torch_dtype)
        x = self.x.to(torch_dtype)
        row = {"backend": "cuda", "kernel": f"cuda-{pattern.name}-{dtype}", "dtype": dtype,
               "pattern": pattern.describe(), "pattern_params": json.dumps(pattern.params),
               "requested_sparsity": requested, "nominal_density": pattern.nominal_density,
               "actual_density": float((w != 0).float().mean())}
        held: dict[str, Any] = {}

        def check() -> float:
            conv = kernels_cuda.prepare(w, pattern=pattern, stride=layer.stride,
                                        padding=layer.padding)
            row["kernel"] = f"cuda-{conv.kernel}"
            held["conv"] = conv
            want = F.conv2d(x.double(), w.double(), None, layer.stride, layer.padding)
            return max_rel_error(conv(x), want)

        tol = TOL_F16 if dtype == "f16" else TOL_F32
        self.record(row, lambda: held["conv"](x), check, tol)


def geomeans(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (batch, kernel, pattern, requested sparsity): the geomean speedup over the model's
    conv layers (each shape weighted by its layer count) and the total-time speedup."""
    groups: dict[tuple, list] = defaultdict(list)
    for r in rows:
        if r.get("status") == "ok" and r.get("speedup_vs_cudnn_f32"):
            groups[(r["batch"], r["kernel"], r["pattern"], r["requested_sparsity"])].append(r)
    summary = []
    for (batch, kernel, pattern, sparsity), rs in sorted(groups.items()):
        layers = sum(r["layers"] for r in rs)
        logs = sum(r["layers"] * math.log(r["speedup_vs_cudnn_f32"]) for r in rs)
        ref = sum(r["layers"] * r["median_s"] * r["speedup_vs_cudnn_f32"] for r in rs)
        total = sum(r["layers"] * r["median_s"] for r in rs)
        summary.append({"batch": batch, "kernel": kernel, "pattern": pattern,
                        "requested_sparsity": sparsity, "layers_ok": layers,
                        "shapes_ok": len(rs), "geomean_speedup": math.exp(logs / layers),
                        "total_time_speedup": ref / total})
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="CSV file to write")
    parser.add_argument("--dump-shapes", type=Path, metavar="JSON",
                        help="only write ResNet-50's conv shapes (needs torchvision, no GPU)")
    parser.add_argument("--shapes", type=Path, metavar="JSON",
                        help="read the shapes from --dump-shapes' file instead of torchvision")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--sparsities", type=float, nargs="+", default=[0.5, 0.75, 0.875])
    parser.add_argument("--budget", type=float, default=0.2, help="seconds per measurement")
    parser.add_argument("--max-repeats", type=int, default=50)
    parser.add_argument("--max-shapes", type=int, default=None, help="first N shapes only")
    args = parser.parse_args(argv)
    if args.dump_shapes:
        dump_shapes(args.dump_shapes)
        return 0
    if args.out is None:
        parser.error("--out FILE.csv is required (or --dump-shapes JSON)")

    import torch

    import kernels_cuda
    import patterns
    from sparsebench import provenance

    if not torch.cuda.is_available():
        print("bench_cuda_resnet50: no CUDA GPU visible to torch; run it on a GPU machine",
              file=sys.stderr)
        return 1
    ok, reason = kernels_cuda.is_available()
    if not ok:
        print(f"bench_cuda_resnet50: kernels_cuda rows will be errors: {reason}",
              file=sys.stderr)
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = False
    device = torch.cuda.get_device_name()
    shapes = (load_shapes(args.shapes) if args.shapes else resnet50_shapes())
    shapes = shapes[: args.max_shapes]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, COLUMNS)
        writer.writeheader()
        sink = Sink(writer)
        for shape in shapes:
            for batch in args.batches:
                bench = Bench(shape, batch, args, device, sink)
                bench.cudnn()
                bench.semi_structured()
                bench.ours(patterns.make("dense"), "f32", 0.0)
                for sparsity in args.sparsities:
                    for cand in CANDIDATES:
                        bench.ours(patterns.nearest_level(cand.name, sparsity, **cand.fixed),
                                   cand.dtype, sparsity)
                fh.flush()
    summary = geomeans(sink.rows)
    summary_path = args.out.with_name(args.out.stem + "_geomean.csv")
    with summary_path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, list(summary[0]) if summary else ["batch"])
        writer.writeheader()
        writer.writerows(summary)
    code = provenance.code_state()
    info = {"build_info": kernels_cuda.build_info(), "software": provenance.software_versions(),
            "git_commit": code.commit, "git_dirty": code.dirty,
            "code_fingerprint": code.fingerprint,
            "cudnn": torch.backends.cudnn.version(), "device": device,
            "shapes": len(shapes), "args": {k: str(v) for k, v in vars(args).items()}}
    args.out.with_suffix(".json").write_text(json.dumps(info, indent=2))
    for s in summary:
        print(f"b{s['batch']} {s['kernel']:>22} {s['pattern']:>12} "
              f"s={s['requested_sparsity']:<6} geomean {s['geomean_speedup']:6.2f}x "
              f"total {s['total_time_speedup']:6.2f}x ({s['layers_ok']} layers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where a compiled whole model's time goes: per kind of part, on our C path.

``python -m benchmarks.profile_model --models resnet50,mobilenet_v2 --patterns dense,cs
--sparsities 0.9 --threads 1 [--csv PATH]`` compiles each model (``c_compiled``: BN folded,
epilogues fused), checks its output against the float64 reference, then times every part
of the forward pass (forward hooks around each fused conv, linear and pooling module,
``--repeats`` passes) and prints, per kind of part (``conv 1x1 s1``, ``depthwise 3x3 s2``,
``linear``, ``maxpool`` ...): the milliseconds per pass, the share of the pass, GFLOP/s on
the non-zero work and that as a share of the machine's measured fp32 peak
(``kernels_c.peak_gflops``); ``glue`` is what the pass spends outside the parts (fx code,
Python calls, tensor views). The parts are timed in the fx forward, whose modules' hooks
fire; ``total`` is the pass as ``CompiledModel`` runs it (the replay of its kernel calls,
harness/compile/replay.py), so the fx forward's glue and the hooks' own cost show as the
difference between ``hooked_ms`` and ``total``. The CPU is shared: shares within one run, not
absolute figures, are what this tells. docs/MEASURING.md §profiling-a-whole-model.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from harness.cli_args import add_level_arguments, csv_list

DEFAULT_MODELS = ("resnet50", "mobilenet_v2")
DEFAULT_PATTERNS = ("dense", "unstructured", "block", "cs")
DEFAULT_SPARSITIES = (0.9,)
PEAK_PROBES = 3  # a shared CPU only lowers the probe's figure: keep the best of a few


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_model",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=csv_list(str), default=list(DEFAULT_MODELS),
                        help="comma-separated zoo models (default: %(default)s)")
    add_level_arguments(parser, DEFAULT_PATTERNS, DEFAULT_SPARSITIES)
    parser.add_argument("--threads", type=csv_list(int), default=[1],
                        help="thread counts (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=20, help="timed passes (%(default)s)")
    parser.add_argument("--csv", default=None, metavar="PATH", help="also write the rows here")
    return parser.parse_args(argv)


def part_kind(module: nn.Module) -> str:
    """What a compiled part is, for grouping: 'conv 1x1 s1', 'depthwise 3x3 s2', 'linear',
    'maxpool', 'avgpool' or 'torch conv'."""
    from harness.compile.model import CPool, FusedConv
    from kernels_c.depthwise import DepthwiseConv

    if isinstance(module, CPool):
        return "maxpool" if module.kind == "max" else "avgpool"
    if not isinstance(module, FusedConv):
        return "linear"
    if module.kernel is None:
        return "torch conv"
    if isinstance(module.kernel, DepthwiseConv):
        kh, kw = module.kernel.weight.shape[2:]
        return f"depthwise {kh}x{kw} s{module.kernel.stride}"
    packed = module.kernel.packed
    return f"conv {packed.kh}x{packed.kw} s{module.kernel.stride[0]}"


def part_flops(module: nn.Module, out: torch.Tensor) -> float:
    """FLOPs of one call on the non-zero weights (2 per MAC); 0 for pooling."""
    from harness.compile.model import CPool, FusedConv
    from kernels_c.depthwise import DepthwiseConv

    if isinstance(module, CPool):
        return 0.0
    kernel = module.kernel
    if module.kernel is None:  # a torch conv or GEMM: its weight
        weight = module.torch_conv[0] if isinstance(module, FusedConv) else module.torch_linear[0]
        nnz = float(torch.count_nonzero(weight))
    elif isinstance(kernel, DepthwiseConv):
        nnz = float(torch.count_nonzero(kernel.weight))
    else:
        nnz = float(kernel.nnz)
    pixels = out.shape[0] * (out.shape[2] * out.shape[3] if out.dim() == 4 else 1)
    return 2.0 * nnz * pixels


@dataclass
class PartTimes:
    """Seconds and FLOPs per kind of part, summed over the timed passes."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    flops: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def hook(self, module: nn.Module) -> list[Any]:
        kind, started = part_kind(module), [0.0]

        def before(_module: nn.Module, _args: Any) -> None:
            started[0] = time.perf_counter()

        def after(_module: nn.Module, _args: Any, out: torch.Tensor) -> None:
            self.seconds[kind] += time.perf_counter() - started[0]
            self.flops[kind] += part_flops(module, out)
            self.calls[kind] += 1

        return [module.register_forward_pre_hook(before), module.register_forward_hook(after)]


def _timed(fn: Any, repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def _fx_forward(compiled: Any, x: torch.Tensor) -> None:
    """One pass through the fx module, whose parts' forward hooks fire (a replay's calls
    bypass them)."""
    with torch.inference_mode():
        compiled.module(x)


def profile_model(name: str, level: Any, threads: int, repeats: int,
                  peak: float) -> list[dict[str, Any]]:
    """Rows (one per kind of part, then glue and total) of model ``name`` at ``level``."""
    import patterns
    from harness.compile.model import PARTS, CompiledModel, compile_model
    from harness.model_bench import make_case
    from harness.verified import MODEL_TOLERANCE, max_rel_error

    case = make_case(name, None if level is None else level, 1)
    compiled: CompiledModel = compile_model(case.model, case.x, threads=threads,
                                            layer_patterns=case.layer_patterns,
                                            dense_pattern=patterns.make("dense"))
    error = max_rel_error(compiled(case.x), case.reference)
    label = "dense" if level is None else level.label
    base = {"model": name, "level": label, "threads": threads, "max_rel_error": error}
    if not error <= MODEL_TOLERANCE:
        return [{**base, "part": "total", "status": f"output off: {error:.2e}"}]
    run = lambda: compiled(case.x)  # noqa: E731
    _timed(run, 3)  # warm-up
    total = _timed(run, repeats)
    times = PartTimes()
    handles = [h for m in compiled.module.modules() if isinstance(m, PARTS)
               for h in times.hook(m)]
    hooked = _timed(lambda: _fx_forward(compiled, case.x), repeats)
    for handle in handles:
        handle.remove()
    rows = []
    for kind in sorted(times.seconds, key=times.seconds.get, reverse=True):
        ms = times.seconds[kind] / repeats * 1e3
        gflops = times.flops[kind] / times.seconds[kind] / 1e9 if times.flops[kind] else None
        rows.append({**base, "part": kind, "calls": times.calls[kind] // repeats, "ms": ms,
                     "share_pct": 100 * ms / (hooked * 1e3), "gflops": gflops,
                     "peak_pct": None if gflops is None else 100 * gflops / peak,
                     "status": "ok"})
    glue = hooked * 1e3 - sum(r["ms"] for r in rows)
    rows.append({**base, "part": "glue", "ms": glue, "share_pct": 100 * glue / (hooked * 1e3),
                 "status": "ok"})
    flops = sum(times.flops.values()) / repeats
    rows.append({**base, "part": "total", "ms": total * 1e3, "share_pct": None,
                 "gflops": flops / total / 1e9, "peak_pct": 100 * flops / total / 1e9 / peak,
                 "hooked_ms": hooked * 1e3, "status": "ok"})
    return rows


COLUMNS = ["level", "threads", "part", "calls", "ms", "share_pct", "gflops", "peak_pct"]


def print_table(rows: list[dict[str, Any]]) -> None:
    import pandas as pd

    df = pd.DataFrame(rows).reindex(columns=[*COLUMNS, "model", "status", "max_rel_error",
                                             "hooked_ms"])
    for model, group in df.groupby("model", sort=False):
        print(f"\n{model}")
        print(group[COLUMNS].to_string(index=False, na_rep="", float_format=lambda v: f"{v:.1f}"))
        for r in group[group.status != "ok"].to_dict("records"):
            print(f"  {r['level']} {r['threads']} threads: {r['status']}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import kernels_c
    from harness.kernel_bench import sweep_levels
    from patterns.models import model_info

    try:
        for name in args.models:
            model_info(name)
        levels = [None if lv.label == "dense" else lv
                  for lv in sweep_levels(args.patterns, args.sparsities)]
        if args.repeats < 1 or any(t < 1 or t > kernels_c.max_threads() for t in args.threads):
            raise ValueError(f"--repeats >= 1 and --threads in 1..{kernels_c.max_threads()}")
    except (ValueError, KeyError) as exc:
        print(f"profile_model: {exc}", file=sys.stderr)
        return 2
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        peak = max(kernels_c.peak_gflops(threads) for _ in range(PEAK_PROBES))
        print(f"{threads} threads: measured fp32 peak {peak:.0f} GFLOP/s", file=sys.stderr)
        for name in args.models:
            for level in levels:
                rows.extend(profile_model(name, level, threads, args.repeats, peak))
    print_table(rows)
    if args.csv:
        import pandas as pd

        pd.DataFrame(rows).to_csv(args.csv, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

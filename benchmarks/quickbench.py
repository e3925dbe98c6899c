"""Quick per-layer timing of the C kernels on ResNet-50's unique conv shapes (batch 1).

``python benchmarks/quickbench.py [--patterns cs:k=4,block:n=16:sparsity=0.75] [--threads 1]
[--layout auto]`` prints, per layer, torch dense, our dense and each pattern (median of
repeats from ``harness.timing.measure``, ms), and the GFLOP/s on the non-zero work; a
pattern cell ends in ``!`` when its output is off (``harness.verified.max_rel_error``).
The harness's ``sparsebench kernels`` command is the real benchmark; this is the kernel
engineer's check (ratios within one run; the CPU is shared). It runs only as a script
and defines no asv benchmark names.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

import kernels_c
import patterns
from harness.timing import measure
from harness.verified import LAYER_TOLERANCE, max_rel_error

# (name, cin, cout, k, stride, pad, hw): the unique non-stem convs of torchvision ResNet-50
RESNET50 = [
    ("l1.c1", 64, 64, 1, 1, 0, 56), ("l1.c2", 64, 64, 3, 1, 1, 56),
    ("l1.c3", 64, 256, 1, 1, 0, 56), ("l1.ds", 64, 256, 1, 1, 0, 56),
    ("l1.c1b", 256, 64, 1, 1, 0, 56),
    ("l2.c1", 256, 128, 1, 1, 0, 56), ("l2.c2s", 128, 128, 3, 2, 1, 56),
    ("l2.c3", 128, 512, 1, 1, 0, 28), ("l2.ds", 256, 512, 1, 2, 0, 56),
    ("l2.c1b", 512, 128, 1, 1, 0, 28), ("l2.c2", 128, 128, 3, 1, 1, 28),
    ("l3.c1", 512, 256, 1, 1, 0, 28), ("l3.c2s", 256, 256, 3, 2, 1, 28),
    ("l3.c3", 256, 1024, 1, 1, 0, 14), ("l3.ds", 512, 1024, 1, 2, 0, 28),
    ("l3.c1b", 1024, 256, 1, 1, 0, 14), ("l3.c2", 256, 256, 3, 1, 1, 14),
    ("l4.c1", 1024, 512, 1, 1, 0, 14), ("l4.c2s", 512, 512, 3, 2, 1, 14),
    ("l4.c3", 512, 2048, 1, 1, 0, 7), ("l4.ds", 1024, 2048, 1, 2, 0, 14),
    ("l4.c1b", 2048, 512, 1, 1, 0, 7), ("l4.c2", 512, 512, 3, 1, 1, 7),
]


def best_time(fn: Callable[[], Any], budget: float = 0.15) -> float:
    """Median seconds of ``fn`` (one warm-up, at least 3 timed calls, ``budget`` seconds)."""
    return measure(fn, warmup=1, min_repeats=3, budget_s=budget).median_s


def parse_pattern(text: str) -> Any:
    """``cs:k=4`` -> patterns.make('cs', k=4)."""
    name, *kvs = text.split(":")
    params = {}
    for kv in kvs:
        key, value = kv.split("=")
        params[key] = value if value.isalpha() else (float(value) if "." in value else int(value))
    return patterns.make(name, **params)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patterns", default="cs:k=4,block:n=16:sparsity=0.75")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--layers", default="")
    ap.add_argument("--layout", default="auto")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    pats = [parse_pattern(p) for p in args.patterns.split(",") if p]
    peak = kernels_c.peak_gflops(args.threads)
    print(f"peak {peak:.0f} GFLOP/s, isa {kernels_c.available_isas()[0]}, threads {args.threads}")
    print("layer       torch  dense  " + "  ".join(f"{p.describe():>22}" for p in pats))
    ratios: dict[str, list[float]] = {"dense/torch": []}
    for name, cin, cout, k, s, pad, hw in RESNET50:
        if args.layers and not any(sel in name for sel in args.layers.split(",")):
            continue
        x = torch.randn(1, cin, hw, hw)
        w = torch.randn(cout, cin, k, k)
        flops = 2 * cout * cin * k * k * ((hw + 2 * pad - k) // s + 1) ** 2
        t_torch = best_time(lambda x=x, w=w, s=s, pad=pad: F.conv2d(x, w, None, s, pad))
        dense = kernels_c.prepare(w, pattern=patterns.make("dense"), stride=s, padding=pad)
        t_dense = best_time(lambda d=dense, x=x: d(x, args.threads, layout=args.layout))
        ratios["dense/torch"].append(t_torch / t_dense)
        if k == 1:
            ratios.setdefault("dense/torch 1x1 layers", []).append(t_torch / t_dense)
        cells = []
        for p in pats:
            wm = w * p.mask(w)
            conv = kernels_c.prepare(wm, pattern=p, stride=s, padding=pad)
            y = conv(x, args.threads)
            err = max_rel_error(y, F.conv2d(x.double(), wm.double(), None, s, pad))
            t = best_time(lambda c=conv, x=x: c(x, args.threads, layout=args.layout))
            gf = flops * conv.nnz / w.numel() / t / 1e9
            ratios.setdefault(f"{p.describe()} vs dense", []).append(t_dense / t)
            ratios.setdefault(f"{p.describe()} vs torch", []).append(t_torch / t)
            ratios.setdefault(f"{p.describe()} %peak", []).append(gf / peak)
            ratios.setdefault(f"{p.describe()} %280GF", []).append(gf / 280.0)
            flag = "" if err <= LAYER_TOLERANCE else "!"
            cells.append(f"{t*1e3:6.3f}ms {t_dense/t:4.2f}x {gf:5.0f}GF{flag}")
        print(f"{name:8s} {t_torch*1e3:6.3f} {t_dense*1e3:6.3f} "
              f"({flops / t_dense / 1e9:4.0f}GF) " + "  ".join(cells), flush=True)
    for key, vals in ratios.items():
        geo = math.exp(sum(map(math.log, vals)) / len(vals))
        frac = sum(v > 1 for v in vals) / len(vals)
        print(f"{key:28s} geomean {geo:5.2f}  min {min(vals):5.2f}  >1 on {frac:4.0%}")


if __name__ == "__main__":
    main()

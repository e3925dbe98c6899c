"""Synthetic but well-formed rows for the results tests and the store benchmark.

Every value is a plausible one the harness would write, so tests exercise the real schema
(types, constraints, keys) rather than a toy one.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

from results.keys import checkpoint_key

PATTERNS: list[tuple[str, dict[str, Any]]] = [
    ("dense", {}), ("unstructured", {}), ("nm", {"n": 2, "m": 4}), ("cs", {"k": 4}),
    ("block", {"n": 16}), ("filter", {}),
]  # fmt: skip
MODELS = ["resnet20", "resnet56", "vgg_small", "mobilenet_v2_small", "resnet18"]
SPARSITIES = [0.0, 0.5, 0.75, 0.9]


def machine(**overrides: Any) -> dict[str, Any]:
    """A captured-machine dict (as harness.environment.capture_machine returns)."""
    row = {
        "hostname": "bench-host", "cpu_model": "AMD EPYC", "cores": 2,
        "isa_flags": "avx2 avx512f fma", "memory_bytes": 24 * 2**30,
        "os": "Debian GNU/Linux 12 (bookworm)", "kernel": "6.1.0", "gpu_name": None,
        "gpu_driver": None, "gpu_memory_bytes": None, "arch": "x86_64",
    }  # fmt: skip
    return {**row, **overrides}


def software(**overrides: Any) -> dict[str, Any]:
    """A captured-software dict (as sparsebench.provenance.software_versions returns)."""
    row = {
        "python": "3.11.7", "torch": "2.14.1", "torchvision": "0.29.1", "numpy": "2.4.6",
        "duckdb": "2.0.0", "compiler": "gcc 12.2.0", "cuda": None, "sparsebench": "0.1.0",
    }  # fmt: skip
    return {**row, **overrides}


def checkpoint(**overrides: Any) -> dict[str, Any]:
    """A checkpoint row (nm 2:4 resnet20 unless overridden), with its key."""
    row = {
        "model": "resnet20", "dataset": "fashion-mnist", "pattern": "nm",
        "pattern_params": {"n": 2, "m": 4}, "requested_sparsity": 0.5,
        "nominal_density": 0.5, "actual_density": 0.5, "recipe": "gmp",
        "recipe_params": {"lr": 0.1}, "seed": 0, "epochs": 3, "top1": 0.9, "top5": 0.99,
        "layer_table": [{"name": "conv1", "density": 0.5}], "mask_hash": "m" * 64,
        "weights_hash": "w" * 64, "path": "ckpt/resnet20-nm.pt", "train_seconds": 12.5,
    }  # fmt: skip
    row.update(overrides)
    row.setdefault("checkpoint_key", checkpoint_key(row))
    return row


def measurement(**overrides: Any) -> dict[str, Any]:
    """An 'ok' model-scope measurement row (c backend, nm 2:4) unless overridden."""
    row = {
        "scope": "model", "model": "resnet20", "layer": None, "layer_kind": None,
        "backend": "c", "kernel": "nm-avx512", "device": "cpu", "isa": "avx512",
        "compile_flags": "-O3 -march=native -fopenmp", "pattern": "nm",
        "pattern_params": {"n": 2, "m": 4}, "requested_sparsity": 0.5,
        "nominal_density": 0.5, "actual_density": 0.5, "threads": 1, "batch": 1,
        "flops_dense": 8.2e7, "flops_nonzero": 4.1e7, "warmup": 3, "repeats": 20,
        "median_s": 0.010, "min_s": 0.009, "p90_s": 0.011, "stdev_s": 0.0004,
        "max_rel_error": 2e-6, "status": "ok", "message": None, "checkpoint_key": None,
        "mask_hash": "m" * 64,
    }  # fmt: skip
    return {**row, **overrides}


def sweep(count: int, seed: int = 0) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``count`` distinct measurement rows of a synthetic sweep and its checkpoints.

    One row in ten is model-scope (tied to a checkpoint, so it is a Pareto point); the
    rest are layer-scope. Checkpoints cover MODELS x PATTERNS x SPARSITIES.
    """
    rng = random.Random(seed)
    checkpoints = [
        checkpoint(
            model=model, pattern=pattern, pattern_params=params, requested_sparsity=sparsity,
            actual_density=1 - sparsity, top1=0.93 - sparsity * rng.uniform(0.0, 0.1),
        )
        for model, (pattern, params), sparsity in itertools.product(MODELS, PATTERNS, SPARSITIES)
    ]  # fmt: skip
    rows = []
    for i in range(count):
        ck = checkpoints[i % len(checkpoints)]
        median = rng.uniform(1e-4, 1e-1)
        rows.append(
            measurement(
                scope="model" if i % 10 == 0 else "layer", model=ck["model"],
                layer=f"layer{i}", layer_kind="3x3",
                backend="torch" if ck["pattern"] == "dense" else rng.choice(["c", "torch"]),
                kernel=f"{ck['pattern']}-avx512", pattern=ck["pattern"],
                pattern_params=ck["pattern_params"],
                requested_sparsity=ck["requested_sparsity"],
                actual_density=ck["actual_density"], threads=1 + i % 2, batch=1 + (i // 2) % 2,
                in_channels=64, out_channels=64, height=32, width=32, kernel_h=3, kernel_w=3,
                stride=1, padding=1, median_s=median, min_s=median * 0.95,
                p90_s=median * 1.1, stdev_s=median * 0.02, checkpoint_key=ck["checkpoint_key"],
            )
        )  # fmt: skip
    return rows, checkpoints

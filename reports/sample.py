"""Synthetic but plausible results written through ``results.Store``: for tests and benchmarks.

The report tests and ``benchmarks/bench_report_build.py`` need a database with runs,
checkpoints (several seeds, top-1/top-5) and layer- and model-scope measurements on one or
more machines, without training or timing anything. ``fill`` writes one through the real
store, so the report reads exactly what the harness would write. Figures are made up
(deterministic from the configuration); nothing here is a measurement.
"""

from __future__ import annotations

import json
import random
import zlib
from dataclasses import dataclass, field

import numpy as np

import results
from results import stats

#: (pattern, params, density, accuracy cost in points at that density, kernel efficiency)
PATTERN_GRID: tuple[tuple[str, dict, float, float, float], ...] = (
    ("dense", {}, 1.0, 0.0, 1.15),
    ("unstructured", {"sparsity": 0.5, "scope": "layer"}, 0.5, 0.1, 2.6),
    ("unstructured", {"sparsity": 0.75, "scope": "layer"}, 0.25, 0.6, 2.6),
    ("nm", {"n": 2, "m": 4}, 0.5, 0.3, 1.5),
    ("nm", {"n": 1, "m": 4}, 0.25, 1.2, 1.5),
    ("block", {"n": 16, "sparsity": 0.5, "balance": "uniform", "criterion": "l1"}, 0.5, 0.7, 1.2),
    ("block", {"n": 16, "sparsity": 0.75, "balance": "uniform", "criterion": "l1"}, 0.25, 1.8, 1.2),
    ("cs", {"k": 2, "d": 8}, 0.5, 0.4, 1.1),
    ("cs", {"k": 4, "d": 4}, 0.25, 1.0, 1.1),
    ("filter", {"sparsity": 0.5}, 0.5, 2.5, 1.0),
)

#: Recipe used to train each pattern (oneshot for the rest, from the dense parent).
RECIPES = {"dense": "dense", "nm": "srste", "block": "subp", "cs": "cs"}


@dataclass(frozen=True)
class Machine:
    """One synthetic machine: its record for the store and how fast it is (GFLOP/s)."""

    hostname: str
    cpu_model: str
    gflops: float
    device: str = "cpu"
    gpu_name: str | None = None


@dataclass(frozen=True)
class SampleSpec:
    """What ``fill`` writes: the cross product of these, one run per machine."""

    models: tuple[str, ...] = ("resnet20",)
    layers: int = 8
    seeds: tuple[int, ...] = (0, 1)
    threads: tuple[int, ...] = (1,)
    batches: tuple[int, ...] = (1,)
    machines: tuple[Machine, ...] = (Machine("bench-a", "AMD EPYC 9R45 (Zen 5)", 120.0),)
    patterns: tuple[tuple[str, dict, float, float, float], ...] = PATTERN_GRID
    with_accuracy: bool = True
    wrong_rows: int = 0
    dataset: str = "fashion-mnist"
    test_images: int = 2000
    software: dict = field(
        default_factory=lambda: {
            "python": "3.12.3", "torch": "2.14.1", "torchvision": "0.29.1", "numpy": "2.3.0",
            "duckdb": "1.4.0", "compiler": "gcc 14.2", "cuda": None, "sparsebench": "0.1.0",
        }
    )


def synthetic_layers(count: int) -> list[dict]:
    """A ResNet-like stack: 3×3 convs, a strided 3×3 and a 1×1 shortcut at each stage."""
    layers, cin, size = [], 16, 32
    for i in range(count):
        stage_start = i % 4 == 0 and i > 0
        if i % 4 == 3:
            kind, k, stride, cout = "1x1", 1, 1, cin
        elif stage_start:
            kind, k, stride, cout = "strided", 3, 2, cin * 2
        else:
            kind, k, stride, cout = "3x3", 3, 1, cin
        layers.append({
            "layer": f"layer{i // 4 + 1}.{i % 4}.conv", "layer_kind": kind, "in_channels": cin,
            "out_channels": cout, "height": size, "width": size, "kernel_h": k, "kernel_w": k,
            "stride": stride, "padding": k // 2,
        })
        cin, size = cout, size // stride
    return layers


def _flops(layer: dict, batch: int) -> float:
    out = (layer["height"] // layer["stride"]) * (layer["width"] // layer["stride"])
    macs = out * layer["out_channels"] * layer["in_channels"] * layer["kernel_h"] ** 2
    return 2.0 * macs * batch


def _jitter(*key: object) -> float:
    """A deterministic factor in [0.97, 1.03] for one configuration."""
    return 0.97 + 0.06 * random.Random(json.dumps(key, default=str)).random()


def fill(store: results.Store, spec: SampleSpec = SampleSpec()) -> list[str]:
    """Write ``spec``'s runs, checkpoints and measurements into ``store``; returns run ids."""
    layers = synthetic_layers(spec.layers)
    checkpoints = _checkpoints(spec) if spec.with_accuracy else []
    run_ids = []
    for machine in spec.machines:
        run_id = store.begin_run(
            "quick", f"# synthetic sample\nmodels = {list(spec.models)}\n",
            {"hostname": machine.hostname, "cpu_model": machine.cpu_model, "cores": 2,
             "isa_flags": "avx2 avx512f", "memory_bytes": 24 * 2**30, "os": "Debian 13",
             "kernel": "6.12", "gpu_name": machine.gpu_name, "gpu_driver": None,
             "gpu_memory_bytes": None},
            spec.software, "0123456789abcdef0123456789abcdef01234567", False,
        )
        rows = _measurements(spec, machine, layers, checkpoints)
        store.add_rows(run_id, measurements=rows, checkpoints=checkpoints)
        store.end_run(run_id, "finished")
        run_ids.append(run_id)
    return run_ids


def _checkpoints(spec: SampleSpec) -> list[dict]:
    rows = []
    for model in spec.models:
        for seed in spec.seeds:
            parent = dense_bits = None
            for pattern, params, density, cost, _ in spec.patterns:
                recipe = RECIPES.get(pattern, "oneshot")
                noise = (random.Random(f"{model}{pattern}{params}{seed}").random() - 0.5) * 0.4
                row = {
                    "model": model, "dataset": spec.dataset, "pattern": pattern,
                    "pattern_params": params, "requested_sparsity": 1 - density,
                    "nominal_density": density, "actual_density": density * 0.995 + 0.005,
                    "recipe": recipe, "recipe_params": {"lr": 0.1, "init_weights_hash": parent}
                    if recipe == "oneshot" else {"lr": 0.1}, "seed": seed, "epochs": 5,
                    "top1": 0.92 - (cost + noise) / 100, "top5": 0.995 - cost / 400,
                    "layer_table": [], "mask_hash": f"mask-{model}-{pattern}-{seed}",
                    "weights_hash": f"w-{model}-{pattern}-{json.dumps(params)}-{seed}",
                    "path": f"/tmp/ckpt/{model}-{pattern}-{seed}.pt", "train_seconds": 60.0,
                }
                dense_bits = _evaluation(row, dense_bits if parent else None, spec.test_images)
                row["checkpoint_key"] = results.checkpoint_key(row)
                parent = parent or row["weights_hash"]
                rows.append(row)
    return rows


def _evaluation(row: dict, dense: np.ndarray | None, n: int) -> np.ndarray:
    """Give ``row`` per-image correctness on a synthetic ``n``-image split: the dense parent's
    images drawn at its top-1, a child's by flipping some of its parent's (so pairs are
    correlated, as real ones are); top-1 / top-5 and their Wilson intervals follow. Returns
    the dense bits (the parent's, for children)."""
    rng = np.random.default_rng(zlib.crc32(row["weights_hash"].encode()))
    correct = round(row["top1"] * n)
    if dense is None:
        right = np.zeros(n, dtype=bool)
        right[rng.choice(n, correct, replace=False)] = True
    else:
        right = dense.copy()
        delta = correct - int(dense.sum())
        down = max(0, -delta) + n // 100
        up = down + delta
        right[rng.choice(np.flatnonzero(dense), down, replace=False)] = False
        right[rng.choice(np.flatnonzero(~dense), up, replace=False)] = True
    correct5 = min(n, round(row["top5"] * n))
    row.update(top1=correct / n, top5=correct5 / n, test_images=n,
               test_split_hash=f"synthetic-{n}", top1_correct=stats.pack_bits(right))
    for k, hits in (("1", correct), ("5", correct5)):
        row[f"top{k}_lo"], row[f"top{k}_hi"] = stats.wilson_interval(hits, n)
    return right if dense is None else dense


def _measurements(
    spec: SampleSpec, machine: Machine, layers: list[dict], checkpoints: list[dict]
) -> list[dict]:
    by_config = {(c["model"], c["pattern"], json.dumps(c["pattern_params"], sort_keys=True),
                  c["seed"]): c for c in checkpoints}
    rows: list[dict] = []
    for model in spec.models:
        for threads in spec.threads:
            for batch in spec.batches:
                for pattern, params, density, _, efficiency in spec.patterns:
                    for seed in spec.seeds:
                        ckpt = by_config.get((model, pattern, json.dumps(params, sort_keys=True),
                                              seed))
                        for backend in ("torch", "c") if pattern == "dense" else ("c",):
                            rows += _config_rows(
                                spec, machine, model, layers, threads, batch, pattern, params,
                                density, efficiency, backend, seed, ckpt,
                            )
    for i in range(min(spec.wrong_rows, len(rows))):
        rows[i].update(status="wrong", median_s=None, min_s=None, p90_s=None, stdev_s=None,
                       message="max rel error 3e-2 > 1e-4")
    return rows


def _config_rows(
    spec: SampleSpec, machine: Machine, model: str, layers: list[dict], threads: int,
    batch: int, pattern: str, params: dict, density: float, efficiency: float, backend: str,
    seed: int, ckpt: dict | None,
) -> list[dict]:
    """Layer rows for every layer plus the model row of one configuration on one machine."""
    speed = machine.gflops * 1e9 * threads ** 0.9
    base = {
        "backend": backend, "device": machine.device, "isa": "avx512" if backend == "c" else None,
        "kernel": f"{pattern}-avx512" if backend == "c" else "onednn",
        "compile_flags": "-O3 -march=native -fopenmp" if backend == "c" else None,
        "pattern": pattern, "pattern_params": params, "requested_sparsity": 1 - density,
        "nominal_density": density, "threads": threads, "batch": batch, "warmup": 3,
        "repeats": 20, "max_rel_error": 2e-6, "status": "ok", "message": None,
        "checkpoint_key": ckpt["checkpoint_key"] if ckpt else None,
        "mask_hash": ckpt["mask_hash"] if ckpt else f"mask-{model}-{pattern}-{seed}",
    }
    factor = 1.0 if backend == "torch" else density * 1.15 / efficiency + 0.05
    rows, total_s, total_flops = [], 0.0, 0.0
    for layer in layers:
        f = _flops(layer, batch)
        kind_penalty = 1.3 if layer["layer_kind"] == "1x1" and pattern != "dense" else 1.0
        t = f / speed * factor * kind_penalty * _jitter(machine, model, layer["layer"], pattern,
                                                         params, backend, threads, batch, seed)
        total_s += t
        total_flops += f
        rows.append(_timed({**base, **layer, "scope": "layer", "model": model,
                            "actual_density": density, "flops_dense": f,
                            "flops_nonzero": f * density}, t))
    rows.append(_timed({**base, "scope": "model", "model": model, "layer": None,
                        "layer_kind": None, "actual_density": density,
                        "flops_dense": total_flops, "flops_nonzero": total_flops * density},
                       total_s * 1.08))
    return rows


#: Shape columns a model-scope row leaves empty.
_SHAPE_COLUMNS = ("in_channels", "out_channels", "height", "width", "kernel_h", "kernel_w",
                  "stride", "padding")


def _timed(row: dict, seconds: float) -> dict:
    """Fill the timing columns around a median of ``seconds`` (and NULL shapes if absent)."""
    return {**dict.fromkeys(_SHAPE_COLUMNS), **row, "median_s": seconds,
            "median_lo_s": seconds * 0.985, "median_hi_s": seconds * 1.02,
            "min_s": seconds * 0.96, "p90_s": seconds * 1.05, "stdev_s": seconds * 0.02}

"""Load asv's result files into the results store, so asv's per-commit history and the
harness's sweeps can be queried together.

Every ``<results_dir>/<machine>/<commit>-<env>.json`` becomes one run (``spec_name='asv'``,
``git_commit`` = the recorded commit) whose machine comes from asv's ``machine.json``. The
software record carries the commit (``sparsebench='asv@<hash>'``), so two commits never
share a measurement key. Imported: ``time`` benchmarks whose parameters name a
representative ``layer`` and ``threads`` (``benchmarks/bench_kernels.py``); their asv median
becomes ``median_s``. ``track`` ratios are not imported: they are ratios of the imported
times. Failed or skipped points (asv stores NaN/null) carry no time and are left out.
Re-importing a file adds nothing (rows are keyed by configuration).
"""

from __future__ import annotations

import ast
import itertools
import json
import math
from pathlib import Path
from typing import Any

from harness.kernel_bench import REPRESENTATIVE_LAYERS, sweep_levels

PARAM_DEFAULTS = {"pattern": "dense", "sparsity": 0.0, "backend": "c"}


def _load(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable asv JSON file ({exc})") from None


def _machine(machine_file: Path) -> dict[str, Any]:
    info = _load(machine_file) if machine_file.exists() else {}
    return {
        "hostname": info.get("machine", machine_file.parent.name),
        "cpu_model": info.get("cpu") or None,
        "cores": int(info["num_cpu"]) if str(info.get("num_cpu", "")).isdigit() else None,
        "memory_bytes": int(info["ram"]) if str(info.get("ram", "")).isdigit() else None,
        "os": info.get("os") or None,
        "arch": info.get("arch") or None,
        "asv_machine": machine_file.parent.name,
    }


def _software(result: dict[str, Any]) -> dict[str, Any]:
    return {"python": result.get("python"), "sparsebench": f"asv@{result['commit_hash']}",
            "asv_env": result.get("env_name"), **result.get("requirements", {})}


def _row(name: str, params: dict[str, str], seconds: float, repeats: Any,
         ) -> dict[str, Any] | None:
    """A measurement row for one asv point, or None if it is not a layer-kernel time."""
    values = {**PARAM_DEFAULTS, **{k: ast.literal_eval(v) for k, v in params.items()}}
    layer_key = values.get("layer")
    if layer_key not in REPRESENTATIVE_LAYERS or "threads" not in values:
        return None
    layer = REPRESENTATIVE_LAYERS[layer_key]
    pattern = sweep_levels([values["pattern"]], [values["sparsity"]])[0].pattern
    return {
        "scope": "layer", "model": layer_key.split(":", 1)[0], "layer": layer.name,
        "layer_kind": layer.kind, "backend": values["backend"], "device": "cpu",
        "pattern": pattern.name, "pattern_params": json.dumps(pattern.params, sort_keys=True),
        "requested_sparsity": values["sparsity"], "nominal_density": pattern.nominal_density,
        "threads": values["threads"], "batch": 1, "in_channels": layer.in_channels,
        "out_channels": layer.out_channels, "height": layer.height, "width": layer.width,
        "kernel_h": layer.kernel_h, "kernel_w": layer.kernel_w, "stride": layer.stride,
        "padding": layer.padding, "flops_dense": layer.flops(1),
        "repeats": repeats, "median_s": seconds, "status": "ok", "message": f"asv {name}",
    }


def result_rows(result: dict[str, Any], benchmarks: dict[str, Any]) -> list[dict[str, Any]]:
    """The measurement rows of one asv result file (see the module docstring)."""
    columns = result.get("result_columns", [])
    if result.get("version") != 2 or "result" not in columns:
        raise ValueError("unsupported asv result format: expected version 2 (asv >= 0.6)")
    rows = []
    for name, packed in result.get("results", {}).items():
        entry = dict(zip(columns, packed, strict=False))
        info = benchmarks.get(name, {})
        if info.get("type") != "time":
            continue
        values, param_lists = entry["result"], entry.get("params") or []
        values = values if isinstance(values, list) else [values]
        repeats = (entry.get("stats_repeat") or [None] * len(values))
        combos = itertools.product(*param_lists) if param_lists else [()]
        for combo, seconds, n in zip(combos, values, repeats, strict=False):
            if seconds is None or not math.isfinite(seconds):
                continue
            row = _row(name, dict(zip(info.get("param_names", []), combo, strict=True)),
                       seconds, n)
            if row is not None:
                rows.append(row)
    return rows


def import_asv_results(results_dir: str | Path, store: Any) -> int:
    """Import every asv result file under ``results_dir`` into ``store``; new rows added."""
    import results

    root = Path(results_dir)
    bench_file = root / "benchmarks.json"
    if not bench_file.exists():
        raise ValueError(f"{root}: no benchmarks.json; point at asv's results_dir "
                         "(.asv/results) after an 'asv run'")
    benchmarks = _load(bench_file)
    added = 0
    for path in sorted(root.glob("*/*.json")):
        if path.name == "machine.json":
            continue
        result = _load(path)
        rows = result_rows(result, benchmarks)
        machine, software = _machine(path.parent / "machine.json"), _software(result)
        ids = {"machine_id": results.machine_id(machine),
               "software_id": results.software_id(software)}
        if not rows or all(store.has_key("measurements", results.measurement_key({**r, **ids}))
                           for r in rows):
            continue  # nothing new: no empty run record either
        run_id = store.begin_run(
            "asv", json.dumps({"file": str(path), "benchmarks": sorted(result["results"])}),
            machine, software, result["commit_hash"], None,
            notes={"asv_env": result.get("env_name"), "asv_date_ms": result.get("date")})
        try:
            added += store.add_rows(run_id, measurements=rows)["measurements"]
        except BaseException:
            store.end_run(run_id, "failed")
            raise
        store.end_run(run_id, "finished")
    return added

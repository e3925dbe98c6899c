"""Where the C kernels' time goes, per layer and pattern level: callgrind and llvm-mca.

``python -m benchmarks.profile_kernels --model resnet50 --layers layer1.0.conv1,...
--patterns dense,cs,nm,unstructured,block --sparsities 0.75,0.9375 [--csv PATH]`` runs
each (layer, level) once on one thread under callgrind (``benchmarks.profile.case``) and
prints one table: the share of instructions in the micro-kernel's FMA loops, the rest of
the kernel, the tile copy, the driver's staging, the output compaction and everything
else; the FMA lanes that did useful work; and llvm-mca's bound for the hottest loop, as
profiled (the widest ISA valgrind runs) and for the micro-kernel the CPU runs natively.
docs/MEASURING.md §profiling-the-kernels says what each column means.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from harness.cli_args import add_level_arguments, csv_list

DEFAULT_MODEL = "resnet50"
# a 1x1 and a 3x3 at 56x56, a strided 3x3, a 1x1 at 14x14, a 3x3 at 7x7
DEFAULT_LAYERS = ("layer1.0.conv1", "layer1.0.conv2", "layer2.0.conv2", "layer3.1.conv1",
                  "layer4.1.conv2")
DEFAULT_PATTERNS = ("dense", "cs", "nm", "unstructured", "block")
DEFAULT_SPARSITIES = (0.75, 0.9375)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_kernels",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help="zoo model (%(default)s)")
    parser.add_argument("--layers", type=csv_list(str), default=list(DEFAULT_LAYERS),
                        help="comma-separated prunable layers (default: %(default)s)")
    add_level_arguments(parser, DEFAULT_PATTERNS, DEFAULT_SPARSITIES)
    parser.add_argument("--csv", default=None, metavar="PATH", help="also write the rows here")
    parser.add_argument("--seed", type=int, default=0, help="random weight seed (%(default)s)")
    return parser.parse_args(argv)


def select_layers(model: str, names: list[str]) -> list[Any]:
    """The named prunable layers of zoo model ``model`` (ValueError naming unknown ones)."""
    from harness.layers import zoo_prunable_layers

    layers = {layer.name: layer for layer in zoo_prunable_layers(model)}
    unknown = [name for name in names if name not in layers]
    if unknown:
        raise ValueError(f"{model} has no prunable layer {', '.join(unknown)}; choose from "
                         f"{', '.join(layers)}")
    return [layers[name] for name in names]


def row(model: str, layer: Any, level: Any, result: Any) -> dict[str, Any]:
    """One table row: a CaseProfile, or the reason the level could not run (a str)."""
    cells: dict[str, Any] = {"model": model, "layer": layer.name, "shape": layer.describe(),
                             "level": level.label}
    if isinstance(result, str):
        return {**cells, "status": result}
    from benchmarks.profile.phases import PHASES

    cells.update({"kernel": result.kernel, "instructions": result.instructions})
    cells.update({f"{phase}_pct": result.share(phase) for phase in PHASES})
    cells.update({
        "lanes_pct": result.lane_utilisation,
        "loop_fma": result.profiled.fmas, "loop_cycles": result.profiled.cycles,
        "bound_pct": result.profiled.peak_percent, "bottleneck": result.profiled.bottleneck,
        "native_kernel": result.native_kernel, "native_loop_fma": result.native.fmas,
        "native_cycles": result.native.cycles,
        "native_bound_pct": result.native.peak_percent,
        "native_bottleneck": result.native.bottleneck,
        "max_rel_error": result.max_rel_error, "status": "ok",
    })
    return cells


def profile_rows(model: str, layers: list[Any], levels: list[Any], so: Any,
                 seed: int) -> list[dict[str, Any]]:
    """Profile every (layer, level), printing progress on stderr."""
    from benchmarks.profile.case import profile_case

    rows = []
    for layer in layers:
        for level in levels:
            print(f"profiling {layer.name} {level.label}", file=sys.stderr, flush=True)
            try:
                result: Any = profile_case(layer, level.pattern, so, seed=seed)
            except ValueError as exc:  # the pattern cannot take the shape, or a wrong output
                result = str(exc)
            rows.append(row(model, layer, level, result))
    return rows


TABLE = {"layer": "layer", "shape": "shape", "level": "level", "loop_pct": "loop%",
         "kernel_pct": "kern%", "tile_copy_pct": "tiles%", "staging_pct": "stage%",
         "compaction_pct": "compact%", "other_pct": "other%", "lanes_pct": "lanes%",
         "bound_pct": "bound%", "native_bound_pct": "native%",
         "native_bottleneck": "native bottleneck", "bottleneck": "profiled bottleneck"}


def print_table(rows: list[dict[str, Any]]) -> None:
    import pandas as pd

    df = pd.DataFrame(rows)
    for model, group in df.groupby("model", sort=False):
        ok = group[group.status == "ok"]
        kernels = ", ".join(sorted(set(ok.kernel))) if len(ok) else "-"
        natives = ", ".join(sorted(set(ok.native_kernel))) if len(ok) else "-"
        print(f"\n{model}: profiled {kernels}; native {natives}")
        print(ok[list(TABLE)].rename(columns=TABLE).to_string(
            index=False, float_format=lambda v: f"{v:.1f}"))
        for r in group[group.status != "ok"].to_dict("records"):
            print(f"  {r['layer']} {r['level']}: {r['status']}")


def missing_tools() -> str | None:
    from benchmarks.profile import disasm, job, mca

    return job.valgrind_missing() or mca.missing() or disasm.missing()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    reason = missing_tools()
    if reason:
        print(f"profile_kernels: {reason}", file=sys.stderr)
        return 2
    from benchmarks.profile import bound, build, mca
    from harness.kernel_bench import sweep_levels

    try:
        layers = select_layers(args.model, args.layers)
        levels = sweep_levels(args.patterns, args.sparsities)
    except (ValueError, KeyError) as exc:
        print(f"profile_kernels: {exc}", file=sys.stderr)
        return 2
    so, production = build.debug_object(), build.production_object()
    if not build.same_text(so, production):
        print("profile_kernels: the -g build's machine code differs from the production "
              "build's; the profile would not describe what runs", file=sys.stderr)
        return 1
    print(f"llvm-mca model: {mca.host_cpu()}; FMA peak {bound.peak_fmas_per_cycle(16):.2f} "
          f"full-width FMA/cycle; machine code identical to {production}")
    rows = profile_rows(args.model, layers, levels, so, args.seed)
    print_table(rows)
    if args.csv:
        import pandas as pd

        pd.DataFrame(rows).to_csv(args.csv, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

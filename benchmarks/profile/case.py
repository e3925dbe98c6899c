"""Profile one (layer, pattern level): the real prepared C kernel, once, under callgrind.

The masked weight and input come from ``harness.kernel_bench.make_case`` (the same random
weight, mask and float64 reference as ``sparsebench kernels``); the weight is packed with
``kernels_c.prepare``; ``job`` runs the call under callgrind on the extension built with
``-g`` (same machine code) and checks its output against the reference.  Then: the
instruction split by phase, the hottest FMA loop of the micro-kernel that ran and its
llvm-mca bound, the matching loop of the micro-kernel the CPU runs natively and its
bound, and the lane utilisation (useful FMA lanes / executed FMA lanes).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.profile import callgrind, disasm, job, loops, phases
from benchmarks.profile.bound import Bound, loop_bound
from benchmarks.profile.loops import Loop
from harness.layers import ConvLayer


@dataclass(frozen=True)
class CaseProfile:
    """What one profiled call did and what bounds its hottest loop."""

    layer: ConvLayer
    level: str
    kernel: str
    native_kernel: str
    instructions: int
    phases: dict[str, int]
    useful_lanes: float
    executed_lanes: int
    profiled: Bound
    native: Bound
    max_rel_error: float

    def share(self, phase: str) -> float:
        """% of the call's instructions spent in ``phase``."""
        return 100.0 * self.phases[phase] / self.instructions

    @property
    def lane_utilisation(self) -> float:
        """% of executed FMA lanes that multiply a stored weight with a real output pixel."""
        return 100.0 * self.useful_lanes / self.executed_lanes


def fma_loops(so: Path, kernel: str) -> list[Loop]:
    """The loops of micro-kernel ``kernel`` (each of its symbols) that contain FMAs."""
    return [loop for symbol in sorted(disasm.kernel_symbols(so, kernel))
            for loop in loops.loops(disasm.symbol_instructions(so, symbol)) if loop.fmas]


def kernel_loops(found: list[Loop], counts: dict[int, int],
                 taken: dict[int, int]) -> list[Loop]:
    """Each innermost FMA loop of ``found``, widened to its steady state, hottest first."""
    steady = {loops.steady(loop, found, counts, taken) for loop in loops.innermost(found)}
    return sorted(steady, key=lambda loop: -loop.cost(counts))


def matching_loop(hot: Loop, candidates: list[Loop]) -> Loop:
    """The candidate compiled from the most of ``hot``'s source lines (the same template
    loop in another ISA's micro-kernel); ties go to the one with most FMAs (full tiles)."""
    from kernels_c._build import SRC_DIR

    lines = {i.own_source(SRC_DIR) for i in hot.instructions}

    def overlap(loop: Loop) -> tuple[float, int]:
        theirs = {i.own_source(SRC_DIR) for i in loop.instructions}
        return len(lines & theirs) / len(lines | theirs), loop.fmas

    return max(candidates, key=overlap)


def _executed_lanes(counts: dict[int, int], code: dict[int, disasm.Instruction]) -> int:
    return sum(n * loops.lanes(code[a]) for a, n in counts.items()
               if a in code and loops.is_fma(code[a]))


def profile_case(layer: ConvLayer, pattern: Any, so: Path, *, seed: int = 0) -> CaseProfile:
    """Profile ``layer`` masked with ``pattern`` (batch 1, one thread) in extension ``so``.
    ValueError when the pattern cannot take the layer's shape or the output is wrong."""
    import kernels_c
    from harness.kernel_bench import make_case
    from harness.verified import max_rel_error

    case = make_case(layer, pattern, 1, seed=seed)
    native, conv = (kernels_c.prepare(case.weight, pattern=pattern, stride=layer.stride,
                                      padding=layer.padding, isa=isa)
                    for isa in (None, job.valgrind_isa(so)))
    with tempfile.TemporaryDirectory(prefix="sb-profile-") as tmp:
        folder = Path(tmp)
        job.write_job(conv, case.x, folder)
        out = job.run_callgrind(folder, so)
        error = max_rel_error(job.read_output(folder, tuple(case.reference.shape)),
                              case.reference)
        ran = job.read_ran(folder)
        profile = callgrind.read(out)
    if not error <= case.tolerance:
        raise ValueError(f"{layer.name} {pattern.describe()}: the profiled call is wrong "
                         f"(max relative error {error:.2e})")
    code = disasm.disassemble(so)
    counts = callgrind.by_address(profile.self_cost, str(so))
    taken = callgrind.by_address(profile.taken, str(so))
    ran_loops = kernel_loops(fma_loops(so, ran["kernel"]), counts, taken)
    hot = ran_loops[0]
    native_loop = matching_loop(hot, fma_loops(so, native.kernel_function))
    full_lanes = max(loops.lanes(i) for i in native_loop.instructions if loops.is_fma(i))
    in_loops = {i.addr for loop in ran_loops for i in loop.instructions}
    return CaseProfile(
        layer=layer, level=pattern.describe(), kernel=ran["kernel"],
        native_kernel=native.kernel_function, instructions=profile.total,
        phases=phases.split(profile, str(so), code, disasm.kernel_symbols(so, ran["kernel"]),
                            in_loops),
        useful_lanes=layer.flops(1, case.actual_density) / 2,
        executed_lanes=_executed_lanes(counts, code),
        profiled=loop_bound(hot, full_lanes), native=loop_bound(native_loop, full_lanes),
        max_rel_error=error)

"""A loop's throughput bound from llvm-mca: FMAs per cycle and the share of the FMA peak.

The peak is measured on llvm-mca's own model of the CPU (a loop of independent
full-width FMAs), so the bound and the peak come from one machine model; on this CPU
it is 2 FMAs per cycle.  A loop of narrower vectors than the widest the CPU runs reaches
only their share of the peak: the bound counts lanes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from benchmarks.profile import loops, mca
from benchmarks.profile.disasm import Instruction
from benchmarks.profile.loops import Loop

_REGISTERS = {16: "zmm", 8: "ymm", 4: "xmm"}
_PEAK_ACCUMULATORS = 12  # independent chains: more than FMA latency x ports


@dataclass(frozen=True)
class Bound:
    """One loop: its FMAs and lanes per iteration, llvm-mca's cycles per iteration, the
    resulting FMA/cycle, % of the CPU's full-width FMA peak and the busiest resource."""

    fmas: int
    lanes: int
    cycles: float
    bottleneck: str
    peak_fmas_per_cycle: float
    full_lanes: int

    @property
    def fmas_per_cycle(self) -> float:
        return self.fmas / self.cycles

    @property
    def peak_percent(self) -> float:
        return (100.0 * self.fmas_per_cycle * self.lanes
                / (self.peak_fmas_per_cycle * self.full_lanes))


@cache
def peak_fmas_per_cycle(lanes: int, cpu: str | None = None) -> float:
    """FMAs per cycle llvm-mca predicts for independent ``lanes``-wide fp32 FMAs."""
    reg = _REGISTERS[lanes]
    body = [Instruction(0, "vfmadd231ps", f"%{reg}14,%{reg}15,%{reg}{k}", "", (), ())
            for k in range(_PEAK_ACCUMULATORS)]
    body.append(Instruction(0, "jmp", "", "", (), ()))
    return _PEAK_ACCUMULATORS / mca.analyse(body, cpu).cycles


def loop_bound(loop: Loop, full_lanes: int, cpu: str | None = None) -> Bound:
    """llvm-mca's bound for ``loop`` against a peak of full_lanes-wide FMAs."""
    report = mca.analyse(list(loop.instructions), cpu)
    fma_lanes = max(loops.lanes(i) for i in loop.instructions if loops.is_fma(i))
    return Bound(loop.fmas, fma_lanes, report.cycles, mca.bottleneck(report),
                 peak_fmas_per_cycle(full_lanes, cpu), full_lanes)

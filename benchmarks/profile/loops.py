"""Loops of a function's machine code: a backward branch closes one (its target opens it).

``innermost`` keeps the loops with no other loop inside; ``steady`` widens a loop that runs
about once per entry (a 1x1 conv's loop over taps) to the enclosing loop that repeats, the
one whose body is the steady state; ``fma_count`` and ``lanes`` read
what an instruction list computes (fp32 FMAs, and how many lanes each has), so the loop
that does a kernel's work and its width come from the code, not from its name.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from benchmarks.profile.disasm import Instruction

_FMA = re.compile(r"^vfn?m(add|sub)(132|213|231)(ps|ss)$")
_LANES = {"zmm": 16, "ymm": 8, "xmm": 4}
MIN_TRIPS = 2.0  # a loop that runs fewer times per entry is not the steady state


@dataclass(frozen=True)
class Loop:
    """Instructions from a backward branch's target to the branch, in address order."""

    instructions: tuple[Instruction, ...]

    @property
    def start(self) -> int:
        return self.instructions[0].addr

    @property
    def end(self) -> int:
        return self.instructions[-1].addr

    def contains(self, other: Loop) -> bool:
        return (self.start <= other.start and other.end <= self.end) and other != self

    @property
    def fmas(self) -> int:
        return fma_count(self.instructions)

    def cost(self, counts: Mapping[int, int]) -> int:
        """Instructions executed in the loop, from per-address counts."""
        return sum(counts.get(i.addr, 0) for i in self.instructions)


def is_fma(instruction: Instruction) -> bool:
    return bool(_FMA.match(instruction.mnemonic))


def lanes(instruction: Instruction) -> int:
    """fp32 lanes of an FMA: 1 for a scalar ``ss`` one, else the width of its registers."""
    if instruction.mnemonic.endswith("ss"):
        return 1
    widths = [n for reg, n in _LANES.items() if f"%{reg}" in instruction.operands]
    return max(widths, default=1)


def fma_count(instructions: Iterable[Instruction]) -> int:
    return sum(1 for i in instructions if is_fma(i))


def _branch_target(instruction: Instruction) -> int | None:
    if not instruction.mnemonic.startswith("j"):
        return None
    token = instruction.operands.split(" ", 1)[0]
    try:
        return int(token, 16)
    except ValueError:  # an indirect jump (jmp *%rax)
        return None


def loops(code: list[Instruction]) -> list[Loop]:
    """Every loop of ``code`` (one function, in address order)."""
    found = []
    for end, instruction in enumerate(code):
        target = _branch_target(instruction)
        if target is None or target > instruction.addr:
            continue
        start = next((k for k, i in enumerate(code) if i.addr == target), None)
        if start is not None:
            found.append(Loop(tuple(code[start:end + 1])))
    return found


def innermost(found: list[Loop]) -> list[Loop]:
    """The loops that contain no other loop."""
    return [loop for loop in found if not any(loop.contains(other) for other in found)]


def trips(loop: Loop, counts: Mapping[int, int], taken: Mapping[int, int]) -> float:
    """Iterations per entry: executions of the first instruction over entries (executions
    minus the times the closing branch jumped back)."""
    first, back = counts.get(loop.start, 0), taken.get(loop.end, 0)
    return first / (first - back) if first > back else math.inf


def steady(loop: Loop, found: list[Loop], counts: Mapping[int, int],
           taken: Mapping[int, int], min_trips: float = MIN_TRIPS) -> Loop:
    """``loop``, or the innermost enclosing loop of ``found`` that iterates at least
    ``min_trips`` times per entry."""
    while trips(loop, counts, taken) < min_trips:
        outer = [other for other in found if other.contains(loop)]
        if not outer:
            break
        loop = min(outer, key=lambda other: len(other.instructions))
    return loop

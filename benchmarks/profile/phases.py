"""Split the instructions one convolution executed into what they were for.

Phases, by the C function an instruction was inlined from (innermost first) and the symbol
it sits in: ``tile_copy`` (staging inside the micro-kernel: the ell16 tile copy
``ell16_stage``, the panel kernel's 1x1 chunk copy ``panel_stage``), ``staging`` (the
driver's ``stage_planes`` / ``stage_im2col``: any other
function named for staging), ``compaction`` (``compact_output`` and
``fill_unwritten_rows``: the output written back to NCHW), ``loop`` (the micro-kernel's
innermost FMA loops), ``kernel`` (the rest of the micro-kernel: accumulator loads and
stores, row set-up, tails) and ``other`` (driver, libgomp, allocation). A call from our
code into a library that does not call back (memcpy, memset, malloc) is charged, with
everything it ran, to the phase of its call site.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from benchmarks.profile.callgrind import Profile
from benchmarks.profile.disasm import Instruction

PHASES = ("loop", "kernel", "tile_copy", "staging", "compaction", "other")
_NAMED_PHASES = (("staging", ("stage",)), ("compaction", ("compact", "fill_unwritten")))


def phase_of(instruction: Instruction, kernel_symbols: set[str], loop: set[int]) -> str:
    """The phase of one instruction of our object."""
    in_kernel = instruction.symbol in kernel_symbols
    for function in instruction.functions():
        for phase, words in _NAMED_PHASES:
            if any(word in function for word in words):
                return "tile_copy" if in_kernel and phase == "staging" else phase
    if in_kernel:
        return "loop" if instruction.addr in loop else "kernel"
    return "other"


def _leaf_calls(profile: Profile, ob: str) -> Iterable[tuple[int, int]]:
    """(call-site address, inclusive cost) of calls from ``ob`` into code that does not
    call back into ``ob``."""
    for (caller, site, callee_ob, callee), cost in profile.calls.items():
        if caller == ob and callee_ob != ob and ob not in profile.callees[callee_ob, callee]:
            yield site, cost


def split(profile: Profile, ob: str, code: dict[int, Instruction], kernel_symbols: set[str],
          loop: set[int]) -> dict[str, int]:
    """Instructions executed per phase; they add up to ``profile.total``."""
    phases: dict[str, int] = defaultdict(int)
    for (obj, addr), cost in profile.self_cost.items():
        if obj == ob and addr in code:
            phases[phase_of(code[addr], kernel_symbols, loop)] += cost
    for site, cost in _leaf_calls(profile, ob):
        if site in code:
            phases[phase_of(code[site], kernel_symbols, loop)] += cost
    phases["other"] += profile.total - sum(phases.values())
    return {phase: phases[phase] for phase in PHASES}

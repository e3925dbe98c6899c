"""The machine code of a shared object, one record per instruction, with where it came from.

``objdump -d -l --inlines`` of an object built with ``-g`` gives, for every instruction,
its symbol, its source line and the chain of C functions it was inlined through
(innermost first), so an inlined helper such as ``ell16_stage`` is still visible.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_SYMBOL = re.compile(r"^([0-9a-f]+) <(.+)>:$")
_FUNCTION = re.compile(r"^([\w.]+)\(\):$")
_LOCATION = re.compile(r"^(/\S+|\?\?):(\d+|\?)")
_INLINED = re.compile(r"^inlined by (\S+) \((.+)\)$")
_INSTRUCTION = re.compile(r"^\s+([0-9a-f]+):\t(\S+)\s*(.*?)\s*$")
ISA_SUFFIX = re.compile(r"_(avx512|avx2|scalar)$")


@dataclass(frozen=True)
class Instruction:
    """One instruction: address (object-relative), mnemonic and operands (AT&T), the
    symbol it belongs to, and its inline chain, innermost first: the functions and, for
    each, the source line (``file:line``) the instruction comes from in it."""

    addr: int
    mnemonic: str
    operands: str
    symbol: str
    chain: tuple[str, ...]
    sources: tuple[str, ...]

    def own_source(self, folder: Path) -> str:
        """The innermost source line that lies in ``folder`` (the kernel sources rather than
        a compiler's intrinsics header), or ``""``."""
        return next((s for s in self.sources if s.startswith(f"{folder}/")), "")

    @property
    def text(self) -> str:
        return f"{self.mnemonic} {self.operands}".strip()

    def functions(self) -> tuple[str, ...]:
        """The chain with each function's ISA suffix dropped (``ell16_stage_avx2`` ->
        ``ell16_stage``)."""
        return tuple(ISA_SUFFIX.sub("", name) for name in self.chain)


def missing() -> str | None:
    """Why the machine code cannot be read here (binutils' objdump / objcopy), or None."""
    gone = [tool for tool in ("objdump", "objcopy") if not shutil.which(tool)]
    return f"{' and '.join(gone)} not installed (binutils)" if gone else None


def _strip_comment(operands: str) -> str:
    return operands.split("#", 1)[0].strip()


@cache
def disassemble(so: Path) -> dict[int, Instruction]:
    """Address -> instruction, for every instruction of ``so``'s .text."""
    out = subprocess.run(["objdump", "-d", "-l", "--inlines", "--no-show-raw-insn",
                          "-j", ".text", str(so)], capture_output=True, text=True,
                         check=True).stdout
    found: dict[int, Instruction] = {}
    symbol = function = source = ""
    inlined: list[tuple[str, str]] = []  # (file:line, function) of each inlining call
    for line in out.splitlines():
        if match := _INSTRUCTION.match(line):
            addr = int(match.group(1), 16)
            found[addr] = Instruction(addr, match.group(2), _strip_comment(match.group(3)),
                                      symbol, (function, *(f for _, f in inlined)),
                                      (source, *(s for s, _ in inlined)))
            inlined = []
        elif match := _INLINED.match(line):
            inlined.append(match.groups())
        elif match := _LOCATION.match(line):
            source = f"{match.group(1)}:{match.group(2)}"
        elif match := _FUNCTION.match(line):
            function = match.group(1)
        elif match := _SYMBOL.match(line):
            symbol = function = match.group(2)
    return found


def symbol_instructions(so: Path, symbol: str) -> list[Instruction]:
    """The instructions of ``symbol``, in address order."""
    return sorted((i for i in disassemble(so).values() if i.symbol == symbol),
                  key=lambda i: i.addr)


def kernel_symbols(so: Path, kernel: str) -> set[str]:
    """The symbols of micro-kernel ``kernel``: its entry point and the functions of its
    tile shapes, named ``<kernel>_*`` (kernels_c/src/panel_spmm.h, ell16_spmm.h)."""
    return {i.symbol for i in disassemble(so).values()
            if i.symbol == kernel or i.symbol.startswith(f"{kernel}_")}

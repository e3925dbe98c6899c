"""Run llvm-mca on a loop's instructions and read its throughput and port pressure.

``analyse`` assembles the loop body (objdump's AT&T text, the closing branch pointed back
at the top), runs ``llvm-mca -mcpu=<cpu> -iterations=N`` and returns cycles per iteration
(total cycles / iterations), the pressure on every resource per iteration and which
instructions put it there; ``bottleneck`` names the busiest resources and the kind of
instruction that fills them (loads, FMA, shuffles/broadcasts, integer, stores).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import defaultdict
from dataclasses import dataclass
from functools import cache

from benchmarks.profile.disasm import Instruction

LABEL = ".Lprofiled_loop"
_SHUFFLE = re.compile(r"^v?(perm|broadcast|pbroadcast|shuf|unpck|blend|insert|extract|"
                      r"pshuf|palignr|movsh|movsl|movdd)")
_FMA = re.compile(r"^vfn?m(add|sub)")


def missing() -> str | None:
    """Why llvm-mca cannot run here, or None."""
    return None if shutil.which("llvm-mca") else "llvm-mca is not installed"


# llvm-mca's model for a host it models without AVX-512 (14 models Zen 4 as znver3)
AVX512_FALLBACK = "icelake-server"


@cache
def host_cpu() -> str:
    """The CPU llvm-mca models: the host's ("Host CPU" in its ``--version``) when that model
    takes AVX-512 instructions, else ``AVX512_FALLBACK``."""
    out = subprocess.run(["llvm-mca", "--version"], capture_output=True, text=True,
                         check=True).stdout
    match = re.search(r"Host CPU:\s*(\S+)", out)
    cpu = match.group(1) if match else "native"
    return cpu if _models_avx512(cpu) else AVX512_FALLBACK


def _models_avx512(cpu: str) -> bool:
    probe = "vfmadd231ps %zmm1, %zmm2, %zmm3\n"
    done = subprocess.run(["llvm-mca", f"-mcpu={cpu}", "-iterations=1"], input=probe,
                          capture_output=True, text=True)
    return done.returncode == 0


def assembly(body: list[Instruction]) -> str:
    """The loop as assembler text: a label, the body, its backward branch to the label."""
    lines = [f"{LABEL}:"]
    for instruction in body[:-1]:
        lines.append(instruction.text)
    lines.append(f"{body[-1].mnemonic} {LABEL}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Report:
    """What llvm-mca predicts for one loop iteration."""

    cpu: str
    cycles: float
    """cycles per iteration (total cycles / iterations, dependencies included)"""
    pressure: dict[str, float]
    """resource -> cycles of use per iteration"""
    by_instruction: tuple[tuple[str, bool, dict[str, float]], ...]
    """(instruction, may load, resource -> pressure) per instruction"""


def _rows(lines: list[str], start: int) -> list[str]:
    """The lines from ``start`` up to the next blank one."""
    rows = []
    for line in lines[start:]:
        if not line.strip():
            break
        rows.append(line)
    return rows


def _table(lines: list[str], title: str) -> tuple[list[str], list[str]]:
    """The column labels on the line after ``title`` and the rows below them."""
    start = lines.index(title) + 1
    return re.findall(r"\[\d+\]", lines[start]), _rows(lines, start + 1)


def parse(text: str, cpu: str) -> Report:
    """A Report from llvm-mca's default text output."""
    lines = text.splitlines()
    iterations = int(re.search(r"^Iterations:\s+(\d+)", text, re.M).group(1))
    cycles = int(re.search(r"^Total Cycles:\s+(\d+)", text, re.M).group(1))
    names = dict(re.findall(r"^(\[\d+\])\s+- (\S+)", text, re.M))
    columns, rows = _table(lines, "Resource pressure per iteration:")
    values = rows[0].split()
    pressure = {names[c]: float(v) for c, v in zip(columns, values, strict=True) if v != "-"}
    info = next(k for k, line in enumerate(lines)
                if line.startswith("[1]") and line.endswith("Instructions:"))
    load_col = lines[info].index("[4]")
    info_rows = _rows(lines, info + 1)
    may_load = [row[load_col:load_col + 3].strip() == "*" for row in info_rows]
    columns, rows = _table(lines, "Resource pressure by instruction:")
    per = []
    for row, loads in zip(rows, may_load, strict=True):
        fields = row.split()
        used = {names[c]: float(v) for c, v in zip(columns, fields, strict=False) if v != "-"}
        per.append((" ".join(fields[len(columns):]), loads, used))
    return Report(cpu, cycles / iterations, pressure, tuple(per))


def analyse(body: list[Instruction], cpu: str | None = None, iterations: int = 100) -> Report:
    """llvm-mca's prediction for ``body`` (a loop, closing branch last) on ``cpu``."""
    cpu = cpu or host_cpu()
    done = subprocess.run(["llvm-mca", f"-mcpu={cpu}", f"-iterations={iterations}"],
                          input=assembly(body), capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"llvm-mca failed: {done.stderr.strip()[:1000]}")
    return parse(done.stdout, cpu)


def _kind(instruction: str, loads: bool, resource_only_loads: bool) -> str:
    mnemonic = instruction.split()[0]
    if resource_only_loads and loads:
        return "loads"
    if _FMA.match(mnemonic):
        return "FMA"
    if _SHUFFLE.match(mnemonic):
        return "shuffles/broadcasts"
    if mnemonic.startswith(("mov", "vmov")) and "(" in instruction.split(",")[-1]:
        return "stores"
    return "integer/branch"


def bottleneck(report: Report) -> str:
    """The busiest resources (within 5 % of the most used one) and what fills them, e.g.
    ``ICXPort2+ICXPort3 6.00/it: loads``."""
    top = max(report.pressure.values())
    busiest = sorted(r for r, v in report.pressure.items() if v >= 0.95 * top)
    kinds: dict[str, float] = defaultdict(float)
    for resource in busiest:
        users = [(text, loads, used[resource]) for text, loads, used in report.by_instruction
                 if resource in used]
        only_loads = all(loads for _, loads, _ in users)
        for text, loads, value in users:
            kinds[_kind(text, loads, only_loads)] += value
    kind = max(kinds, key=kinds.get)
    return f"{'+'.join(busiest)} {top:.2f}/it: {kind}"

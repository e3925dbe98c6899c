"""Read a callgrind out file written with ``--dump-instr=yes --collect-jumps=yes``:
instructions executed at every address of every object, how often each jump was taken,
and the inclusive cost of every call site.

Only what the profile needs of the format (valgrind's docs, "Callgrind Format
Specification"): name compression ``(id) name``, positions ``instr line`` with relative
(``+n``/``-n``) and repeated (``*``) sub-positions, ``calls=`` lines whose next cost line
is the call's inclusive cost, ``jump=``/``jcnd=`` lines whose next position line is the
jump instruction, and the ``totals:``/``summary:`` line.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

_NAMED = re.compile(r"^(ob|fl|fi|fe|fn|cob|cfi|cfl|cfn)=\((\d+)\)(?: (.*))?$")


@dataclass
class Profile:
    """Self cost per (object, address), inclusive cost per call edge, and the total."""

    total: int = 0
    self_cost: dict[tuple[str, int], int] = field(default_factory=lambda: defaultdict(int))
    calls: dict[tuple[str, int, str, str], int] = field(
        default_factory=lambda: defaultdict(int))
    """(caller object, call-site address, callee object, callee function) -> inclusive Ir"""
    callees: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))
    """(object, function) -> the objects its calls go to"""
    taken: dict[tuple[str, int], int] = field(default_factory=lambda: defaultdict(int))
    """(object, jump address) -> times the jump was taken"""


def _position(token: str, last: int) -> int:
    if token == "*":
        return last
    if token[0] in "+-":
        return last + int(token)
    return int(token, 0)


class _Reader:
    def __init__(self) -> None:
        self.names: dict[tuple[str, str], str] = {}
        self.current: dict[str, str] = {}
        self.addr = 0
        self.pending_call = False
        self.pending_jump: int | None = None
        self.profile = Profile()

    def named(self, kind: str, ident: str, name: str | None) -> None:
        space = {"cob": "ob", "cfi": "fl", "cfl": "fl", "fi": "fl", "fe": "fl",
                 "cfn": "fn"}.get(kind, kind)
        if name is not None:
            self.names[space, ident] = name
        self.current[kind] = self.names.get((space, ident), "")
        if kind == "fn":  # a new function: its callee object defaults to its own
            self.current.pop("cob", None)

    def cost_line(self, fields: list[str]) -> None:
        self.addr = _position(fields[0], self.addr)
        cost = int(fields[2]) if len(fields) > 2 else 0
        ob = self.current.get("ob", "")
        if self.pending_jump is not None:
            self.profile.taken[ob, self.addr] += self.pending_jump
            self.pending_jump = None
        elif self.pending_call:
            callee_ob = self.current.get("cob", ob)
            callee = self.current.get("cfn", "")
            self.profile.calls[ob, self.addr, callee_ob, callee] += cost
            self.profile.callees[ob, self.current.get("fn", "")].add(callee_ob)
            self.pending_call = False
        else:
            self.profile.self_cost[ob, self.addr] += cost

    def line(self, line: str) -> None:
        if not line or line.startswith("#"):
            return
        if match := _NAMED.match(line):
            self.named(*match.groups())
        elif line.startswith("calls="):
            self.pending_call = True
        elif line.startswith(("jump=", "jcnd=")):  # jcnd=taken/executed, jump=taken
            self.pending_jump = int(line[5:].split("/")[0].split()[0])
        elif line.startswith(("totals:", "summary:")):
            self.profile.total = max(self.profile.total, int(line.split()[1]))
        elif line[0] in "0123456789+-*":
            self.cost_line(line.split())


def read(path: Path) -> Profile:
    """Parse callgrind out file ``path``."""
    reader = _Reader()
    with path.open() as lines:
        for line in lines:
            reader.line(line.rstrip("\n"))
    return reader.profile


def by_address(table: dict[tuple[str, int], int], ob: str) -> dict[int, int]:
    """The entries of ``table`` (``Profile.self_cost`` or ``taken``) of object ``ob``."""
    return {addr: value for (obj, addr), value in table.items() if obj == ob}

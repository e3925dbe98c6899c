"""Output buffers shared between compiled parts whose values are never alive together.

Each fused conv, linear and pooling part writes into an ``_out`` buffer of its own, kept
between calls. Fifty-three of them are ResNet-50's ~45 MB of activations per image, more
than this CPU's 32 MB L3, so every layer wrote its output to lines that had left the cache
(and read its input back from DRAM). ``share_buffers`` gives parts one storage when the
value one part writes is dead (no later node reads it, nor anything that may be a view of
it) before the other part writes: a greedy pass over the graph in execution order, the
liveness a memory planner computes. A part's output never shares its own inputs' storage
(they are alive at the node), and a value the graph returns is never shared.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import fx


@dataclass
class _Slot:
    """One storage and the parts that take turns in it."""

    floats: int = 0
    free_after: int = -1  # the last node index at which its current value is read
    parts: list[tuple[torch.nn.Module, torch.Size]] = field(default_factory=list)


def _owners(gm: fx.GraphModule) -> tuple[dict[fx.Node, set[fx.Node]], list[fx.Node]]:
    """Per node: the planned parts whose buffer its value may be (or view); the planned
    nodes in execution order. A planned part's value is its own buffer; any other node's
    value may alias any buffer among its inputs (a flatten, a view, a dropout)."""
    owners: dict[fx.Node, set[fx.Node]] = {}
    planned = []
    for node in gm.graph.nodes:
        module = gm.get_submodule(node.target) if node.op == "call_module" else None
        if getattr(module, "_out", None) is not None:
            owners[node] = {node}
            planned.append(node)
        else:
            owners[node] = set().union(*(owners[n] for n in node.all_input_nodes))
    return owners, planned


def share_buffers(gm: fx.GraphModule) -> int:
    """Re-point the ``_out`` buffers of ``gm``'s parts (allocated by one forward pass) at
    shared storage; returns how many storages hold them."""
    owners, planned = _owners(gm)
    order = {node: i for i, node in enumerate(gm.graph.nodes)}
    last_read = {node: order[node] for node in planned}
    for node in gm.graph.nodes:
        reads = len(order) if node.op == "output" else order[node]  # returned: alive forever
        for source in node.all_input_nodes:
            for owner in owners[source]:
                last_read[owner] = max(last_read[owner], reads)
    slots: list[_Slot] = []
    for node in planned:
        module = gm.get_submodule(node.target)
        need = module._out.numel()
        free = [s for s in slots if s.free_after < order[node]]
        fits = [s for s in free if s.floats >= need]
        slot = (min(fits, key=lambda s: s.floats) if fits
                else max(free, key=lambda s: s.floats) if free else None)
        if slot is None:
            slot = _Slot()
            slots.append(slot)
        slot.floats = max(slot.floats, need)
        slot.free_after = last_read[node]
        slot.parts.append((module, module._out.shape))
    for slot in slots:
        storage = torch.empty(slot.floats, dtype=torch.float32)
        for module, shape in slot.parts:
            module._out = storage[:shape.numel()].view(shape)
    return len(slots)

"""torch.fx passes of the whole-model path: fold batch norm into the preceding conv, find
each conv's or linear's epilogue (a residual add and/or a ReLU / ReLU6 after it), and swap max
pooling and global average pooling for our C pooling (``replace_pooling``).

``fold_batch_norm`` rewrites the conv's weight and bias: W' = W * s, b' = (b - mean) * s +
beta with s = gamma / sqrt(var + eps) per output channel, so a zero weight stays zero and
every pattern's structure is kept. ``fuse_epilogues`` replaces conv or linear [-> add]
[-> act] chains with one ``make_layer(name, module, act, has_residual)`` module called as
``(x[, residual])``.
The residual's computation is moved before the conv when it runs later and does not
depend on it (a ResNet shortcut, a downsample conv).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import fx, nn

_ADDS = {operator.add, operator.iadd, torch.add}
_ACT_FUNCTIONS = {F.relu: "relu", torch.relu: "relu", torch.relu_: "relu", F.relu6: "relu6"}


@dataclass
class FusionCounts:
    """What the passes did (for the row's note)."""

    batch_norms_folded: int = 0
    activations: int = 0
    residuals: int = 0
    convs: int = 0
    linears: int = 0
    pools: int = 0
    left_in_torch: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        torch_ops = ", ".join(f"{k} x{v}" for k, v in sorted(self.left_in_torch.items()))
        return (f"{self.convs} convs + {self.linears} linears fused "
                f"({self.batch_norms_folded} BN folded, "
                f"{self.activations} activations, {self.residuals} residual adds), "
                f"{self.pools} pooling in C; "
                f"torch: {torch_ops or 'nothing'}")


def _module(gm: fx.GraphModule, node: fx.Node) -> nn.Module | None:
    return gm.get_submodule(node.target) if node.op == "call_module" else None


def _activation(gm: fx.GraphModule, node: fx.Node) -> str | None:
    """'relu' / 'relu6' when ``node`` is that activation of its one input, else None."""
    module = _module(gm, node)
    if isinstance(module, nn.ReLU):
        return "relu"
    if isinstance(module, nn.ReLU6) or (
            isinstance(module, nn.Hardtanh) and (module.min_val, module.max_val) == (0.0, 6.0)):
        return "relu6"
    if node.op == "call_function" and node.target in _ACT_FUNCTIONS and len(node.args) == 1:
        return _ACT_FUNCTIONS[node.target]
    if node.op == "call_method" and node.target in ("relu", "relu_"):
        return "relu"
    return None


def _is_add(node: fx.Node) -> bool:
    plain = not node.kwargs and len(node.args) == 2
    two_nodes = plain and all(isinstance(a, fx.Node) for a in node.args)
    return two_nodes and ((node.op == "call_function" and node.target in _ADDS)
                          or (node.op == "call_method" and node.target in ("add", "add_")))


def _calls(gm: fx.GraphModule, target: str) -> int:
    return sum(1 for n in gm.graph.nodes if n.op == "call_module" and n.target == target)


def fold_batch_norm(gm: fx.GraphModule, counts: FusionCounts) -> None:
    """Fold every eval-mode BatchNorm2d whose input is a conv used only by it."""
    for node in list(gm.graph.nodes):
        bn = _module(gm, node)
        if not isinstance(bn, nn.BatchNorm2d) or not isinstance(node.args[0], fx.Node):
            continue
        conv_node = node.args[0]
        conv = _module(gm, conv_node)
        if (not isinstance(conv, nn.Conv2d) or len(conv_node.users) != 1
                or _calls(gm, conv_node.target) != 1 or bn.running_var is None):
            continue
        with torch.no_grad():
            scale = torch.rsqrt(bn.running_var + bn.eps)
            if bn.weight is not None:
                scale = scale * bn.weight
            shift = -bn.running_mean * scale + (bn.bias if bn.bias is not None else 0.0)
            bias = shift if conv.bias is None else conv.bias * scale + shift
            conv.weight.mul_(scale.reshape(-1, 1, 1, 1))
            conv.bias = nn.Parameter(bias.detach().clone(), requires_grad=False)
        node.replace_all_uses_with(conv_node)
        gm.graph.erase_node(node)
        counts.batch_norms_folded += 1


def _hoist_before(node: fx.Node, other: fx.Node, order: dict[fx.Node, int]) -> bool:
    """Make ``other`` run before ``node`` (moving the part of its inputs that runs after
    ``node`` up, in order) unless it depends on ``node``; True when it now runs before."""
    later, todo = set(), [other]
    while todo:
        n = todo.pop()
        if n is node:
            return False
        if order[n] > order[node] and n not in later:
            later.add(n)
            todo.extend(a for a in n.all_input_nodes)
    for n in sorted(later, key=order.__getitem__):
        node.prepend(n)
    return True


def fuse_epilogues(gm: fx.GraphModule, make_layer: Callable[[str, nn.Module, str, bool],
                   nn.Module], counts: FusionCounts) -> None:
    """Replace each conv or linear [-> add(residual)] [-> relu|relu6] chain by one fused
    module ``make_layer(name, module, act, has_residual)``."""
    for node in [n for n in gm.graph.nodes
                 if isinstance(_module(gm, n), nn.Conv2d | nn.Linear)]:
        order = {n: i for i, n in enumerate(gm.graph.nodes)}
        chain, residual, act = [node], None, "none"
        users = list(node.users)
        if len(users) == 1 and _is_add(users[0]):
            add = users[0]
            other = add.args[1] if add.args[0] is node else add.args[0]
            if other is not node and _hoist_before(node, other, order):
                residual = other
                chain.append(add)
        users = list(chain[-1].users)
        if len(users) == 1 and _activation(gm, users[0]):
            act = _activation(gm, users[0])
            chain.append(users[0])
        name = f"fused_{node.target.replace('.', '_')}"
        module = gm.get_submodule(node.target)
        gm.add_submodule(name, make_layer(node.target, module, act, residual is not None))
        with gm.graph.inserting_after(chain[-1]):
            args = (node.args[0],) if residual is None else (node.args[0], residual)
            fused = gm.graph.call_module(name, args)
        chain[-1].replace_all_uses_with(fused)
        for old in reversed(chain):
            gm.graph.erase_node(old)
        counts.convs += isinstance(module, nn.Conv2d)
        counts.linears += isinstance(module, nn.Linear)
        counts.activations += act != "none"
        counts.residuals += residual is not None


def _int(value: object) -> int | None:
    """``value`` as one int when it is an int or a pair of equal ints, else None."""
    pair = value if isinstance(value, tuple | list) else (value, value)
    return pair[0] if len(pair) == 2 and pair[0] == pair[1] and isinstance(pair[0], int) \
        else None


def pooling(gm: fx.GraphModule, node: fx.Node) -> tuple[str, tuple[int, ...]] | None:
    """('max', (k, stride, pad)) or ('global_avg', ()) when our C pooling computes ``node``."""
    module = _module(gm, node)
    if isinstance(module, nn.MaxPool2d):
        k, s, p = (_int(module.kernel_size), _int(module.stride), _int(module.padding))
        plain = (_int(module.dilation) == 1 and not module.ceil_mode
                 and not module.return_indices)
        return ("max", (k, s, p)) if plain and None not in (k, s, p) and p <= k // 2 else None
    if isinstance(module, nn.AdaptiveAvgPool2d) and _int(module.output_size) == 1:
        return "global_avg", ()
    functional = (node.op == "call_function" and node.target is F.adaptive_avg_pool2d
                  and len(node.args) == 2 and not node.kwargs)
    return ("global_avg", ()) if functional and _int(node.args[1]) == 1 else None


def replace_pooling(gm: fx.GraphModule, make_pool: Callable[[str, tuple[int, ...]],
                    nn.Module], counts: FusionCounts) -> None:
    """Replace each pooling our C kernels compute by a ``make_pool(kind, params)`` module."""
    for i, node in enumerate(list(gm.graph.nodes)):
        found = pooling(gm, node)
        if found is None:
            continue
        name = f"pool_{i}"
        gm.add_submodule(name, make_pool(*found))
        with gm.graph.inserting_after(node):
            pool = gm.graph.call_module(name, (node.args[0],))
        node.replace_all_uses_with(pool)
        gm.graph.erase_node(node)
        counts.pools += 1


def count_torch_ops(gm: fx.GraphModule, ours: type | tuple[type, ...],
                    counts: FusionCounts) -> None:
    """Name the operations the fused graph still runs in torch."""
    for node in gm.graph.nodes:
        if node.op == "call_module" and not isinstance(_module(gm, node), ours):
            kind = type(_module(gm, node)).__name__
        elif node.op in ("call_function", "call_method"):
            kind = getattr(node.target, "__name__", str(node.target))
        else:
            continue
        counts.left_in_torch[kind] = counts.left_in_torch.get(kind, 0) + 1

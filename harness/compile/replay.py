"""The compiled model's forward pass as one flat list of kernel calls.

Once every buffer is fixed (one output buffer per part, shared by liveness), a forward
pass for a given input shape makes the same calls on the same memory every time: each part
(``FusedConv``, ``FusedLinear``, ``CPool``) keeps, after its forward, ``replay_call``, a
function that redoes that call on the same buffers (a bound C kernel call, or None when
the part cannot promise that, e.g. a torch conv that allocates its output). ``capture``
walks the fx graph once with an interpreter, collects those calls in execution order and
checks that everything between them is a view of a fixed buffer (flatten, dropout in
eval); a ``Replay`` then runs a pass as: copy the input into its own buffer, run the calls,
copy the output out. What it removes is the fx forward's Python around each call (module
dispatch, contiguity and shape checks, the rebinding key): about 20 us per part.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import fx, nn

VIEWS = {torch.flatten, "flatten", "view", "reshape"}
"""fx call_function / call_method targets a replay may skip: views of their input."""
PASS_THROUGH = (nn.Dropout, nn.Identity)
"""Modules that return their input in eval mode."""


class NotReplayable(Exception):
    """A graph node whose work a list of fixed calls cannot redo (the reason is the text)."""


class Replay:
    """One forward pass for inputs of ``shape``: ``calls`` in order, the input copied into
    ``input`` first, ``output`` copied out last. ``keep`` holds every tensor the calls
    point into, so none is freed while the replay exists."""

    def __init__(self, shape: torch.Size, input_buffer: torch.Tensor,
                 calls: list[Callable[[], Any]], output: torch.Tensor,
                 keep: list[torch.Tensor]) -> None:
        self.shape, self.input, self.calls, self.output = shape, input_buffer, calls, output
        self._keep = keep

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.input.copy_(x)
        for call in self.calls:
            call()
        return self.output.clone()


class _Capture(fx.Interpreter):
    """Runs the graph once, recording each part's replay call in execution order."""

    def __init__(self, gm: fx.GraphModule, parts: tuple[type, ...]) -> None:
        super().__init__(gm)
        self.parts, self.calls, self.keep = parts, [], []
        self.reason = ""  # why the graph cannot be replayed (fx adds its trace to the error)

    def refuse(self, reason: str) -> None:
        self.reason = reason
        raise NotReplayable(reason)

    def run_node(self, node: fx.Node) -> Any:
        value = super().run_node(node)
        if isinstance(value, torch.Tensor):
            self.keep.append(value)
        return value

    def call_module(self, target: str, args: tuple, kwargs: dict) -> Any:
        module = self.fetch_attr(target)
        out = super().call_module(target, args, kwargs)
        if isinstance(module, self.parts):
            if module.replay_call is None:
                self.refuse(f"{target} ({type(module).__name__}) has no fixed call")
            self.calls.append(module.replay_call)
        elif not (isinstance(module, PASS_THROUGH) and out is args[0]):
            self.refuse(f"{target} ({type(module).__name__}) runs in torch")
        return out

    def call_function(self, target: Any, args: tuple, kwargs: dict) -> Any:
        return self._view(target, super().call_function(target, args, kwargs), args)

    def call_method(self, target: Any, args: tuple, kwargs: dict) -> Any:
        return self._view(target, super().call_method(target, args, kwargs), args)

    def _view(self, target: Any, out: Any, args: tuple) -> Any:
        source = args[0] if args else None
        if (target not in VIEWS or not isinstance(out, torch.Tensor)
                or not isinstance(source, torch.Tensor) or out.data_ptr() != source.data_ptr()):
            self.refuse(f"{getattr(target, '__name__', target)} computes in torch")
        return out


def capture(gm: fx.GraphModule, example: torch.Tensor,
            parts: tuple[type, ...]) -> tuple[Replay | None, str]:
    """A replay of ``gm`` for inputs shaped like ``example`` (one pass runs to record it),
    or None and the reason it cannot be replayed."""
    buffer = example.detach().clone().contiguous()
    interpreter = _Capture(gm, parts)
    try:
        with torch.inference_mode():
            out = interpreter.run(buffer)
    except NotReplayable:
        return None, interpreter.reason
    if not isinstance(out, torch.Tensor):
        return None, "the model returns more than one tensor"
    return Replay(buffer.shape, buffer, interpreter.calls, out, interpreter.keep), ""

"""torch at its best for CPU inference: the fastest of a few standard recipes, picked per
model, shape and thread count by timing each once (the choice is the row's kernel name).

Candidates: eager in channels-last; ``torch.jit.trace`` + ``freeze`` +
``optimize_for_inference`` (conv-BN folding, oneDNN weight prepacking) on NCHW input and on
channels-last input. ``torch.compile`` is left out: it needs minutes per model on a
2-core machine and a C++ toolchain at run time.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from harness.engines.base import Compiled, engine
from harness.timing import measure, pinned_threads

PICK_RUNS = 5  # timed calls per candidate when picking (after one warm-up)
PICK_BUDGET_S = 1.0  # (never binding: PICK_RUNS is both the least and the most)

Run = Callable[[torch.Tensor], torch.Tensor]


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last)


def _eager_cl(model: nn.Module, example: torch.Tensor) -> Run:
    model = model.to(memory_format=torch.channels_last)
    return lambda x: model(_channels_last(x))


def _frozen(model: nn.Module, example: torch.Tensor, layout: Callable) -> Run:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript deprecation notices
        traced = torch.jit.trace(model, layout(example))
        frozen = torch.jit.optimize_for_inference(torch.jit.freeze(traced))
    return lambda x: frozen(layout(x))


# candidate -> (the function that runs it, the input layout it is fed): the row's what-ran
RUNS_AS = {"eager-channels-last": ("torch.nn.Module.__call__", "channels_last"),
           "frozen-ofi-nchw": ("torch.jit.optimize_for_inference", "nchw"),
           "frozen-ofi-channels-last": ("torch.jit.optimize_for_inference", "channels_last")}
CANDIDATES: dict[str, Callable[[nn.Module, torch.Tensor], Run]] = {
    "eager-channels-last": _eager_cl,
    "frozen-ofi-nchw": lambda m, x: _frozen(m, x, torch.Tensor.contiguous),
    "frozen-ofi-channels-last": lambda m, x: _frozen(
        m.to(memory_format=torch.channels_last), x, _channels_last),
}


def _median_time(run: Run, x: torch.Tensor) -> float:
    return measure(lambda: run(x), warmup=1, min_repeats=PICK_RUNS, max_repeats=PICK_RUNS,
                   budget_s=PICK_BUDGET_S).median_s


def _info() -> dict[str, Any]:
    return {"compiler": "torch", "flags": f"torch {torch.__version__}",
            "isa": torch.backends.cpu.get_cpu_capability()}


@engine("torch_best", availability=lambda: (True, ""), build_info=_info)
def compile_torch_best(model: nn.Module, example: torch.Tensor, threads: int) -> Compiled:
    """The fastest candidate recipe for ``model`` at ``example``'s shape and ``threads``."""
    with torch.inference_mode(), pinned_threads(threads):
        runs = {name: make(copy.deepcopy(model), example)
                for name, make in CANDIDATES.items()}
        best = min(runs, key=lambda name: _median_time(runs[name], example))
    chosen = runs[best]

    def run(x: torch.Tensor) -> torch.Tensor:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        with torch.inference_mode():
            return chosen(x)

    function, layout = RUNS_AS[best]
    return Compiled(run, f"torch-{best}", torch.backends.cpu.get_cpu_capability().lower(),
                    kernel_function=function, layout=layout)

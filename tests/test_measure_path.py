"""The one verify-and-time path (harness.verified) and the one layer list (patterns.policy):
the error definition against hand-computed values, a grouped non-depthwise conv treated
alike by every path, and the sweep and ``sparsebench kernels`` rows coming out of the same
function."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import nn

import patterns
from harness import kernel_bench, runner
from harness.backends import BACKENDS
from harness.context import SweepContext
from harness.layers import prunable_layers, zoo_prunable_layers
from harness.measure import loaded_model, run_layer
from harness.plan import LayerJob
from harness.spec import parse_spec
from harness.verified import max_rel_error
from patterns import models
from patterns.policy import prunable

TOY = "grouped_toy"
GROUPS_MESSAGE = ("ValueError: groups=2, dilation=1: the conv backends take groups=1, "
                  "dilation=1 only")


# --- the error definition ----------------------------------------------------------------

def test_max_rel_error_is_relative_to_the_reference_scale():
    want = torch.tensor([1000.0, 0.0, -2.0], dtype=torch.float64)
    got = want + torch.tensor([0.0, 0.1, 0.0], dtype=torch.float64)
    assert max_rel_error(got, want) == pytest.approx(0.1 / 1000)
    assert max_rel_error(want, want) == 0.0
    # the worst element counts, whatever its own size: |-2.5 - -2| / 1000
    assert max_rel_error(torch.tensor([1000.0, 0.0, -2.5]), want) == pytest.approx(5e-4)


def test_max_rel_error_is_taken_in_float64():
    want = torch.tensor([1 / 3], dtype=torch.float64)
    got = want.float()  # fp32 rounding of 1/3: exactly 0.3333333432674408
    expected = abs(0.3333333432674408 - 1 / 3) / (1 / 3)
    assert max_rel_error(got, want) == pytest.approx(expected, rel=1e-12)
    assert max_rel_error(got, want) > 0  # a float32 comparison would call it exact


def test_max_rel_error_edge_cases():
    zeros = torch.zeros(3, dtype=torch.float64)
    assert max_rel_error(torch.tensor([0.0, 0.5, 0.0]), zeros) == 0.5  # absolute on zeros
    assert max_rel_error(torch.zeros(3), zeros) == 0.0
    assert max_rel_error(torch.zeros(2), zeros) == math.inf  # wrong shape
    assert math.isnan(max_rel_error(torch.tensor([float("nan"), 0.0, 0.0]),
                                    torch.ones(3, dtype=torch.float64)))


# --- one layer list: the policy's ----------------------------------------------------------

class GroupedToy(nn.Module):
    """A stem, a grouped (not depthwise) conv, a depthwise conv, a pointwise conv, a head."""

    def __init__(self, num_classes: int, in_channels: int) -> None:
        super().__init__()
        self.stem = nn.Conv2d(in_channels, 16, 3, padding=1)
        self.grouped = nn.Conv2d(16, 16, 3, padding=1, groups=2)
        self.depthwise = nn.Conv2d(16, 16, 3, padding=1, groups=16)
        self.pointwise = nn.Conv2d(16, 32, 1)
        self.head = nn.Linear(32, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in (self.stem, self.grouped, self.depthwise, self.pointwise):
            x = torch.relu(conv(x))
        return self.head(x.mean((2, 3)))


@pytest.fixture
def toy_zoo() -> Iterator[str]:
    """``grouped_toy`` in the model zoo for this test only."""
    models.register(TOY, family="mobilenet", input_size=16)(GroupedToy)
    try:
        yield TOY
    finally:
        models.MODELS.remove(TOY)


def test_every_path_takes_the_policys_layer_list(toy_zoo: str) -> None:
    model = models.create_model(toy_zoo)
    policy = [name for name in prunable(model) if isinstance(model.get_submodule(name),
                                                               nn.Conv2d)]
    assert policy == ["grouped", "pointwise"]  # grouped is pruned; stem, depthwise are not
    assert set(patterns.apply(model, patterns.make("unstructured", sparsity=0.5)).masks) == {
        "grouped", "pointwise", }
    assert [layer.name for layer in prunable_layers(model, 16)] == policy
    assert [layer.name for layer in zoo_prunable_layers(toy_zoo)] == policy
    assert [layer.name for layer in kernel_bench.prunable_layers(toy_zoo)] == policy  # kernels
    assert runner._layer_names({toy_zoo: None}) == {toy_zoo: policy}  # the sweep's jobs


def _context(tmp_path: Path) -> SweepContext:
    spec = parse_spec('name = "t"\nbackends = ["c"]\nthreads = [1]\n[timing]\nwarmup = 0\n'
                      'min_repeats = 2\nmax_repeats = 3\nbudget_s = 0.01')
    return SweepContext(spec, "run", tmp_path, "machine", "software",
                        {"c": BACKENDS["c"].build_info()})


def _job(layer: str) -> LayerJob:
    params = json.dumps({"scope": "layer", "sparsity": 0.5}, sort_keys=True)
    return LayerJob(TOY, layer, "c", "cpu", 1, 1, "unstructured", params, 0.5, None)


def test_a_grouped_conv_gets_the_same_row_from_the_sweep_and_from_kernels(
        toy_zoo: str, tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    run_layer(_job("grouped"), ctx)
    swept = ctx.measurements[0]
    layer = next(x for x in zoo_prunable_layers(toy_zoo) if x.name == "grouped")
    benched = kernel_bench.bench_layer(layer, patterns.make("unstructured", sparsity=0.5),
                                       "c", threads=1, batch=1, budget=0.05)
    for row in (swept, benched):
        assert (row["status"], row["message"]) == ("error", GROUPS_MESSAGE)
        assert row["median_s"] is None


def test_sweep_and_kernels_rows_come_from_the_same_function(toy_zoo: str,
                                                            tmp_path: Path) -> None:
    """Same case on the same backend: the sweep's row and ``bench_layer``'s agree on every
    figure the verification gives (error, kernel, density, flops) and on the columns."""
    ctx = _context(tmp_path)
    job = _job("pointwise")
    run_layer(job, ctx)
    swept = ctx.measurements[0]
    case = loaded_model(job, ctx).cases[("pointwise", 1)]
    benched = kernel_bench.bench_layer(case.layer, case.pattern, "c", threads=1, batch=1,
                                       budget=0.05, case=case)
    assert swept["status"] == benched["status"] == "ok", (swept["message"],
                                                          benched["message"])
    assert swept["max_rel_error"] == benched["max_rel_error"] <= 1e-4
    assert swept["max_rel_error"] > 0  # float64 reference: fp32 rounding shows
    for column in ("kernel", "isa", "actual_density", "flops_dense", "flops_nonzero",
                   "pattern", "pattern_params", "layer_kind", "threads", "precision"):
        assert swept[column] == benched[column], column
    assert set(benched) <= set(swept)
    assert set(swept) - set(benched) <= {"measurement_key", "run_id", "checkpoint_key",
                                         "machine_id", "software_id"}

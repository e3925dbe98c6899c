"""Executors for the latency jobs: build the job's case and hand it to the one
verify-and-time path (``harness.verified.measure_case``).

A layer job times one conv; a model job times the whole forward pass. Either way the
output is compared with a float64 torch reference on the same masked weights first, and a
wrong result is stored as status 'wrong' with its error and no timing.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from harness.context import SweepContext, executor, job_key
from harness.layers import ConvLayer, conv_layers
from harness.plan import LayerJob, ModelJob, TrainJob
from harness.verified import Case, Measured, layer_case, measure_case, model_case

IMAGENET_CLASSES = 1000


def input_spec(model_name: str, dataset: str | None = None) -> tuple[int, int, int]:
    """(channels, image size, classes) a model is built and measured at.

    With a data set: the data set's images; without: the model's own (ImageNet) shape.
    """
    from patterns import data, models

    if dataset is None:
        return 3, models.model_info(model_name).input_size, IMAGENET_CLASSES
    info = data.dataset_info(dataset)
    return info.channels, info.image_size, info.num_classes


@dataclass
class LoadedModel:
    """A model with masked weights, the pattern of each pruned layer, and its conv shapes."""

    model: nn.Module
    layer_patterns: dict[str, Any]
    layers: dict[str, ConvLayer]
    checkpoint_key: str | None
    mask_hash: str | None
    image: tuple[int, int]  # channels, size
    cases: dict[tuple[str | None, int], Case] = field(default_factory=dict)
    """(layer or None for the whole model, batch) -> its case: one float64 reference
    shared by every backend and thread count."""


_CACHE: OrderedDict[tuple, LoadedModel] = OrderedDict()


def loaded_model(job: LayerJob | ModelJob, ctx: SweepContext) -> LoadedModel:
    """The model a job measures (trained checkpoint, or random weights masked), cached."""
    source = job.source
    ident = (source.key,) if source else (job.model, job.pattern, job.params_json)
    if ident not in _CACHE:
        _CACHE[ident] = _load_checkpoint(source, ctx) if source else _random_masked(job)
        while len(_CACHE) > 2:
            _CACHE.popitem(last=False)
    return _CACHE[ident]


def _load_checkpoint(source: TrainJob, ctx: SweepContext) -> LoadedModel:
    from harness.train_jobs import verified_checkpoint

    ckpt = verified_checkpoint(source, ctx)
    channels, size, _ = input_spec(source.model, source.dataset)
    return _loaded(ckpt.build_model(), ckpt.layer_patterns(), source.key,
                   ckpt.mask_hash, (channels, size))


def _random_masked(job: LayerJob) -> LoadedModel:
    import patterns
    from patterns.models import create_model

    channels, size, classes = input_spec(job.model)
    torch.manual_seed(0)
    model = create_model(job.model, num_classes=classes, in_channels=channels).eval()
    pattern = patterns.make(job.pattern, **job.params)
    plan = patterns.apply(model, pattern)
    with torch.no_grad():
        for name, mask in plan.masks.items():
            model.get_submodule(name).weight.mul_(mask)
    layer_patterns = {name: pattern.for_layer(mask) for name, mask in plan.masks.items()}
    return _loaded(model, layer_patterns, None, None, (channels, size))


def _loaded(model: nn.Module, layer_patterns: dict[str, Any], key: str | None,
            mask_hash: str | None, image: tuple[int, int]) -> LoadedModel:
    model.eval()
    layers = {layer.name: layer for layer in conv_layers(model, image[1], image[0])}
    return LoadedModel(model, layer_patterns, layers, key, mask_hash, image)


COUNTS = {"ok": "timed", "wrong": "wrong", "error": "error"}  # row status -> sweep tally


def _sweep_columns(job: LayerJob | ModelJob, ctx: SweepContext) -> dict[str, Any]:
    """What a sweep row records beside the case's own columns: its key, run and batch."""
    return {"measurement_key": job_key(job, ctx), "run_id": ctx.run_id, "batch": job.batch}


def _store(measured: Measured, ctx: SweepContext) -> None:
    if measured.timing is not None:
        ctx.timed_s += measured.timing.timed_s
    ctx.count(COUNTS[measured.status])
    ctx.add_measurement(measured.row)


def _measured(case: Case, job: LayerJob | ModelJob, ctx: SweepContext,
              columns: dict[str, Any]) -> Measured:
    return measure_case(case, job.backend, threads=job.threads, timing=ctx.spec.timing,
                        device=job.device, build_info=ctx.build_info.get(job.backend, {}),
                        columns={**_sweep_columns(job, ctx), **columns})


@executor(LayerJob)
def run_layer(job: LayerJob, ctx: SweepContext) -> None:
    import patterns

    loaded = loaded_model(job, ctx)
    layer = loaded.layers[job.layer]
    conv = loaded.model.get_submodule(job.layer)
    pattern = loaded.layer_patterns.get(job.layer, patterns.make("dense"))
    key = (job.layer, job.batch)
    if key not in loaded.cases:
        x = torch.randn(job.batch, layer.in_channels, layer.height, layer.width,
                        generator=torch.Generator().manual_seed(0))
        loaded.cases[key] = layer_case(layer, pattern, conv.weight, x, conv.bias)
    case = loaded.cases[key]
    _store(_measured(case, job, ctx, {
        "model": job.model,
        "requested_sparsity": job.requested_sparsity if pattern.name == job.pattern else 0.0,
        "checkpoint_key": loaded.checkpoint_key, "mask_hash": loaded.mask_hash}), ctx)


@executor(ModelJob)
def run_model(job: ModelJob, ctx: SweepContext) -> None:
    import patterns

    loaded = loaded_model(job, ctx)
    channels, size = loaded.image
    source = job.source
    key = (None, job.batch)
    if key not in loaded.cases:
        x = torch.randn(job.batch, channels, size, size,
                        generator=torch.Generator().manual_seed(0))
        loaded.cases[key] = model_case(source.model, loaded.model, loaded.layer_patterns,
                                       patterns.make(source.pattern, **source.params),
                                       source.requested_sparsity, x)
    case = loaded.cases[key]
    _store(_measured(case, job, ctx, {"checkpoint_key": loaded.checkpoint_key,
                                      "mask_hash": loaded.mask_hash}), ctx)

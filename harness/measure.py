"""Executors for the latency jobs: check a backend's output against torch, then time it.

A layer job times one conv; a model job times the whole forward pass. Either way the
output is compared with torch's on the same masked weights first, and a wrong result is
stored as status 'wrong' with its error and no timing.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from harness.backends import BACKENDS, what_ran
from harness.context import SweepContext, executor, job_key
from harness.layers import ConvLayer, conv_layers
from harness.model_latency import max_relative_error, prepare_model
from harness.plan import LayerJob, ModelJob, TrainJob
from harness.timing import measure, pinned_threads

LAYER_TOLERANCE = 1e-4   # fp32 conv vs torch, max relative error
MODEL_TOLERANCE = 1e-3   # a whole forward pass accumulates rounding over many layers
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


def _dense() -> Any:
    import patterns

    return patterns.make("dense")


def _base_row(job: LayerJob | ModelJob, ctx: SweepContext, prepared_kernel: str, isa: str,
              pattern: str, params: dict[str, Any], sparsity: float) -> dict[str, Any]:
    info = ctx.build_info.get(job.backend, {})
    return {
        "measurement_key": job_key(job, ctx), "run_id": ctx.run_id,
        "backend": job.backend, "kernel": prepared_kernel, "device": job.device, "isa": isa,
        "compile_flags": " ".join(info.get("flags", [])) if isinstance(info.get("flags"), list)
        else str(info.get("flags", "")),
        "kernel_source_hash": info.get("source_hash"),
        "pattern": pattern, "pattern_params": json.dumps(params, sort_keys=True),
        "requested_sparsity": sparsity, "threads": job.threads, "batch": job.batch,
    }


def _timed(fn: Any, ctx: SweepContext) -> dict[str, Any]:
    t = ctx.spec.timing
    timing = measure(fn, warmup=t.warmup, min_repeats=t.min_repeats,
                     max_repeats=t.max_repeats, budget_s=t.budget_s,
                     target_rel_ci=t.target_rel_ci)
    ctx.timed_s += timing.timed_s
    return timing.as_row()


def threads_used(kernels: list[Any]) -> set[int]:
    """Thread counts the last calls of ``kernels`` ran on, as each kernel reports it.

    A kernel without a report (a torch op, a CUDA kernel) ran at torch's pinned count.
    """
    pinned = torch.get_num_threads()
    return {getattr(kernel, "threads_used", None) or pinned for kernel in kernels}


def reporting_kernels(model: Any) -> list[Any]:
    """The kernels inside a prepared model that report the thread count they ran on (our C
    convs, swapped in or compiled); an engine reports for itself, or runs at torch's."""
    module = getattr(model, "module", None)
    if not isinstance(module, nn.Module):
        return []
    return [kernel for m in module.modules()
            for kernel in (getattr(m, "prepared", None), getattr(m, "kernel", None))
            if hasattr(kernel, "threads_used")]


def _checked_timing(run: Any, kernels: list[Any], x: torch.Tensor, reference: torch.Tensor,
                    tolerance: float, threads: int, ctx: SweepContext) -> dict[str, Any]:
    """Check ``run(x)`` against ``reference``; time it only when it is right and every
    kernel in ``kernels`` ran on exactly ``threads`` threads (the row stores the count the
    kernels reported, so no row can claim a thread count its timing did not run at).

    GPU work is asynchronous: a timed call on a CUDA tensor ends with a synchronize.
    """
    def call() -> None:
        run(x)
        if x.is_cuda:
            torch.cuda.synchronize()

    with pinned_threads(threads), torch.inference_mode():
        error = max_relative_error(run(x), reference)
        if not error <= tolerance:  # NaN counts as wrong
            ctx.count("wrong")
            return {"max_rel_error": error, "status": "wrong",
                    "message": f"max relative error {error:.3g} > {tolerance:g}"}
        used = threads_used(kernels)
        if used == {threads}:
            row = _timed(call, ctx)
            used = threads_used(kernels)  # the timed calls' own report
    if used != {threads}:
        ctx.count("error")
        return {"max_rel_error": error, "status": "error", "threads": min(used),
                "message": f"ran on {sorted(used)} threads, asked for {threads}; not timed"}
    ctx.count("timed")
    return {**row, "max_rel_error": error, "status": "ok", "message": "", "threads": threads}


@executor(LayerJob)
def run_layer(job: LayerJob, ctx: SweepContext) -> None:
    import patterns

    loaded = loaded_model(job, ctx)
    layer = loaded.layers[job.layer]
    conv = loaded.model.get_submodule(job.layer)
    pattern = loaded.layer_patterns.get(job.layer, _dense())
    weight = conv.weight.detach()
    bias = None if conv.bias is None else conv.bias.detach()
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(job.batch, layer.in_channels, layer.height, layer.width,
                    generator=generator).to(job.device)
    with torch.inference_mode():
        reference = F.conv2d(x, weight.to(job.device), None if bias is None else
                             bias.to(job.device), layer.stride, layer.padding)
    prepared = BACKENDS[job.backend].prepare(weight, pattern=pattern, stride=layer.stride,
                                             padding=layer.padding, bias=bias,
                                             device=job.device)
    density = patterns.density(weight != 0)
    row = _base_row(job, ctx, prepared.kernel, prepared.isa, pattern.name, pattern.params,
                    job.requested_sparsity if pattern.name == job.pattern else 0.0)
    row.update({
        "scope": "layer", "model": job.model, "layer": job.layer, "layer_kind": layer.kind,
        "nominal_density": pattern.nominal_density, "actual_density": density,
        "in_channels": layer.in_channels, "out_channels": layer.out_channels,
        "height": layer.height, "width": layer.width, "kernel_h": layer.kernel_h,
        "kernel_w": layer.kernel_w, "stride": layer.stride, "padding": layer.padding,
        "flops_dense": layer.flops(job.batch), "flops_nonzero": layer.flops(job.batch, density),
        "checkpoint_key": loaded.checkpoint_key, "mask_hash": loaded.mask_hash,
    })
    tolerance = BACKENDS[job.backend].tolerance or LAYER_TOLERANCE
    row.update(_checked_timing(partial(prepared, threads=job.threads), [prepared], x,
                               reference, tolerance, job.threads, ctx))
    row["precision"] = getattr(prepared, "precision", "fp32")  # known once it has run
    row.update(what_ran(prepared))
    ctx.add_measurement(row)


@executor(ModelJob)
def run_model(job: ModelJob, ctx: SweepContext) -> None:
    import patterns

    loaded = loaded_model(job, ctx)
    channels, size = loaded.image
    x = torch.randn(job.batch, channels, size, size,
                    generator=torch.Generator().manual_seed(0)).to(job.device)
    with torch.inference_mode():
        reference = loaded.model.to(job.device)(x)
    model = prepare_model(loaded.model, job.backend, loaded.layer_patterns, _dense(), x,
                          device=job.device, threads=job.threads)
    isa = model.isa or ctx.build_info.get(job.backend, {}).get("isa", "")
    weights = [m.weight for m in loaded.model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    nonzero = sum(int(w.count_nonzero()) for w in weights)
    density = {name: patterns.density(loaded.model.get_submodule(name).weight != 0)
               for name in loaded.layer_patterns if name in loaded.layers}
    source = job.source
    pattern = patterns.make(source.pattern, **source.params)
    row = _base_row(job, ctx, model.kernel, str(isa), source.pattern, source.params,
                    source.requested_sparsity)
    row.update({
        "scope": "model", "model": source.model, "layer": None, "layer_kind": None,
        "nominal_density": pattern.nominal_density,
        "actual_density": nonzero / sum(w.numel() for w in weights),
        "height": size, "width": size, "in_channels": channels,
        "flops_dense": sum(layer.flops(job.batch) for layer in loaded.layers.values()),
        "flops_nonzero": sum(layer.flops(job.batch, density.get(name, 1.0))
                             for name, layer in loaded.layers.items()),
        "checkpoint_key": loaded.checkpoint_key, "mask_hash": loaded.mask_hash,
        "precision": model.precision,
    })
    tolerance = BACKENDS[job.backend].tolerance or MODEL_TOLERANCE
    row.update(_checked_timing(model, [*reporting_kernels(model), model], x, reference,
                               tolerance, job.threads, ctx))
    if row["status"] == "ok":
        row["message"] = model.note
    row.update(what_ran(model))
    ctx.add_measurement(row)

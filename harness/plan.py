"""Expand a sweep spec into jobs: checkpoints to train, layer and model latencies to measure.

Jobs are plain frozen dataclasses whose ``key`` is a content hash of their configuration,
so a rerun of the same spec recognises the jobs that already have rows in the store.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from harness.spec import SweepSpec, TrainSpec


def content_hash(payload: Any) -> str:
    """sha256 of a canonical JSON rendering (sorted keys, no whitespace)."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class TrainJob:
    """One checkpoint: a model trained (or pruned from ``parent``) with one pattern level."""

    model: str
    dataset: str
    pattern: str
    params_json: str
    requested_sparsity: float
    recipe: str
    seed: int
    train: TrainSpec
    parent: TrainJob | None = None

    @property
    def params(self) -> dict[str, Any]:
        return json.loads(self.params_json)

    @property
    def key(self) -> str:
        config = asdict(self)
        config["parent"] = self.parent.key if self.parent else None
        return content_hash(config)

    @property
    def label(self) -> str:
        return f"train {self.model} {self.pattern}{self.params_json} {self.recipe} seed={self.seed}"


@dataclass(frozen=True)
class LayerJob:
    """Latency of one conv layer with one backend.

    ``source`` is the checkpoint's ``TrainJob`` (masked trained weights) or ``None`` for a
    shape model, whose weights are random and masked with ``pattern`` at ``params_json``.
    """

    model: str
    layer: str
    backend: str
    device: str
    threads: int
    batch: int
    pattern: str
    params_json: str
    requested_sparsity: float
    source: TrainJob | None

    @property
    def params(self) -> dict[str, Any]:
        return json.loads(self.params_json)

    @property
    def label(self) -> str:
        return f"layer {self.model}.{self.layer} {self.backend} {self.pattern} t={self.threads}"


@dataclass(frozen=True)
class ModelJob:
    """Latency of a trained model's whole forward pass, every conv run by one backend."""

    source: TrainJob
    backend: str
    device: str
    threads: int
    batch: int

    @property
    def label(self) -> str:
        s = self.source
        return f"model {s.model} {s.pattern}{s.params_json} {self.backend} t={self.threads}"


@dataclass(frozen=True)
class Plan:
    train: tuple[TrainJob, ...]
    layers: tuple[LayerJob, ...]
    models: tuple[ModelJob, ...]

    def in_order(self) -> list[TrainJob | LayerJob | ModelJob]:
        """Training first, then the latency jobs grouped by the weights they measure, so
        each checkpoint is loaded once."""
        groups: dict[Any, list[LayerJob | ModelJob]] = {}
        for job in (*self.layers, *self.models):
            ident = job.source.key if job.source else (job.model, job.pattern, job.params_json)
            groups.setdefault(ident, []).append(job)
        return [*self.train, *(job for group in groups.values() for job in group)]


def _levels(spec: SweepSpec, sparsities: tuple[float, ...] | None = None,
            ) -> list[tuple[str, dict[str, Any], float, str]]:
    """(pattern, params, requested sparsity, recipe) for every swept level, deduplicated.

    ``sparsities`` overrides each pattern's own list (the shape models' sweep).
    """
    import patterns

    seen: dict[tuple[str, str, str], tuple[str, dict[str, Any], float, str]] = {}
    for ps in spec.patterns:
        for sparsity in (ps.sparsities if sparsities is None else sparsities):
            level = patterns.nearest_level(ps.name, sparsity, **ps.params)
            ident = (level.name, json.dumps(level.params, sort_keys=True), ps.recipe)
            seen.setdefault(ident, (level.name, level.params, sparsity, ps.recipe))
    return list(seen.values())


def _times_masked(backend: str) -> bool:
    """Whether ``backend`` is timed on masked weights (it exploits them, or it is an engine
    whose gain from zeros the database should show)."""
    from harness.backends import BACKENDS

    spec = BACKENDS[backend]
    return spec.exploits_sparsity or spec.times_masked


def expand(spec: SweepSpec, layer_names: dict[str, list[str]],
           available_backends: set[str]) -> Plan:
    """All jobs of ``spec``; ``layer_names`` maps each model to its prunable conv layers.

    Backends not in ``available_backends`` produce no jobs (the runner notes why).
    """
    from harness.backends import BACKENDS
    from patterns.training import recipes_with_dense_parent

    with_parent = set(recipes_with_dense_parent())
    train_jobs: list[TrainJob] = []
    for model in spec.models:
        for seed in spec.seeds:
            dense = TrainJob(model, spec.dataset, "dense", "{}", 0.0, "dense", seed, spec.train)
            train_jobs.append(dense)
            for name, params, sparsity, recipe in _levels(spec):
                parent = dense if recipe in with_parent else None
                train_jobs.append(TrainJob(model, spec.dataset, name,
                                           json.dumps(params, sort_keys=True), sparsity,
                                           recipe, seed, spec.train, parent))

    placements = [
        (backend, device, threads, batch)
        for backend in spec.backends if backend in available_backends
        for device in spec.devices if device in BACKENDS[backend].devices
        for threads in (spec.threads if device == "cpu" else spec.threads[:1])
        for batch in spec.batch_sizes
    ]

    layer_jobs: list[LayerJob] = []
    model_jobs: list[ModelJob] = []
    for job in train_jobs:
        for backend, device, threads, batch in placements:
            if not _times_masked(backend) and job.pattern != "dense":
                continue  # a dense backend on sparse weights costs what dense costs
            if spec.latency.layers and BACKENDS[backend].layer_jobs:
                layer_jobs.extend(
                    LayerJob(job.model, layer, backend, device, threads, batch, job.pattern,
                             job.params_json, job.requested_sparsity, job)
                    for layer in layer_names[job.model])
            if spec.latency.model:
                model_jobs.append(ModelJob(job, backend, device, threads, batch))

    shape_levels = [("dense", {}, 0.0, "")] + _levels(spec, spec.latency.shape_sparsities)
    for model in spec.latency.shape_models:
        for name, params, sparsity, _recipe in shape_levels:
            for backend, device, threads, batch in placements:
                if not BACKENDS[backend].layer_jobs or (
                        not _times_masked(backend) and name != "dense"):
                    continue
                layer_jobs.extend(
                    LayerJob(model, layer, backend, device, threads, batch, name,
                             json.dumps(params, sort_keys=True), sparsity, None)
                    for layer in layer_names[model])
    return Plan(tuple(train_jobs), tuple(dict.fromkeys(layer_jobs)), tuple(model_jobs))

"""Executor for training jobs: one checkpoint per job, cached under its configuration hash.

A job trains into ``OUT/checkpoints/<key>/``; the trainer resumes an interrupted run
there and returns a finished checkpoint as it is, so rerunning a sweep retrains nothing.
On a cluster ``OUT`` is a folder every node sees: a checkpoint read back (a parent to
prune, weights to time) is checked against the hashes its training job reported.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.context import SweepContext, executor
from harness.plan import TrainJob
from results.stats import wilson_interval

if TYPE_CHECKING:
    from patterns.checkpoint import Checkpoint


def checkpoint_dir(job: TrainJob, ctx: SweepContext) -> Path:
    return ctx.out_dir / "checkpoints" / job.key[:20]


def checkpoint_path(job: TrainJob, ctx: SweepContext) -> Path:
    from patterns.training.trainer import CHECKPOINT_NAME

    return checkpoint_dir(job, ctx) / CHECKPOINT_NAME


def verified_checkpoint(job: TrainJob, ctx: SweepContext) -> Checkpoint:
    """``job``'s checkpoint file, loaded (its own digests and masks checked) and matched
    against the weights and mask hashes its training reported (``ctx.known``)."""
    from patterns.checkpoint import load_checkpoint

    path = checkpoint_path(job, ctx)
    ckpt = load_checkpoint(path)
    expected = ctx.known.get(job.key)
    if expected is None:
        return ckpt
    for name in ("weights_hash", "mask_hash"):
        if getattr(ckpt, name) != expected[name]:
            raise ValueError(
                f"checkpoint {path} is not the one trained ({name} {getattr(ckpt, name)[:12]} "
                f"!= {expected[name][:12]}); is --out a folder every node sees?")
    return ckpt


@executor(TrainJob)
def run_train(job: TrainJob, ctx: SweepContext) -> None:
    """Train (or finish training) ``job``'s checkpoint; its accuracy row goes to ``ctx``."""
    from patterns.training import TrainConfig, train

    t = job.train
    if job.parent:
        verified_checkpoint(job.parent, ctx)
    init = {"init": str(checkpoint_path(job.parent, ctx))} if job.parent else {}
    dense = job.recipe == "dense"
    images = t.train_subset if dense or t.finetune_subset is None else t.finetune_subset
    result = train(TrainConfig(
        model=job.model, dataset=job.dataset, out=str(checkpoint_dir(job, ctx)),
        pattern=job.pattern, pattern_params=job.params, recipe=job.recipe,
        recipe_params=init, epochs=t.dense_epochs if dense else t.epochs,
        lr=None if job.parent else t.lr,  # fine-tuning recipes bring their own rate
        batch_size=t.batch_size, weight_decay=t.weight_decay, warmup_epochs=t.warmup_epochs,
        label_smoothing=t.label_smoothing, seed=job.seed, train_subset=images,
        test_subset=t.test_subset, data_root=ctx.spec.data_root, threads=t.threads,
        resume=True, progress=False))
    meta = result.checkpoint.meta
    ctx.add_checkpoint({
        "checkpoint_key": job.key, "run_id": ctx.run_id, "model": job.model,
        "dataset": job.dataset, "pattern": job.pattern, "pattern_params": job.params_json,
        "requested_sparsity": job.requested_sparsity,
        "nominal_density": meta["nominal_density"], "actual_density": meta["actual_density"],
        "recipe": job.recipe, "recipe_params": json.dumps(meta["recipe_params"], default=str),
        "seed": job.seed, "epochs": result.epochs, "top1": result.top1, "top5": result.top5,
        "layer_table": json.dumps(meta["layer_table"]), "mask_hash": meta["mask_hash"],
        "weights_hash": meta["weights_hash"], "path": str(result.path),
        "train_seconds": result.train_seconds, **accuracy_columns(meta),
    })
    ctx.count("trained")


def accuracy_columns(meta: dict[str, Any]) -> dict[str, Any]:
    """The checkpoints columns of a checkpoint's evaluation: test-set size, split hash,
    per-image top-1 bits and the 95 % Wilson intervals (percent); {} for a checkpoint
    written before these were recorded."""
    n = meta.get("test_images")
    if not n:
        return {}
    columns: dict[str, Any] = {
        "test_images": n, "test_split_hash": meta["test_split_hash"],
        "top1_correct": base64.b64decode(meta["top1_correct"]),
    }
    for k in ("1", "5"):
        lo, hi = wilson_interval(meta[f"test_correct{k}"], n)
        columns.update({f"top{k}_lo": 100.0 * lo, f"top{k}_hi": 100.0 * hi})
    return columns

"""The one trainer every recipe runs under (CPU, or CUDA when asked).

SGD with momentum 0.9 and weight decay, a cosine learning rate after a linear warmup,
optional label smoothing; seeded and deterministic (model init from ``torch.manual_seed``,
batch order and augmentation re-seeded per epoch), a tqdm progress bar (epoch, loss,
accuracy, ETA), a resumable training state written atomically after every epoch, and at the
end a verified sparsebench checkpoint with the test top-1/top-5 of the *masked* model.
Its ``history`` has one entry per epoch: mean loss, train accuracy, cumulative seconds and
``mask_change`` (the fraction of mask entries that flipped during the epoch; a recipe whose
masks still churn late in training is a recipe whose final mask the model never adapted to).

Pruning is entirely the recipe's business: each pruned layer's weight is parametrized by
``recipe.forward_weight`` and the trainer calls the recipe's hooks (see ``recipe.py``);
there is no branch on a recipe or pattern name here.

Output folder ``out``: ``checkpoint.pt`` (the result, ``patterns.checkpoint`` format) and,
while a run is unfinished, ``train_state.pt`` (model, optimizer, recipe state, epoch).
"""

from __future__ import annotations

import copy
import io
import json
import math
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from tqdm import tqdm

import patterns
from patterns.checkpoint import (
    Checkpoint,
    atomic_write_bytes,
    load_checkpoint,
    save_checkpoint,
    seal,
    unseal,
)
from patterns.training.batches import steps_per_epoch, train_batches
from patterns.training.evaluation import Evaluation, evaluate
from patterns.training.recipe import Recipe, RecipeContext, make_recipe
from patterns.training.schedules import warmup_cosine_lr
from sparsebench.provenance import code_state, software_versions

CHECKPOINT_NAME = "checkpoint.pt"
STATE_NAME = "train_state.pt"
STATE_MAGIC = b"SPARSEBENCH-TS1\n"  # train_state.pt is sealed like a checkpoint
# Settings that may differ between an interrupted run and its resumption.
_RUNTIME_ONLY = ("out", "resume", "progress", "threads", "device")


@dataclass
class TrainConfig:
    """Everything that determines a training run (``lr=None``: the recipe's default)."""

    model: str
    dataset: str
    out: str
    pattern: str = "dense"
    pattern_params: dict[str, Any] = field(default_factory=dict)
    recipe: str = "dense"
    recipe_params: dict[str, Any] = field(default_factory=dict)
    epochs: int = 5
    lr: float | None = None
    batch_size: int = 128
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.0
    augment: bool = True
    seed: int = 0
    train_subset: int | None = None
    test_subset: int | None = None
    data_root: str | None = None
    threads: int | None = None
    device: str = "cpu"
    resume: bool = False
    progress: bool = True

    def identity(self) -> str:
        """JSON of the settings that must match for ``resume`` to continue a run."""
        d = {k: v for k, v in asdict(self).items() if k not in _RUNTIME_ONLY}
        return json.dumps(d, sort_keys=True, default=str)


@dataclass
class TrainResult:
    """Where the checkpoint went and what it scored."""

    path: Path
    checkpoint: Checkpoint
    top1: float
    top5: float
    train_seconds: float
    epochs: int


def quick_settings() -> dict[str, int]:
    """The QUICK setting: one resnet20 Fashion-MNIST checkpoint in about a minute on 2 idle
    cores (252 SGD steps of 128 images), still ranking the patterns; evaluated, like every
    run, on the whole test split (10,000 images) unless ``test_subset`` says otherwise.

    Keys are ``TrainConfig`` fields. Measured with ``benchmarks/bench_training.py --quick``
    (2026-11-21, idle 2-core machine, two runs at a time on one thread each, then still on
    a 2,000-image test subset): dense 78.85 % top-1 in 36 s (2 threads); at 75 %, own
    recipes in 62-64 s: nm/srste 77.80, cs/cs 77.45, unstructured/gmp 76.80, filter/gmp
    76.00, block/subp 75.40; oneshot from that dense model, 2 fine-tuning epochs in 27-30 s:
    unstructured 77.95, nm 77.50, cs 77.30, block 75.10, filter 72.45. Full data and 5
    epochs give the same oneshot order (92.13 / 91.97 / 91.76 / 90.64 / 89.44) and put the
    fine-grained patterns above block and filter for the own recipes too; only block and
    filter swap there (91.37 vs 90.52). At n = 2,000 a 95 % interval is about ±1.9 points,
    so the quick ranking above is indicative only.
    """
    return {"train_subset": 8000, "epochs": 4}


class _RecipeWeight(nn.Module):
    """Parametrization: the weight a pruned layer computes with is the recipe's choice."""

    def __init__(self, recipe: Recipe, name: str) -> None:
        super().__init__()
        self.recipe, self.layer = recipe, name

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return self.recipe.forward_weight(self.layer, weight)


def _check_config(cfg: TrainConfig) -> None:
    checks = [
        (isinstance(cfg.epochs, int) and cfg.epochs >= 1, "epochs must be an integer >= 1"),
        (isinstance(cfg.batch_size, int) and cfg.batch_size >= 1, "batch size must be >= 1"),
        (cfg.lr is None or cfg.lr > 0, "learning rate must be positive"),
        (0.0 <= cfg.label_smoothing < 1.0, "label smoothing must be in [0, 1)"),
        (cfg.weight_decay >= 0, "weight decay must be >= 0"),
        (cfg.warmup_epochs >= 0, "warmup epochs must be >= 0"),
        (cfg.threads is None or cfg.threads >= 1, "threads must be >= 1"),
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(message)
    if not re.fullmatch(r"cpu|cuda(:\d+)?", cfg.device):
        raise ValueError(f"device {cfg.device!r} unknown; use cpu or cuda (cuda:N)")
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {cfg.device} asked for, but torch sees no CUDA GPU; use cpu")


def train(cfg: TrainConfig) -> TrainResult:
    """Train ``cfg`` to a checkpoint in ``cfg.out``; all input is checked before writing.

    Raises ValueError (one line) for bad settings, a pattern the recipe can't train, a
    missing data set, or an ``out`` folder holding another run.
    """
    _check_config(cfg)
    pattern = patterns.make(cfg.pattern, **cfg.pattern_params)
    recipe = make_recipe(cfg.recipe, pattern, **cfg.recipe_params)
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder; pass a folder path")
    final_path, state_path = out / CHECKPOINT_NAME, out / STATE_NAME
    if final_path.exists():
        if cfg.resume:
            ckpt = load_checkpoint(final_path)
            identity = cfg.identity()
            # checkpoints written before config_identity was recorded are taken as they are
            if ckpt.meta.get("config_identity", identity) != identity:
                raise ValueError(
                    f"{final_path} is a finished run with different settings; "
                    "choose another --out or delete it"
                )
            return TrainResult(final_path, ckpt, ckpt.top1, ckpt.top5,
                               ckpt.meta["train_seconds"], ckpt.meta["epochs"])
        raise ValueError(f"{final_path} already exists; choose another --out or delete it")
    state = _load_state(state_path, cfg) if state_path.exists() else None
    if state is not None and not cfg.resume:
        raise ValueError(
            f"{out} holds an interrupted run (epoch {state['epoch']}/{cfg.epochs}); "
            "add --resume to continue it, or choose another --out"
        )
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    run = _build(cfg, pattern, recipe, state)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"--out {out}: cannot make the folder ({exc.strerror}); pass a folder "
                         "you can write") from None
    _train_epochs(run, state_path)
    return _finish(run, final_path, state_path)


@dataclass
class _Run:
    """A run being trained: what ``_build`` assembled and the progress so far."""

    cfg: TrainConfig
    pattern: Any
    recipe: Recipe
    info: Any
    splits: Any
    model: nn.Module
    plan: Any
    layers: dict[str, nn.Module]
    optimizer: torch.optim.Optimizer
    base_lr: float
    steps: int
    start: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def _build(cfg: TrainConfig, pattern, recipe: Recipe, state: dict | None) -> _Run:
    """Data, model, plan, parametrized layers and optimizer; restored from ``state``."""
    from patterns import data, models

    info = data.dataset_info(cfg.dataset)
    splits = data.load_splits(
        cfg.dataset, root=cfg.data_root, seed=cfg.seed, train_subset=cfg.train_subset,
        test_subset=cfg.test_subset, augment=cfg.augment,
    )
    torch.manual_seed(cfg.seed)
    model = models.create_model(
        cfg.model, num_classes=info.num_classes, in_channels=info.channels
    )
    recipe.prepare(model, model_name=cfg.model, dataset=cfg.dataset)
    model.to(cfg.device)
    plan = patterns.apply(copy.deepcopy(model), pattern)
    if pattern.prunes and not plan.masks:
        reasons = "; ".join(sorted({r.reason for r in plan.table}))
        raise ValueError(f"{pattern.describe()} prunes no layer of {cfg.model} ({reasons})")
    steps = steps_per_epoch(len(splits.train), cfg.batch_size)
    ctx = RecipeContext(model, pattern, plan, cfg.epochs, steps, cfg.seed)
    recipe.setup(ctx)
    layers = ctx.layers()
    for name, module in layers.items():
        parametrize.register_parametrization(module, "weight", _RecipeWeight(recipe, name))
    base_lr = cfg.lr if cfg.lr is not None else recipe.default_lr()
    optimizer = torch.optim.SGD(
        model.parameters(), lr=base_lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
    )
    run = _Run(cfg, pattern, recipe, info, splits, model, plan, layers, optimizer, base_lr,
               steps)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        recipe.load_state_dict(state["recipe"])
        run.start, run.history = state["epoch"], json.loads(state["history"])
        run.seconds = state["seconds"]
    return run


def mask_change(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> float:
    """Fraction of the pruned layers' mask entries that differ between ``before`` and
    ``after`` (0 when nothing is pruned): how far a recipe's masks moved in one epoch."""
    total = sum(mask.numel() for mask in after.values())
    if not total:
        return 0.0
    flipped = sum(int((before[name] != mask).sum()) for name, mask in after.items())
    return flipped / total


def _train_epochs(run: _Run, state_path: Path) -> None:
    """Epochs ``run.start`` .. end, saving the training state after each."""
    cfg, model, recipe, optimizer = run.cfg, run.model, run.recipe, run.optimizer
    total = cfg.epochs * run.steps
    warmup = round(min(cfg.warmup_epochs, 0.2 * cfg.epochs) * run.steps)
    bar = tqdm(total=total, initial=run.start * run.steps, disable=not cfg.progress,
               unit="step", mininterval=0.5 if sys.stderr.isatty() else 30.0, file=sys.stderr)
    masks_before = recipe.final_masks()
    for epoch in range(run.start, cfg.epochs):
        t0 = time.perf_counter()
        bar.set_description(f"epoch {epoch + 1}/{cfg.epochs}")
        recipe.on_epoch_start(epoch)
        model.train()
        loss_sum, correct, seen = 0.0, 0, 0
        batches = train_batches(run.splits.train, batch_size=cfg.batch_size, seed=cfg.seed,
                                epoch=epoch)
        for i, (x, y) in enumerate(batches):
            step = epoch * run.steps + i
            lr = warmup_cosine_lr(step, total, run.base_lr, warmup)
            for group in optimizer.param_groups:
                group["lr"] = lr
            recipe.on_step_start(step)
            x, y = x.to(cfg.device), y.to(cfg.device)
            logits = model(x)
            loss = F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            recipe.after_step()
            loss_sum += float(loss.detach()) * len(y)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
            bar.update(1)
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{100 * correct / seen:.1f}",
                            refresh=False)
        if not math.isfinite(loss_sum):
            raise RuntimeError(f"training diverged in epoch {epoch + 1} (loss is not finite); "
                               "lower --lr")
        run.seconds += time.perf_counter() - t0
        masks_after = recipe.final_masks()
        run.history.append({"epoch": epoch + 1, "loss": loss_sum / seen,
                            "train_acc": 100 * correct / seen, "seconds": run.seconds,
                            "mask_change": mask_change(masks_before, masks_after)})
        masks_before = masks_after
        _save_state(state_path, run, epoch + 1)
    bar.close()


def _finish(run: _Run, final_path: Path, state_path: Path) -> TrainResult:
    """Bake the final masks into the weights, evaluate, write the checkpoint."""
    masks = run.recipe.final_masks()
    for name, module in run.layers.items():
        parametrize.remove_parametrizations(module, "weight", leave_parametrized=False)
        with torch.no_grad():
            module.weight.mul_(masks[name].to(module.weight.device))
    result = evaluate(run.model, run.splits.test, run.cfg.device)
    meta = _metadata(run, masks, result)
    state_dict = {k: v.cpu() for k, v in run.model.state_dict().items()}
    ckpt = save_checkpoint(final_path, state_dict=state_dict, masks=masks, meta=meta)
    state_path.unlink(missing_ok=True)
    return TrainResult(final_path, ckpt, result.top1, result.top5, run.seconds, run.cfg.epochs)


def _save_state(path: Path, run: _Run, epoch: int) -> None:
    state = {
        "config": run.cfg.identity(),
        "epoch": epoch,
        "model": run.model.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "recipe": run.recipe.state_dict(),
        "history": json.dumps(run.history),
        "seconds": run.seconds,
    }
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, seal(STATE_MAGIC, buf.getvalue()))


def _load_state(path: Path, cfg: TrainConfig) -> dict[str, Any]:
    """The sealed resume state; ValueError when any byte of it changed since it was saved."""
    restart = f"delete {path} and run the same command again to train from epoch 0"
    body = unseal(STATE_MAGIC, path.read_bytes())
    if body is None:
        raise ValueError(f"{path} is damaged (its digest does not match: truncated, altered "
                         f"or written by an older sparsebench); {restart}")
    try:
        state = torch.load(io.BytesIO(body), map_location=cfg.device, weights_only=True)
        identity = state["config"]
    except Exception as exc:  # damaged file: torch raises many types
        raise ValueError(
            f"{path} is not a readable training state ({type(exc).__name__}); {restart}"
        ) from None
    if identity != cfg.identity():
        raise ValueError(
            f"{path.parent} holds a run with different settings; use the same settings "
            "to resume it, or choose another --out"
        )
    return state


def _metadata(run: _Run, masks: dict[str, torch.Tensor], result: Evaluation
              ) -> dict[str, Any]:
    cfg, pattern, recipe = run.cfg, run.pattern, run.recipe
    table = []
    for record in run.plan.table:
        row = asdict(record)
        row["shape"] = list(record.shape)
        if record.name in masks:
            row["density"] = patterns.density(masks[record.name])
        table.append(row)
    kept = sum(int(m.count_nonzero()) for m in masks.values())
    size = sum(m.numel() for m in masks.values())
    code = code_state()
    params = pattern.params
    return {
        "model": cfg.model,
        "dataset": cfg.dataset,
        "num_classes": run.info.num_classes,
        "in_channels": run.info.channels,
        "pattern": pattern.name,
        "pattern_params": params,
        "pattern_describe": pattern.describe(),
        "requested_sparsity": params.get("sparsity", 1.0 - pattern.nominal_density),
        "nominal_density": pattern.nominal_density,
        "actual_density": kept / size if size else 1.0,
        "recipe": recipe.name,
        "recipe_params": recipe.describe_params(),
        "train": {
            "lr": run.base_lr, "batch_size": cfg.batch_size, "momentum": cfg.momentum,
            "weight_decay": cfg.weight_decay, "warmup_epochs": cfg.warmup_epochs,
            "label_smoothing": cfg.label_smoothing, "augment": cfg.augment,
            "train_subset": cfg.train_subset, "test_subset": cfg.test_subset,
            "train_images": len(run.splits.train), "test_images": len(run.splits.test),
            "device": cfg.device, "threads": torch.get_num_threads(),
        },
        "seed": cfg.seed,
        "epochs": cfg.epochs,
        "config_identity": cfg.identity(),
        "top1": result.top1,
        "top5": result.top5,
        **result.as_meta(),
        "layer_table": table,
        "train_seconds": run.seconds,
        "history": run.history,
        "software": software_versions(),
        "git_commit": code.commit,
        "git_dirty": code.dirty,
        "code_fingerprint": code.fingerprint,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }

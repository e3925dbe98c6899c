"""Batches for the trainer in a seeded order, a pure function of (seed, epoch).

The data sets of ``patterns.data`` hold small images in memory and build whole batches in
a few tensor ops (``dataset.batch(indices)``: normalise, and augment the train split with
torch's global RNG). The trainer draws each epoch's order from its own generator and
re-seeds the global RNG at the start of every epoch, so augmentation draws, and with them
a resumed run, are reproducible bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Dataset


def fetch(dataset: Dataset, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Images and labels at ``indices``: ``dataset.batch`` when it has one, else item by item."""
    batch = getattr(dataset, "batch", None)
    if batch is not None:
        x, y = batch(indices)
    else:
        items: Sequence = [dataset[i] for i in indices.tolist()]
        x = torch.stack([item[0] for item in items])
        y = torch.as_tensor([int(item[1]) for item in items])
    return x.float(), y.long()


def epoch_seed(seed: int, epoch: int) -> int:
    """Seed of one epoch's order and augmentation."""
    return seed * 7919 + epoch + 1


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Full batches per epoch (the remainder is dropped; at least one batch)."""
    return max(1, n // batch_size)


def train_batches(
    dataset: Dataset, *, batch_size: int, seed: int, epoch: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of training batches in a seeded random order."""
    s = epoch_seed(seed, epoch)
    torch.manual_seed(s)  # augmentation in dataset.batch draws from the global RNG
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(s))
    size = min(batch_size, len(dataset))
    for i in range(steps_per_epoch(len(dataset), batch_size)):
        yield fetch(dataset, order[i * size : (i + 1) * size])


def eval_batches(
    dataset: Dataset, batch_size: int = 1000
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The whole split in its stored order."""
    for start in range(0, len(dataset), batch_size):
        yield fetch(dataset, torch.arange(start, min(start + batch_size, len(dataset))))

"""Test-split evaluation: top-1 / top-5, which images were right, and which images they were.

``evaluate`` returns the counts behind the accuracies (so an interval can be computed),
one bit per test image right at top-1 (``numpy.packbits`` of the bools in the split's
order, the bit format the results store keeps), and ``split_hash``: sha256 over the
evaluated images and labels exactly as the model saw them, so two checkpoints are only
compared image by image when they were evaluated on the same images.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from patterns.training.batches import eval_batches


@dataclass(frozen=True)
class Evaluation:
    """One model on one test split."""

    images: int
    correct1: int
    correct5: int
    split_hash: str
    top1_bits: bytes  # numpy.packbits of "right at top-1", one bit per image

    @property
    def top1(self) -> float:
        return 100.0 * self.correct1 / self.images

    @property
    def top5(self) -> float:
        return 100.0 * self.correct5 / self.images

    def as_meta(self) -> dict[str, int | str]:
        """The checkpoint-metadata fields (JSON-safe: the bits as base64)."""
        return {"test_images": self.images, "test_correct1": self.correct1,
                "test_correct5": self.correct5, "test_split_hash": self.split_hash,
                "top1_correct": base64.b64encode(self.top1_bits).decode("ascii")}


def evaluate(model: nn.Module, dataset, device: str = "cpu") -> Evaluation:
    """Evaluate ``model`` on every image of ``dataset`` in its stored order."""
    model.eval()
    digest = hashlib.sha256()
    right1: list[torch.Tensor] = []
    correct5 = 0
    with torch.no_grad():
        for x, y in eval_batches(dataset):
            digest.update(x.contiguous().numpy().tobytes())
            digest.update(y.numpy().astype("<i8").tobytes())
            logits = model(x.to(device))
            top = logits.topk(min(5, logits.shape[1]), dim=1).indices.cpu()
            hits = top == y[:, None]
            right1.append(hits[:, 0])
            correct5 += int(hits.any(dim=1).sum())
    right = torch.cat(right1).numpy() if right1 else np.zeros(0, dtype=bool)
    return Evaluation(len(right), int(right.sum()), correct5, digest.hexdigest(),
                      np.packbits(right).tobytes())

"""Print the time to mask every prunable layer of torchvision resnet50 per pattern at 75 %."""
import time

import torch
import torchvision

import patterns

torch.set_num_threads(1)
torch.manual_seed(0)
model = torchvision.models.resnet50(weights=None)
CASES = [
    ("dense", {}),
    ("unstructured", {"sparsity": 0.75}),
    ("unstructured", {"sparsity": 0.75, "scope": "global"}),
    ("nm", {"n": 1, "m": 4}),
    ("nm", {"n": 2, "m": 8}),
    ("block", {"n": 4, "sparsity": 0.75}),
    ("block", {"n": 16, "sparsity": 0.75, "criterion": "l2"}),
    ("block", {"n": 4, "sparsity": 0.75, "balance": "global"}),
    ("block", {"n": 4, "sparsity": 0.75, "criterion": "bpar"}),
    ("block", {"n": 16, "sparsity": 0.75, "criterion": "bpar"}),
    ("cs", {"k": 4}),
    ("cs", {"k": 4, "d": 16}),
    ("filter", {"sparsity": 0.75}),
]
for name, params in CASES:
    p = patterns.make(name, **params)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        plan = patterns.apply(model, p)
        best = min(best, time.perf_counter() - t0)
    pruned = sum(r.pruned for r in plan.table)
    print(f"{p.describe():34s} {best:7.3f} s  layers pruned {pruned:3d}/{len(plan.table)}  "
          f"density {plan.density:.4f}")

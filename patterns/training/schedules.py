"""Pure schedule functions shared by the trainer and the recipes (no state).

Every schedule is a function of the step or epoch number only, so a resumed run recomputes
exactly the same values as an uninterrupted one.
"""

from __future__ import annotations

import math


def _clip01(x: float) -> float:
    return min(1.0, max(0.0, x))


def warmup_cosine_lr(step: int, total_steps: int, base_lr: float, warmup_steps: int) -> float:
    """Learning rate at ``step`` (0-based): linear warmup to ``base_lr``, then cosine to 0.

    Warmup step ``i`` uses ``base_lr * (i + 1) / warmup_steps``; afterwards the rate follows
    ``base_lr * (1 + cos(pi * t)) / 2`` with ``t`` going from 0 to 1 over the remaining steps.
    """
    if total_steps <= 0:
        raise ValueError(f"total_steps must be positive, got {total_steps}")
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    t = _clip01((step - warmup_steps) / span)
    return 0.5 * base_lr * (1.0 + math.cos(math.pi * t))


def epoch_window(start: float, end: float, epochs: int) -> tuple[float, float]:
    """Ramp ``[e0, e1]`` in epochs from fractions of the run, both clamped to the last epoch.

    Clamping guarantees that the last epoch trains at the ramp's end (the exact target).
    """
    last = max(0, epochs - 1)
    return min(start * epochs, last), min(end * epochs, last)


def cubic_ramp(t: float, t0: float, t1: float) -> float:
    """SUBP's ``r(t) = clip(((t - t0) / (t1 - t0))**3, 0, 1)``: 0 before ``t0``, 1 after ``t1``.

    Slow at first, fast at the end (the pruning *rate* ``p * r`` is what SUBP schedules).
    """
    if t1 <= t0:
        return 1.0 if t >= t1 else 0.0
    return _clip01((t - t0) / (t1 - t0)) ** 3


def gmp_sparsity(t: float, final: float, t0: float, t1: float, initial: float = 0.0) -> float:
    """Zhu & Gupta's gradual-pruning target: ``s_f + (s_i - s_f) * (1 - clip((t-t0)/(t1-t0)))**3``.

    Fast at first (many redundant weights), slow near the end; equals ``initial`` up to
    ``t0`` and exactly ``final`` from ``t1`` on.
    """
    if t1 <= t0:
        return final if t >= t1 else initial
    frac = _clip01((t - t0) / (t1 - t0))
    return final + (initial - final) * (1.0 - frac) ** 3


def cs_k_levels(k_target: int) -> list[int]:
    """The group sizes CS training passes through on its way to ``k_target``.

    Powers of two from 2 that divide ``k_target`` (so a chunk of ``k*d`` channels valid for
    the target is valid for every level), then the target itself: 8 -> [2, 4, 8],
    6 -> [2, 6], 3 -> [3].
    """
    if k_target < 2:
        raise ValueError(f"cs k must be >= 2, got {k_target}")
    levels = []
    k = 2
    while k < k_target:
        if k_target % k == 0:
            levels.append(k)
        k *= 2
    return [*levels, k_target]


def cs_k_at(epoch: int, k_target: int, e0: float, e1: float) -> int:
    """CS training's group size at ``epoch``: the levels of ``cs_k_levels`` in equal stages.

    The ramp ``[e0, e1)`` is cut into ``L`` equal stages for the ``L`` levels; epochs before
    ``e0`` use k=2 (the first level), epochs from the last stage on use ``k_target``.
    """
    levels = cs_k_levels(k_target)
    if e1 <= e0:
        return k_target if epoch >= e0 else levels[0]
    frac = _clip01((epoch - e0) / (e1 - e0))
    return levels[min(len(levels) - 1, int(frac * len(levels)))]


def subp_regrow_count(p: float, r: float, cin: int) -> int:
    """Blocks SUBP samples back per block-row: ``floor((p - p*r) * Cin)``, as the authors'
    ``int(regrow_rate * in_channels)``; ``round(·, 9)`` absorbs float noise (as ``count``)."""
    return math.floor(round((p - p * r) * cin, 9))

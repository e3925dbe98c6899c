"""Uncertainty of stored figures: accuracy intervals, paired tests, seed means, ratios.

- ``wilson_interval``: the 95 % Wilson score interval of a proportion (top-1 / top-5 of one
  checkpoint on n test images).
- ``pack_bits`` / ``unpack_bits``: one bit per test image (``numpy.packbits``, big-endian
  bit order, the last byte zero-padded), how a checkpoint's per-image correctness is stored.
- ``mcnemar_exact`` / ``paired``: the exact (binomial) McNemar test between two checkpoints
  evaluated on the same test split; a different split is refused (``SplitMismatch``).
- ``mean_interval``: mean, sample std and the Student-t 95 % interval of a mean over seeds.
- ``ratio_interval``: the ratio of two medians with an interval from their own intervals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

Z95 = 1.959963984540054  # two-sided 95 % normal quantile
ALPHA = 0.05
BETTER, WORSE, SAME = "better", "worse", "indistinguishable"


def wilson_interval(correct: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of ``correct / n`` as fractions in [0, 1]."""
    if n <= 0 or not 0 <= correct <= n:
        raise ValueError(f"need 0 <= correct <= n and n >= 1, got correct={correct}, n={n}")
    p, z2 = correct / n, z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    lo = 0.0 if correct == 0 else max(0.0, centre - half)
    hi = 1.0 if correct == n else min(1.0, centre + half)
    return lo, hi


def pack_bits(correct: Sequence[bool] | np.ndarray) -> bytes:
    """One bit per image, image 0 in the high bit of byte 0."""
    return np.packbits(np.asarray(correct, dtype=bool)).tobytes()


def unpack_bits(blob: bytes, n: int) -> np.ndarray:
    """The ``n`` booleans ``pack_bits`` stored; ValueError when the blob does not hold n."""
    if len(blob) != (n + 7) // 8:
        raise ValueError(f"correctness bits hold {len(blob) * 8} images' worth, expected {n}")
    return np.unpackbits(np.frombuffer(blob, dtype=np.uint8), count=n).astype(bool)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts ``b`` and ``c``.

    Under the null each discordant image is right for A or for B with probability 1/2:
    p = min(1, 2 P(X <= min(b, c))), X ~ Binomial(b + c, 1/2); 1 when there is none.
    """
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got {b}, {c}")
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1))
    return float(min(Fraction(1), Fraction(2 * tail, 2**n)))


class SplitMismatch(ValueError):
    """Two checkpoints were evaluated on different test images: no paired test exists."""


@dataclass(frozen=True)
class Evaluated:
    """What a paired test needs of one checkpoint: its correctness bits and its split."""

    name: str
    split_hash: str | None
    n: int | None
    bits: bytes | None


@dataclass(frozen=True)
class Paired:
    """McNemar between A and B: ``only_a`` images A got right and B wrong, and vice versa."""

    only_a: int
    only_b: int
    n: int
    p_value: float

    @property
    def verdict(self) -> str:
        """B against A at 5 %: 'better', 'worse' or 'indistinguishable'."""
        if self.p_value >= ALPHA:
            return SAME
        return BETTER if self.only_b > self.only_a else WORSE


def paired(a: Evaluated, b: Evaluated) -> Paired:
    """Exact McNemar of ``b`` against ``a``; SplitMismatch unless both have bits of one split."""
    for e in (a, b):
        if e.bits is None or e.split_hash is None or e.n is None:
            raise SplitMismatch(
                f"{e.name} has no per-image correctness stored (evaluated before they were "
                "recorded); retrain or re-evaluate it"
            )
    if a.split_hash != b.split_hash or a.n != b.n:
        raise SplitMismatch(
            f"{a.name} and {b.name} were evaluated on different test splits "
            f"({a.n} images, split {a.split_hash[:12]} vs {b.n} images, split "
            f"{b.split_hash[:12]}); compare checkpoints evaluated on the same split"
        )
    right_a, right_b = unpack_bits(a.bits, a.n), unpack_bits(b.bits, b.n)
    only_a = int(np.count_nonzero(right_a & ~right_b))
    only_b = int(np.count_nonzero(right_b & ~right_a))
    return Paired(only_a, only_b, a.n, mcnemar_exact(only_a, only_b))


def _t_two_sided_mass(t: float, df: int) -> float:
    """P(|T| < t) for Student's t with integer ``df`` (Abramowitz & Stegun 26.7.3-4)."""
    theta = math.atan(t / math.sqrt(df))
    s, c2 = math.sin(theta), math.cos(theta) ** 2
    term = total = 1.0
    if df % 2:
        for k in range(1, (df - 1) // 2):
            term *= c2 * (2 * k) / (2 * k + 1)
            total += term
        return 2 / math.pi * (theta + (s * math.cos(theta) * total if df > 1 else 0.0))
    for k in range(1, df // 2):
        term *= c2 * (2 * k - 1) / (2 * k)
        total += term
    return s * total


def t_quantile(df: int, level: float = 0.95) -> float:
    """The two-sided ``level`` quantile of Student's t (t_{0.975, df} for 95 %), by bisection."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    lo, hi = 0.0, 1.0
    while _t_two_sided_mass(hi, df) < level:
        hi *= 2
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _t_two_sided_mass(mid, df) < level else (lo, mid)
    return (lo + hi) / 2


@dataclass(frozen=True)
class SeedMean:
    """Mean over seeds, its sample std and the 95 % t interval of the mean (NaN for 1 seed)."""

    mean: float
    std: float
    lo: float
    hi: float
    n: int


def mean_interval(values: Sequence[float]) -> SeedMean:
    """Mean ± std of ``values`` and the Student-t 95 % interval of their mean."""
    x = [float(v) for v in values]
    if not x:
        raise ValueError("mean_interval needs at least one value")
    mean = sum(x) / len(x)
    if len(x) < 2:
        return SeedMean(mean, math.nan, math.nan, math.nan, 1)
    std = math.sqrt(sum((v - mean) ** 2 for v in x) / (len(x) - 1))
    half = t_quantile(len(x) - 1) * std / math.sqrt(len(x))
    return SeedMean(mean, std, mean - half, mean + half, len(x))


def ratio_interval(a: tuple[float, float, float], b: tuple[float, float, float]
                   ) -> tuple[float, float, float]:
    """``a / b`` for two (estimate, lo, hi) medians, with an approximate 95 % interval.

    Each side's interval gives a log-scale half-width below and above its estimate; the
    two are added in quadrature (independent measurements), so the ratio's interval is
    ``r · exp(∓ sqrt(da² + db²))``.
    """
    (ma, la, ha), (mb, lb, hb) = a, b
    if min(ma, la, ha, mb, lb, hb) <= 0:
        raise ValueError("medians and their interval bounds must be positive")
    ratio = ma / mb
    below = math.hypot(math.log(ma / la), math.log(hb / mb))
    above = math.hypot(math.log(ha / ma), math.log(mb / lb))
    return ratio, ratio * math.exp(-below), ratio * math.exp(above)

"""Number formatting for the report pages (Jinja2 filters): times, percentages, ratios.

One place decides how a figure looks, so tables and hover labels read the same everywhere.
A missing value (None / NaN) prints as an en dash rather than "nan".
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

MISSING = "–"

FILTERS: dict[str, Callable[..., str]] = {}


def jinja_filter(fn: Callable[..., str]) -> Callable[..., str]:
    """Register ``fn`` as a Jinja2 filter under its own name."""
    FILTERS[fn.__name__] = fn
    return fn


def is_missing(value: Any) -> bool:
    """True for None, NaN and pandas' missing markers."""
    if value is None:
        return True
    try:
        return bool(math.isnan(value))
    except (TypeError, ValueError):
        return False


def _sig(value: float, digits: int = 3) -> str:
    """``value`` with ``digits`` significant digits, no exponent for everyday magnitudes."""
    if value == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:.{decimals}f}"


@jinja_filter
def seconds(value: Any) -> str:
    """A duration in seconds as '12.3 ms', '456 µs' or '1.23 s'."""
    if is_missing(value):
        return MISSING
    v = float(value)
    if abs(v) >= 1:
        return f"{_sig(v)} s"
    if abs(v) >= 1e-3:
        return f"{_sig(v * 1e3)} ms"
    return f"{_sig(v * 1e6)} µs"


@jinja_filter
def pct(value: Any, decimals: int = 1) -> str:
    """A fraction (0.25) as a percentage ('25.0 %')."""
    if is_missing(value):
        return MISSING
    return f"{float(value) * 100:.{decimals}f} %"


@jinja_filter
def acc(value: Any, std: Any = None, n: Any = 1) -> str:
    """An accuracy already in percent, with '± std' when it is a mean over several seeds."""
    if is_missing(value):
        return MISSING
    text = f"{float(value):.2f}"
    if not is_missing(std) and not is_missing(n) and int(n) > 1:
        text += f" ± {float(std):.2f}"
    return text + " %"


@jinja_filter
def interval(lo: Any, hi: Any) -> str:
    """A 95 % interval of an accuracy in percent as '[89.41, 90.59]' (empty when unknown)."""
    if is_missing(lo) or is_missing(hi):
        return ""
    return f"[{float(lo):.2f}, {float(hi):.2f}]"


@jinja_filter
def significance_text(verdict: Any, p_value: Any) -> str:
    """A paired test's verdict with its p-value: 'worse (p = 0.003)'; an en dash if none."""
    if is_missing(verdict) or is_missing(p_value):
        return MISSING
    return f"{verdict} (p = {float(p_value):.2g})"


@jinja_filter
def times(value: Any) -> str:
    """A ratio as '2.13×'."""
    if is_missing(value):
        return MISSING
    return f"{float(value):.2f}×"


@jinja_filter
def flops(value: Any) -> str:
    """A FLOP count as '1.23 GFLOP'."""
    if is_missing(value):
        return MISSING
    v = float(value)
    for scale, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= scale:
            return f"{_sig(v / scale)} {unit}FLOP"
    return f"{_sig(v)} FLOP"


@jinja_filter
def nbytes(value: Any) -> str:
    """A byte count as '24.0 GiB'."""
    if is_missing(value):
        return MISSING
    v = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(v) < 1024:
            return f"{v:.1f} {unit}" if unit != "B" else f"{int(v)} B"
        v /= 1024
    return f"{v:.1f} TiB"


@jinja_filter
def text(value: Any) -> str:
    """Any value as text, missing values as an en dash."""
    return MISSING if is_missing(value) or value == "" else str(value)


@jinja_filter
def short(value: Any, length: int = 10) -> str:
    """The first ``length`` characters of an id or hash."""
    return MISSING if is_missing(value) else str(value)[:length]


#: Parameters shown first, in this order (docs/PATTERNS.md's notation: nm n:m, block n, cs k, d).
_KEY_ORDER = {"n": 0, "m": 1, "k": 2, "d": 3, "sparsity": 4}


def _param_text(key: str, value: Any) -> str:
    """'sparsity' as a percentage, other words bare ('layer', 'l1'), numbers as 'k=4'."""
    if key == "sparsity" and isinstance(value, int | float):
        return f"{value * 100:g}%"
    if isinstance(value, str):
        return value
    return f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"


def pattern_label(pattern: str, params_json: str | None) -> str:
    """A short, stable label for a pattern and its parameters: 'cs(k=4,d=16)',
    'unstructured(75%,layer)', 'dense'."""
    try:
        params = json.loads(params_json) if params_json else {}
    except (TypeError, ValueError):
        params = {}
    if not isinstance(params, dict) or not params:
        return pattern
    ordered = sorted(((k, v) for k, v in params.items() if v is not None),
                     key=lambda kv: (_KEY_ORDER.get(kv[0], len(_KEY_ORDER)), kv[0]))
    inner = ",".join(_param_text(k, v) for k, v in ordered)
    return f"{pattern}({inner})"

"""Number formatting for terminal output."""

from __future__ import annotations

import math

from batchspec.spec.units import format_bytes


def count(n: int, noun: str) -> str:
    """``1 batch``, ``2 batches``."""
    if n == 1:
        return f"{n:,} {noun}"
    return f"{n:,} {noun}" + ("es" if noun.endswith(("s", "sh", "ch", "x")) else "s")


def usd(value: float | None) -> str:
    """``$1,234.50``; small amounts to two significant digits (``$0.0042``); negative amounts
    (a saving that turned out a loss) as ``-$0.31``."""
    if value is None:
        return "unknown"
    if not math.isfinite(value):
        return f"${value}"
    if value < 0:
        return "-" + usd(-value)
    if value == 0:
        return "$0.00"
    if value < 0.01:  # two significant digits of a small amount: $0.0042, $0.000027
        return f"${value:.{1 - math.floor(math.log10(value))}f}"
    return f"${value:,.2f}"


__all__ = ["count", "format_bytes", "usd"]

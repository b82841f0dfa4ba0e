"""Sizes (``100MB``, ``512KiB``) and durations (``60s``, ``1h30m``, ``500ms``).

The schema's patterns decide what is well-formed; these functions turn the accepted forms into
numbers. Decimal units are powers of 1000 (a provider's "100 MB" limit is the smaller reading).
"""

from __future__ import annotations

import math
import re

SIZE_PATTERN = r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*$"
DURATION_PATTERN = r"^\s*(?:\d+(?:\.\d+)?\s*(?:ms|s|m|h|d)\s*)+$"

_SIZE_UNITS = {
    None: 1,
    "B": 1,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
}
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)")


def parse_size(value: int | str) -> int:
    """Bytes in ``value``; an integer is already bytes."""
    if isinstance(value, int):
        return value
    match = re.match(SIZE_PATTERN, value)
    if not match:
        raise ValueError(f"not a size: {value!r}")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2)])


MAX_SECONDS = 31_536_000  # a year: longer than any wait batchspec makes sense of


def parse_duration(value: int | float | str) -> float:
    """Seconds in ``value``; a number is already seconds."""
    if isinstance(value, (int, float)):
        seconds = float(value) if abs(value) <= MAX_SECONDS else math.inf
    elif not re.match(DURATION_PATTERN, value):
        raise ValueError(f"not a duration: {value!r}")
    else:
        seconds = sum(float(n) * _DURATION_UNITS[unit] for n, unit in _DURATION_PART.findall(value))
    if not seconds <= MAX_SECONDS:
        raise ValueError(f"longer than a year: {value!r}")
    if seconds <= 0:
        raise ValueError(f"not more than zero: {value!r}")
    return seconds


def format_bytes(size: int) -> str:
    for unit, factor in (("GB", 1000**3), ("MB", 1000**2), ("KB", 1000)):
        if size >= factor:
            return f"{size / factor:.1f} {unit}"
    return f"{size} B"


def format_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"

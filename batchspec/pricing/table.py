"""A model's prices (kept apart so the spec model can use it without importing the rest)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input: float
    output: float
    cached_input: float | None = None
    cache_write: float | None = None
    cache_read: float | None = None
    batch_discount: float = 0.5

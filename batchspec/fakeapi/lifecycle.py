"""Timing shared by both providers' batches.

Batches advance lazily: every look at a batch (retrieve, list, cancel) moves it to where the
server's clock says it should be, processing the requests due by then in input order. With
``duration`` D, OpenAI validates during the first 10% of D, processes during the next 80% and
finalizes in the last 10%; Anthropic processes during all of D. Cancelling takes 10% of D.
With D = 0 a batch is finished by the first look after it was created.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from .config import FaultConfig

PHASE_SHARE = 0.1


def elapsed_share(now: float, start: float, duration: float) -> float:
    if duration <= 0:
        return 1.0
    return min(1.0, max(0.0, (now - start) / duration))


@dataclass
class Interruption:
    """Where a batch-level fault stops processing: after ``at`` requests, by ``reason``."""

    at: int
    reason: str | None  # "cancel", "expire" or None


def interruption(total: int, faults: FaultConfig, active: bool) -> Interruption:
    if active and faults.cancel_after_fraction is not None:
        return Interruption(math.floor(total * faults.cancel_after_fraction), "cancel")
    if active and faults.expire_after_fraction is not None:
        return Interruption(math.floor(total * faults.expire_after_fraction), "expire")
    return Interruption(total, None)


def due(total: int, share: float) -> int:
    return total if share >= 1.0 else math.floor(total * share)


def shuffle(lines: list[bytes], seed: int, batch_id: str) -> list[bytes]:
    """Results come back in no particular order, as the providers document; deterministically."""
    random.Random(f"{seed}:{batch_id}").shuffle(lines)
    return lines


def jsonl(lines: list[bytes]) -> bytes:
    return b"".join(line + b"\n" for line in lines)

"""Deterministic choice of which request gets which fault.

A fault is drawn from a uniform number derived by hashing (seed, purpose, key, attempt), where
the key is the request's ``custom_id`` (or a hash of a sync body) and the attempt counts how
often this server has been sent that key. Rates of the kinds are stacked on [0, 1), so the
share of requests hit by each kind matches its rate.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Mapping

from .config import FaultConfig

PERMANENT_KINDS = ("context_length", "content_policy")


def unit(*parts: object) -> float:
    """A stable number in [0, 1) for the given parts."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def draw(rates: Mapping[str, float], u: float) -> str | None:
    total = 0.0
    for kind, rate in rates.items():
        total += rate
        if u < total:
            return kind
    return None


class Attempts:
    """How many times each (provider, key) has been submitted to this server."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def next(self, provider: str, key: str) -> int:
        with self._lock:
            self._counts[(provider, key)] += 1
            return self._counts[(provider, key)]

    def next_many(self, provider: str, keys: list[str]) -> list[int]:
        with self._lock:
            out = []
            for key in keys:
                self._counts[(provider, key)] += 1
                out.append(self._counts[(provider, key)])
            return out


def first_try(faults: FaultConfig, attempt: int) -> bool:
    return attempt <= 1 or not faults.retry_succeeds


def request_fault(faults: FaultConfig, rates: Mapping[str, float], key: str, attempt: int, body_sha: str) -> str | None:
    """The fault kind for one request, or None."""
    permanent = {k: rates[k] for k in PERMANENT_KINDS if rates.get(k)}
    transient = {k: r for k, r in rates.items() if r and k not in PERMANENT_KINDS}
    if permanent:
        if faults.sticky_permanent:
            kind = draw(permanent, unit(faults.seed, "permanent", key, body_sha))
        elif first_try(faults, attempt):
            kind = draw(permanent, unit(faults.seed, "permanent", key, attempt))
        else:
            kind = None
        if kind:
            return kind
    if transient and first_try(faults, attempt):
        # A separate draw per attempt, so a re-sent request gets a fresh chance.
        return draw(transient, unit(faults.seed, "transient", key, attempt))
    return None


def line_damage(faults: FaultConfig, custom_id: str, attempt: int) -> str | None:
    """ "missing" or "malformed" for a result line, or None."""
    if not (faults.missing_rate or faults.malformed_rate) or not first_try(faults, attempt):
        return None
    rates = {"missing": faults.missing_rate, "malformed": faults.malformed_rate}
    return draw(rates, unit(faults.seed, "damage", custom_id, attempt))


def slow(faults: FaultConfig, key: str, attempt: int) -> bool:
    return bool(faults.sync_slow_rate) and (unit(faults.seed, "slow", key, attempt) < faults.sync_slow_rate)

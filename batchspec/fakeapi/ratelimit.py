"""Sync-endpoint rate limits as token buckets, reported with each provider's headers.

A bucket holds up to ``limit`` units and refills at ``limit / 60`` per second, which is how both
providers describe their per-minute limits. OpenAI charges prompt tokens plus the requested
output budget up front; Anthropic charges input tokens and reserves ``max_tokens`` of output,
refunding the unused part once the answer is known.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

from .wire import rfc3339


class Bucket:
    def __init__(self, limit: int, now: float) -> None:
        self.limit = limit
        self.level = float(limit)
        self.stamp = now

    def refill(self, now: float, limit: int) -> None:
        if limit != self.limit:  # the config changed at run time: start over at the new limit
            self.limit, self.level = limit, float(limit)
        elapsed = max(0.0, now - self.stamp)
        self.level = min(float(self.limit), self.level + elapsed * self.limit / 60.0)
        self.stamp = now

    def wait_for(self, amount: float) -> float:
        """Seconds until ``amount`` is available (0 when it already is)."""
        if self.level >= amount:
            return 0.0
        return (amount - self.level) * 60.0 / max(self.limit, 1)

    def time_to_full(self) -> float:
        return (self.limit - self.level) * 60.0 / max(self.limit, 1)

    @property
    def remaining(self) -> int:
        return max(0, math.floor(self.level))


@dataclass
class Rejection:
    dimension: str  # "requests", "tokens", "input_tokens", "output_tokens"
    limit: int
    used: int
    requested: int
    retry_after: float  # seconds; inf when the request can never fit


class Limiter:
    """The buckets of one provider; ``names`` maps a dimension to its configured limit."""

    def __init__(self, limits: Callable[[], dict[str, int]], clock: Callable[[], float]) -> None:
        self._limits = limits
        self._clock = clock
        self._lock = threading.Lock()
        now = clock()
        self._buckets = {name: Bucket(limit, now) for name, limit in limits().items()}

    def _refresh(self) -> None:
        now = self._clock()
        for name, limit in self._limits().items():
            self._buckets[name].refill(now, limit)

    def acquire(self, amounts: dict[str, int]) -> Rejection | None:
        """Take ``amounts`` from the buckets, or nothing and say which one ran short."""
        with self._lock:
            self._refresh()
            for name, amount in amounts.items():
                bucket = self._buckets[name]
                if amount > bucket.limit:
                    return Rejection(name, bucket.limit, 0, amount, math.inf)
                wait = bucket.wait_for(amount)
                if wait > 0:
                    used = bucket.limit - bucket.remaining
                    return Rejection(name, bucket.limit, used, amount, wait)
            for name, amount in amounts.items():
                self._buckets[name].level -= amount
            return None

    def refund(self, name: str, amount: int) -> None:
        with self._lock:
            bucket = self._buckets[name]
            bucket.level = min(float(bucket.limit), bucket.level + amount)

    def snapshot(self) -> dict[str, tuple[int, int, float]]:
        """(limit, remaining, seconds until full) per dimension."""
        with self._lock:
            self._refresh()
            return {name: (b.limit, b.remaining, b.time_to_full()) for name, b in self._buckets.items()}


def go_duration(seconds: float) -> str:
    """OpenAI's reset format, Go's ``time.Duration`` string: ``12ms``, ``1.5s``, ``6m0s``."""
    ms = round(seconds * 1000)
    if ms <= 0:
        return "0s"
    if ms < 1000:
        return f"{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs = f"{rest / 1000:.3f}".rstrip("0").rstrip(".")
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def openai_headers(snapshot: dict[str, tuple[int, int, float]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name in ("requests", "tokens"):
        limit, remaining, reset = snapshot[name]
        headers[f"x-ratelimit-limit-{name}"] = str(limit)
        headers[f"x-ratelimit-remaining-{name}"] = str(remaining)
        headers[f"x-ratelimit-reset-{name}"] = go_duration(reset)
    return headers


def anthropic_headers(snapshot: dict[str, tuple[int, int, float]], now: float) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name in ("requests", "input_tokens", "output_tokens"):
        limit, remaining, reset = snapshot[name]
        prefix = "anthropic-ratelimit-" + name.replace("_", "-")
        headers[prefix + "-limit"] = str(limit)
        headers[prefix + "-remaining"] = str(remaining)
        headers[prefix + "-reset"] = rfc3339(now + reset)
    # The combined "tokens" headers report the most restrictive of input and output.
    tightest = min(("input_tokens", "output_tokens"), key=lambda n: snapshot[n][1])
    limit, remaining, reset = snapshot[tightest]
    headers["anthropic-ratelimit-tokens-limit"] = str(limit)
    headers["anthropic-ratelimit-tokens-remaining"] = str(remaining)
    headers["anthropic-ratelimit-tokens-reset"] = rfc3339(now + reset)
    return headers


def retry_after_headers(seconds: float) -> dict[str, str]:
    return {
        "retry-after": str(max(1, math.ceil(seconds))),
        "retry-after-ms": str(max(1, math.ceil(seconds * 1000))),
    }

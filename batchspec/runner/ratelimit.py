"""Client-side rate limiting for sync mode: token buckets for requests and tokens per minute.

Our own rather than aiolimiter's leaky bucket because three things are needed that it lacks:
giving back tokens when a response's usage shows the estimate was too high, lowering the level
to what the provider's ``x-ratelimit-remaining-*`` headers report, and pausing every request at
once after a 429 (the whole pipeline slows down, not just the request that hit the limit).
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime

BURST_SECONDS = 1.0  # providers enforce per-minute limits over short windows: send smoothly


class TokenBucket:
    """``per_minute`` units refill continuously; at most ``BURST_SECONDS`` worth is saved up."""

    def __init__(self, per_minute: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0 if per_minute else None
        self.capacity = max(self.rate * BURST_SECONDS, 1.0) if self.rate else 0.0
        self.level = self.capacity
        self.clock = clock
        self.stamp = clock()

    def _refill(self) -> None:
        now = self.clock()
        if self.rate:
            self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_time(self, amount: float) -> float:
        """Seconds until ``amount`` can be taken (an amount above capacity waits for a full bucket)."""
        if not self.rate:
            return 0.0
        self._refill()
        need = min(amount, self.capacity) - self.level
        return max(need / self.rate, 0.0)

    def take(self, amount: float) -> None:
        if self.rate:
            self._refill()
            self.level -= amount  # may go negative: a big request is paid back before the next

    def give_back(self, amount: float) -> None:
        if self.rate:
            self._refill()
            self.level = min(self.capacity, self.level + amount)

    def observe_remaining(self, remaining: float) -> None:
        """The provider says only ``remaining`` are left: never believe we have more."""
        if self.rate:
            self._refill()
            self.level = min(self.level, remaining)


class Limiter:
    """Requests and tokens per minute, plus a shared pause after rate-limit answers."""

    def __init__(self, requests_per_minute: int | None, tokens_per_minute: int | None) -> None:
        self.requests = TokenBucket(requests_per_minute)
        self.tokens = TokenBucket(tokens_per_minute)
        self.paused_until = 0.0
        self.paused_seconds = 0.0  # how long every request was held, in all (pauses overlap: counted once)
        self.backoffs = 0  # consecutive rate-limit answers
        self._lock = asyncio.Lock()

    async def acquire(self, tokens: int) -> None:
        async with self._lock:  # one waiter at a time keeps the order fair and the rate exact
            while True:
                pause = self.paused_until - time.monotonic()
                wait = max(pause, self.requests.wait_time(1), self.tokens.wait_time(tokens))
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
            self.requests.take(1)
            self.tokens.take(tokens)

    def settle(self, estimated: int, actual: int) -> None:
        """Correct the token bucket once the response's usage is known."""
        if actual < estimated:
            self.tokens.give_back(estimated - actual)
        else:
            self.tokens.take(actual - estimated)

    def succeeded(self) -> None:
        self.backoffs = 0

    def rate_limited(self, retry_after: float | None) -> float:
        """Pause everyone: for ``retry_after`` if the provider said, else exponential backoff with jitter."""
        self.backoffs += 1
        backoff = min(60.0, 0.5 * 2 ** (self.backoffs - 1)) * random.uniform(0.5, 1.0)
        delay = retry_after if retry_after else backoff  # "retry-after: 0" is no reason to hammer
        self.pause_until(time.monotonic() + delay)
        return delay

    def pause_until(self, moment: float) -> None:
        """Hold every request until ``moment`` (monotonic), counting only what extends the pause."""
        now = time.monotonic()
        if moment > self.paused_until:
            self.paused_seconds += moment - max(self.paused_until, now)
            self.paused_until = moment

    def paused_for(self) -> float:
        """Seconds left of the current pause (0 when not paused)."""
        return max(self.paused_until - time.monotonic(), 0.0)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Adopt what the provider's rate-limit headers say is left, and pause until a reset at 0."""
        for kind, bucket in (("requests", self.requests), ("tokens", self.tokens)):
            remaining = _number(
                headers.get(f"x-ratelimit-remaining-{kind}") or headers.get(f"anthropic-ratelimit-{kind}-remaining")
            )
            if remaining is None:
                continue
            bucket.observe_remaining(remaining)
            if remaining <= 0:
                reset = parse_reset(
                    headers.get(f"x-ratelimit-reset-{kind}") or headers.get(f"anthropic-ratelimit-{kind}-reset")
                )
                if reset:
                    self.pause_until(time.monotonic() + reset)


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_reset(value: str | None) -> float | None:
    """Seconds until a reset: OpenAI's ``6m0s`` / ``12ms`` or Anthropic's RFC 3339 timestamp."""
    if not value:
        return None
    parts = _DURATION.findall(value)
    if parts and "".join(n + u for n, u in parts) == value.replace(" ", ""):
        scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
        return sum(float(n) * scale[u] for n, u in parts)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return _number(value)
    return max(moment.timestamp() - time.time(), 0.0)

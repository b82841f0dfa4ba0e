"""Prompt caching as both providers bill it, on the server's clock.

A request is cut into components in the order the provider reads them (Anthropic: tools, system
blocks, message blocks; OpenAI: messages) and a running hash gives every prefix an identity tied
to the model. Token counts follow ``batchspec.tokens.request_tokens`` exactly, so cached and
uncached parts always add up to the estimate.

- Anthropic: the prefixes ending at blocks marked ``cache_control`` (or the last block when the
  top-level ``cache_control`` is set) are breakpoints. The longest live one is read; the tokens
  after it up to the last breakpoint are written with that breakpoint's ttl (5m or 1h).
- OpenAI: automatic; every prefix of whole messages is remembered, and a request reads the
  longest one seen before, rounded down to a multiple of 128 tokens.

Prefixes shorter than ``min_tokens`` (1024 by default, as both providers document) never cache.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from batchspec.providers.rules import count_cache_controls
from batchspec.tokens import MESSAGE_OVERHEAD, content_texts, text_tokens

TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}
MAX_BREAKPOINTS = 4


@dataclass
class Breakpoint:
    tokens: int  # tokens of the prefix ending here
    digest: bytes
    ttl: float


@dataclass
class AnthropicCacheUsage:
    read: int = 0
    created_5m: int = 0
    created_1h: int = 0

    @property
    def created(self) -> int:
        return self.created_5m + self.created_1h


def _canonical(obj: Any) -> bytes:
    if isinstance(obj, Mapping) and "cache_control" in obj:
        obj = {k: v for k, v in obj.items() if k != "cache_control"}
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)


def _ttl(cache_control: Any) -> float:
    ttl = cache_control.get("ttl", "5m") if isinstance(cache_control, Mapping) else "5m"
    return TTL_SECONDS.get(ttl, 300.0)


def _block_tokens(block: Any) -> int:
    return sum(text_tokens(t) for t in content_texts([block]))


class _Prefixes:
    """A running hash and token count over the components of a request."""

    def __init__(self, namespace: str) -> None:
        self.hash = hashlib.blake2b(namespace.encode(), digest_size=16)
        self.tokens = 0
        self.breakpoints: list[Breakpoint] = []

    def feed(self, component: Any, tokens: int, cache_control: Any = None) -> None:
        self.hash.update(_canonical(component))
        self.tokens += tokens
        if cache_control:
            self.mark(_ttl(cache_control))

    def mark(self, ttl: float) -> None:
        self.breakpoints.append(Breakpoint(self.tokens, self.hash.copy().digest(), ttl))


def anthropic_breakpoints(body: Mapping[str, Any], model: str) -> list[Breakpoint]:
    prefixes = _Prefixes("anthropic\x1f" + model)
    for tool in body.get("tools") or []:
        # request_tokens does not count tool definitions, so neither does the cache.
        prefixes.feed(tool, 0, tool.get("cache_control") if isinstance(tool, Mapping) else None)
    system = body.get("system")
    if system:
        if isinstance(system, list):
            for i, block in enumerate(system):
                overhead = MESSAGE_OVERHEAD if i == 0 else 0
                cc = block.get("cache_control") if isinstance(block, Mapping) else None
                prefixes.feed(block, overhead + _block_tokens(block), cc)
        else:
            prefixes.feed(system, MESSAGE_OVERHEAD + sum(map(text_tokens, content_texts(system))))
    for message in body.get("messages") or []:
        if not isinstance(message, Mapping):
            continue
        content = message.get("content")
        prefixes.feed(message.get("role"), MESSAGE_OVERHEAD)
        if isinstance(content, list):
            for block in content:
                cc = block.get("cache_control") if isinstance(block, Mapping) else None
                prefixes.feed(block, _block_tokens(block), cc)
        else:
            prefixes.feed(content, sum(map(text_tokens, content_texts(content))))
    auto = body.get("cache_control")
    if auto and (not prefixes.breakpoints or prefixes.breakpoints[-1].tokens != prefixes.tokens):
        prefixes.mark(_ttl(auto))
    return prefixes.breakpoints


def openai_breakpoints(body: Mapping[str, Any], model: str, ttl: float) -> list[Breakpoint]:
    key = body.get("prompt_cache_key")
    prefixes = _Prefixes(f"openai\x1f{model}\x1f{key if isinstance(key, str) else ''}")
    for message in body.get("messages") or []:
        if isinstance(message, Mapping):
            texts = content_texts(message.get("content"))
            prefixes.feed(message, MESSAGE_OVERHEAD + sum(map(text_tokens, texts)))
            prefixes.mark(ttl)
    return prefixes.breakpoints


class PromptCache:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._expiry: dict[bytes, float] = {}
        self._lock = threading.Lock()
        self._writes = 0

    def clear(self) -> None:
        with self._lock:
            self._expiry.clear()

    def _lookup_store(self, breakpoints: list[Breakpoint]) -> tuple[int, int]:
        """Index of the longest live breakpoint (-1: none); then remember them all."""
        now = self._clock()
        hit = -1
        for i in range(len(breakpoints) - 1, -1, -1):
            if self._expiry.get(breakpoints[i].digest, 0.0) > now:
                hit = i
                break
        for bp in breakpoints:  # writes, and reads refresh the lifetime
            self._expiry[bp.digest] = max(self._expiry.get(bp.digest, 0.0), now + bp.ttl)
        self._writes += len(breakpoints)
        if self._writes > 50_000:
            self._writes = 0
            self._expiry = {k: v for k, v in self._expiry.items() if v > now}
        return hit, len(breakpoints)

    def anthropic(self, body: Mapping[str, Any], model: str, min_tokens: int) -> AnthropicCacheUsage:
        if not body.get("cache_control") and not count_cache_controls(body):
            return AnthropicCacheUsage()
        points = [bp for bp in anthropic_breakpoints(body, model) if bp.tokens >= min_tokens]
        if not points:
            return AnthropicCacheUsage()
        with self._lock:
            hit, _ = self._lookup_store(points)
        usage = AnthropicCacheUsage(read=points[hit].tokens if hit >= 0 else 0)
        previous = usage.read
        for bp in points[hit + 1 :]:
            if bp.ttl >= TTL_SECONDS["1h"]:
                usage.created_1h += bp.tokens - previous
            else:
                usage.created_5m += bp.tokens - previous
            previous = bp.tokens
        return usage

    def openai(self, body: Mapping[str, Any], model: str, total: int, min_tokens: int, ttl: float) -> int:
        """Cached prompt tokens for an OpenAI request of ``total`` prompt tokens."""
        if total < min_tokens:
            return 0
        points = [bp for bp in openai_breakpoints(body, model, ttl) if bp.tokens >= min_tokens]
        if not points:
            return 0
        with self._lock:
            hit, _ = self._lookup_store(points)
        if hit < 0:
            return 0
        return min(points[hit].tokens // 128 * 128, total)

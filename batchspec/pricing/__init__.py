"""The price table, the cost of a usage record, and estimates before anything is submitted.

Prices live in ``prices.json`` (USD per million tokens, synchronous prices) and the spec's
``pricing:`` block overrides or extends them. A model with no price has an unknown cost (None),
never a cost of 0.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

from batchspec.pricing.table import Price

if TYPE_CHECKING:
    from batchspec.spec.model import ModelSpec

MILLION = 1_000_000


@dataclass(frozen=True)
class Usage:
    """Tokens of one result. ``input_tokens`` is the whole prompt, cached parts included."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0  # OpenAI cached_tokens, Anthropic cache_read_input_tokens
    cache_write_tokens: int = 0  # Anthropic cache_creation_input_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
        )


@cache
def builtin_prices() -> dict[str, Price]:
    text = resources.files("batchspec.pricing").joinpath("prices.json").read_text("utf-8")
    return {name: Price(**fields) for name, fields in json.loads(text)["models"].items()}


# A dated snapshot of a model: gpt-4o-mini-2024-07-18 (OpenAI), claude-sonnet-4-5-20250929 (Anthropic).
_SNAPSHOT = re.compile(r"(.+)-(?:\d{4}-\d{2}-\d{2}|\d{8})")


def price_of(model: ModelSpec, overrides: Mapping[str, Price] | None = None) -> Price | None:
    """The price of a spec's model; the built-in table only where the provider's prices are the
    public list prices (Azure's vary by region and agreement: only the spec's ``pricing:`` counts)."""
    return price_for(model.name, overrides, builtin=_builtin_applies(model))


def nearest_priced_for(model: ModelSpec, overrides: Mapping[str, Price] | None = None) -> list[str]:
    return nearest_priced(model.name, overrides, builtin=_builtin_applies(model))


def _builtin_applies(model: ModelSpec) -> bool:
    from batchspec.providers import get_provider  # the registry imports this module

    return get_provider(model.provider).builtin_prices


def price_for(model: str, overrides: Mapping[str, Price] | None = None, *, builtin: bool = True) -> Price | None:
    """The price of ``model``: an override or the table's, by exact name or as a dated snapshot
    of a listed name (``gpt-4o-mini-2024-07-18`` → ``gpt-4o-mini``); None when unknown. Never by
    prefix alone: ``gpt-4o-mni`` is not ``gpt-4o``."""
    snapshot = _SNAPSHOT.fullmatch(model)
    for table in (overrides or {}, builtin_prices() if builtin else {}):
        if model in table:
            return table[model]
        if snapshot and snapshot.group(1) in table:
            return table[snapshot.group(1)]
    return None


def nearest_priced(
    model: str, overrides: Mapping[str, Price] | None = None, n: int = 3, *, builtin: bool = True
) -> list[str]:
    """The priced model names closest to ``model`` (for "did you mean")."""
    names = sorted({*(builtin_prices() if builtin else ()), *(overrides or {})})
    return difflib.get_close_matches(model, names, n=n, cutoff=0.6)


def cost(usage: Usage, price: Price, *, batch: bool, ttl: str = "5m") -> float:
    """What the provider bills for ``usage``."""
    read_price = price.cache_read if price.cache_read is not None else price.cached_input
    if read_price is None:
        read_price = price.input
    write_price = price.cache_write if price.cache_write is not None else price.input * 1.25
    if ttl == "1h":
        write_price = price.input * 2
    uncached = max(usage.input_tokens - usage.cache_read_tokens - usage.cache_write_tokens, 0)
    total = (
        uncached * price.input
        + usage.cache_read_tokens * read_price
        + usage.cache_write_tokens * write_price
        + usage.output_tokens * price.output
    ) / MILLION
    return total * price.batch_discount if batch else total


def uncached_sync_cost(usage: Usage, price: Price) -> float:
    """What the same tokens would cost as synchronous requests without any caching."""
    return (usage.input_tokens * price.input + usage.output_tokens * price.output) / MILLION


MIN_CACHEABLE_TOKENS = 1024  # shorter prefixes are not cached by either provider
OPENAI_CACHE_STEP = 128  # OpenAI caches prefixes in steps of 128 tokens


def expected_usage(
    input_tokens: int,
    output_tokens: int,
    prefixes: list[tuple[int, int]],
    *,
    wire: str,
    prompt_caching: bool,
    batches: int,
) -> Usage:
    """The usage a planned workload should bill, prompt caching included. ``prefixes`` holds
    (requests, tokens) per shared stable prefix. Anthropic caches only marked prefixes (a write per
    batch, reads after it); OpenAI caches any repeated prefix of 1024+ tokens by itself."""
    reads = writes = 0
    for requests, tokens in prefixes:
        if tokens < MIN_CACHEABLE_TOKENS:
            continue
        if wire == "anthropic":
            if prompt_caching:
                first = min(requests, max(batches, 1))
                writes += first * tokens
                reads += (requests - first) * tokens
        else:
            reads += (requests - 1) * (tokens // OPENAI_CACHE_STEP * OPENAI_CACHE_STEP)
    return Usage(input_tokens, output_tokens, reads, writes)

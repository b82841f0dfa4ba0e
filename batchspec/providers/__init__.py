"""The provider registry: the one list of providers the schema, the CLI and the runner use."""

from __future__ import annotations

from typing import TYPE_CHECKING

from batchspec.providers.anthropic import AnthropicProvider
from batchspec.providers.base import BatchClient, BatchError, BatchInfo, BatchLimits, Provider, RenderedMessage
from batchspec.providers.fake import FakeProvider
from batchspec.providers.openai import OpenAIProvider
from batchspec.providers.openai_embeddings import OpenAIEmbeddingsProvider

if TYPE_CHECKING:
    from batchspec.spec.model import ModelSpec

PROVIDERS: dict[str, Provider] = {p.name: p for p in (OpenAIProvider(), AnthropicProvider(), FakeProvider())}


def provider_names() -> tuple[str, ...]:
    return tuple(PROVIDERS)


def get_provider(name: str) -> Provider:
    return PROVIDERS[name]


_EMBEDDINGS = OpenAIEmbeddingsProvider()


def provider_for(model: ModelSpec) -> Provider:
    """The adapter for ``model``: its provider's, or OpenAI's embeddings one for ``endpoint: embeddings``."""
    if model.endpoint == "embeddings" and model.provider == "openai":
        return _EMBEDDINGS
    return PROVIDERS[model.provider]


__all__ = [
    "PROVIDERS",
    "BatchClient",
    "BatchError",
    "BatchInfo",
    "BatchLimits",
    "Provider",
    "RenderedMessage",
    "get_provider",
    "provider_for",
    "provider_names",
]

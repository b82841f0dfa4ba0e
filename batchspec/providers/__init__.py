"""The provider registry: the one list of providers the schema, the CLI and the runner use."""

from __future__ import annotations

from typing import TYPE_CHECKING

from batchspec.providers.anthropic import AnthropicProvider
from batchspec.providers.azure import AzureProvider
from batchspec.providers.base import BatchClient, BatchError, BatchInfo, BatchLimits, Provider, RenderedMessage
from batchspec.providers.fake import FakeProvider
from batchspec.providers.openai import OpenAIProvider
from batchspec.providers.openai_embeddings import OpenAIEmbeddingsProvider
from batchspec.providers.openai_responses import OpenAIResponsesProvider

if TYPE_CHECKING:
    from batchspec.spec.model import ModelSpec

PROVIDERS: dict[str, Provider] = {
    p.name: p for p in (OpenAIProvider(), AnthropicProvider(), AzureProvider(), FakeProvider())
}


def provider_names() -> tuple[str, ...]:
    return tuple(PROVIDERS)


def provider_spec_keys() -> frozenset[str]:
    """Every model key that only some providers take (azure_endpoint, ...)."""
    return frozenset().union(*(p.spec_keys for p in PROVIDERS.values()))


def get_provider(name: str) -> Provider:
    return PROVIDERS[name]


ENDPOINTS: dict[str, Provider] = {"embeddings": OpenAIEmbeddingsProvider(), "responses": OpenAIResponsesProvider()}


def provider_for(model: ModelSpec) -> Provider:
    """The adapter for ``model``: its provider's, or OpenAI's for ``endpoint: embeddings | responses``."""
    if model.provider == "openai" and model.endpoint in ENDPOINTS:
        return ENDPOINTS[model.endpoint]
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
    "provider_spec_keys",
]

"""What every provider adapter provides: request format, limits and (for running) a client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from batchspec.spec.model import CacheSpec, ModelSpec


@dataclass(frozen=True)
class RenderedMessage:
    role: str  # system | user | assistant
    content: str
    cache: bool = False  # end of the stable prefix to mark for prompt caching


@dataclass(frozen=True)
class BatchLimits:
    max_requests: int  # conservative default (REFERENCE.md)
    max_bytes: int
    hard_max_requests: int  # the provider's documented maximum; a spec may not exceed it
    hard_max_bytes: int


class Provider(Protocol):
    name: str
    wire: str  # the API dialect: "openai" or "anthropic"
    default_api_key_env: str | None
    limits: BatchLimits
    known_params: frozenset[str]
    required_params: frozenset[str]
    batch_file_suffix: str  # how `plan --emit` names a batch payload file

    def build_body(
        self, model: ModelSpec, messages: tuple[RenderedMessage, ...], cache: CacheSpec
    ) -> dict[str, Any]:
        """The exact synchronous request body for one record."""
        ...

    def batch_entry(self, custom_id: str, body_json: bytes) -> bytes:
        """One request of a batch payload, as JSON bytes (``body_json`` is the body's JSON)."""
        ...

    def batch_payload(self, entries: list[bytes]) -> bytes:
        """The whole batch payload as the provider receives it."""
        ...

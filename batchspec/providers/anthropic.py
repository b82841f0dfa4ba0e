"""Anthropic: Messages requests and Message Batches."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, BinaryIO

from batchspec.providers.base import BatchClient, BatchLimits, RenderedMessage, SyncClient
from batchspec.providers.credentials import api_key
from batchspec.providers.structured import translate
from batchspec.spec.model import CacheSpec, ModelSpec

KNOWN_PARAMS = frozenset(
    [
        "container",
        "inference_geo",
        "max_tokens",
        "metadata",
        "output_config",
        "service_tier",
        "speed",
        "stop_sequences",
        "thinking",
        "tool_choice",
        "tools",
    ]
)


class AnthropicProvider:
    name = "anthropic"
    wire = "anthropic"
    default_api_key_env: str | None = "ANTHROPIC_API_KEY"
    limits = BatchLimits(
        max_requests=10_000, max_bytes=256_000_000, hard_max_requests=100_000, hard_max_bytes=256_000_000
    )
    known_params = KNOWN_PARAMS
    required_params = frozenset({"max_tokens"})
    ephemeral = False  # batches outlive this process
    spec_keys: frozenset[str] = frozenset()
    builtin_prices = True
    batch_file_suffix = ".json"

    def build_body(
        self, model: ModelSpec, messages: tuple[RenderedMessage, ...], cache: CacheSpec, *, cache_key: str | None
    ) -> dict[str, Any]:
        marker = {"type": "ephemeral", "ttl": cache.ttl} if cache.prompt_caching else None
        system = [m for m in messages if m.role == "system"]
        chat = [m for m in messages if m.role != "system"]
        # With caching on and no explicit mark, the system prompt is the stable prefix.
        marked = any(m.cache for m in messages)
        body: dict[str, Any] = {"model": model.name}
        if system:
            blocks = []
            for i, m in enumerate(system):
                block: dict[str, Any] = {"type": "text", "text": m.content}
                last = i == len(system) - 1
                if marker and (m.cache or (not marked and last)):
                    block["cache_control"] = marker
                blocks.append(block)
            body["system"] = blocks
        body["messages"] = [_message(m, marker) for m in chat]
        body.update(model.params)
        if model.response_schema is not None:
            given = dict(body.get("output_config") or {})  # e.g. effort: keep it
            body["output_config"] = {**given, "format": translate("anthropic", model.response_schema).body}
        body.update(model.extra_params)
        return body

    def require_credentials(self, model: ModelSpec) -> None:
        api_key(self.name, model.api_key_env, model.base_url)

    def batch_client(self, model: ModelSpec, job: str, *, probe: bool = False) -> BatchClient:
        from batchspec.providers.anthropic_batch import AnthropicBatchClient

        return AnthropicBatchClient(model, job, probe=probe)

    def sync_client(self, model: ModelSpec, *, timeout: float) -> SyncClient:
        from batchspec.providers.anthropic_sync import AnthropicSyncClient

        return AnthropicSyncClient(model, timeout=timeout)

    def batch_entry(self, custom_id: str, body_json: bytes) -> bytes:
        # custom_id is [A-Za-z0-9_-] only, so it needs no JSON escaping.
        return b'{"custom_id":"' + custom_id.encode() + b'","params":' + body_json + b"}"

    def write_batch_payload(self, out: BinaryIO, entries: Iterable[bytes]) -> None:
        out.write(b'{"requests":[')  # the create call's body; the SDK sends the same list
        separator = b""
        for entry in entries:
            out.write(separator)
            out.write(entry)
            separator = b",\n"
        out.write(b"]}\n")


def _message(message: RenderedMessage, marker: dict[str, str] | None) -> dict[str, Any]:
    if marker and message.cache:
        block = {"type": "text", "text": message.content, "cache_control": marker}
        return {"role": message.role, "content": [block]}
    return {"role": message.role, "content": message.content}

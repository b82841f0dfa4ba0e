"""OpenAI (and OpenAI-compatible servers): chat completions requests and the Batch API."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, BinaryIO

from batchspec.providers.base import BatchClient, BatchLimits, RenderedMessage, SyncClient
from batchspec.providers.credentials import api_key
from batchspec.providers.rules import apply_renames, rules_for
from batchspec.providers.structured import translate
from batchspec.spec.model import CacheSpec, ModelSpec

CHAT_COMPLETIONS = "/v1/chat/completions"
_ENTRY_MIDDLE = f'","method":"POST","url":"{CHAT_COMPLETIONS}","body":'.encode()  # a batch line, after the custom_id

# Chat completions body fields a spec may set in `params` (streaming cannot be batched).
KNOWN_PARAMS = frozenset(
    [
        "audio",
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "metadata",
        "modalities",
        "n",
        "parallel_tool_calls",
        "prediction",
        "presence_penalty",
        "prompt_cache_key",
        "prompt_cache_retention",
        "reasoning_effort",
        "response_format",
        "safety_identifier",
        "seed",
        "service_tier",
        "stop",
        "store",
        "temperature",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "user",
        "verbosity",
        "web_search_options",
    ]
)


class OpenAIProvider:
    name = "openai"
    wire = "openai"
    default_api_key_env: str | None = "OPENAI_API_KEY"
    limits = BatchLimits(
        max_requests=50_000, max_bytes=100_000_000, hard_max_requests=50_000, hard_max_bytes=200_000_000
    )
    known_params = KNOWN_PARAMS
    required_params: frozenset[str] = frozenset()
    ephemeral = False  # batches outlive this process
    spec_keys: frozenset[str] = frozenset()
    builtin_prices = True
    batch_file_suffix = ".jsonl"

    def build_body(
        self, model: ModelSpec, messages: tuple[RenderedMessage, ...], cache: CacheSpec, *, cache_key: str | None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": model.name,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
        }
        body.update(model.params)
        if cache.prompt_caching and cache_key and self.routes_by_cache_key(model) and "prompt_cache_key" not in body:
            # Requests sharing a prefix go to the same cache (OpenAI routes by this key).
            body["prompt_cache_key"] = cache_key
        if model.response_schema is not None:
            body["response_format"] = translate("openai", model.response_schema).body
        body.update(model.extra_params)
        return apply_renames(body, rules_for(self.wire, model.name))  # max_tokens for reasoning models

    def routes_by_cache_key(self, model: ModelSpec) -> bool:
        """OpenAI's own API takes prompt_cache_key; other OpenAI-compatible servers may refuse it."""
        return model.base_url is None or "api.openai.com" in model.base_url

    def require_credentials(self, model: ModelSpec) -> None:
        api_key(self.name, model.api_key_env, model.base_url)

    def batch_client(self, model: ModelSpec, job: str, *, probe: bool = False) -> BatchClient:
        from batchspec.providers.openai_batch import OpenAIBatchClient

        return OpenAIBatchClient(model, job, endpoint=CHAT_COMPLETIONS, probe=probe)

    def sync_client(self, model: ModelSpec, *, timeout: float) -> SyncClient:
        from batchspec.providers.openai_sync import OpenAISyncClient

        return OpenAISyncClient(model, timeout=timeout)

    def batch_entry(self, custom_id: str, body_json: bytes) -> bytes:
        # custom_id is [A-Za-z0-9_-] only, so it needs no JSON escaping.
        return b'{"custom_id":"' + custom_id.encode() + _ENTRY_MIDDLE + body_json + b"}"

    def write_batch_payload(self, out: BinaryIO, entries: Iterable[bytes]) -> None:
        for entry in entries:  # JSON Lines
            out.write(entry)
            out.write(b"\n")

"""OpenAI Responses API (``model.endpoint: responses``): system messages become ``instructions``,
the others ``input`` items; the answer is the concatenated output text."""

from __future__ import annotations

from typing import Any

from batchspec.outcomes import ERRORED, SUCCEEDED, Outcome
from batchspec.pricing import Usage
from batchspec.providers.base import BatchClient, RenderedMessage, SyncClient
from batchspec.providers.openai import OpenAIProvider
from batchspec.providers.structured import translate
from batchspec.spec.model import CacheSpec, ModelSpec

RESPONSES = "/v1/responses"
_ENTRY_MIDDLE = f'","method":"POST","url":"{RESPONSES}","body":'.encode()

# ResponseCreateParams a spec may set (not input/instructions/model, which batchspec writes, nor
# streaming, background or conversation state, which a batch of independent requests cannot use).
KNOWN_PARAMS = frozenset(
    [
        "include",
        "max_output_tokens",
        "max_tool_calls",
        "metadata",
        "parallel_tool_calls",
        "prompt_cache_key",
        "prompt_cache_retention",
        "reasoning",
        "safety_identifier",
        "service_tier",
        "store",
        "temperature",
        "text",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "truncation",
        "user",
    ]
)


class OpenAIResponsesProvider(OpenAIProvider):
    known_params = KNOWN_PARAMS

    def build_body(
        self, model: ModelSpec, messages: tuple[RenderedMessage, ...], cache: CacheSpec, *, cache_key: str | None
    ) -> dict[str, Any]:
        system = [m.content for m in messages if m.role == "system"]
        body: dict[str, Any] = {"model": model.name}
        if system:
            body["instructions"] = "\n\n".join(system)
        body["input"] = [{"role": m.role, "content": m.content} for m in messages if m.role != "system"]
        body.update(model.params)
        if cache.prompt_caching and cache_key and self.routes_by_cache_key(model) and "prompt_cache_key" not in body:
            body["prompt_cache_key"] = cache_key
        if model.response_schema is not None:
            chat_format = translate("openai", model.response_schema).body  # {type, json_schema: {...}}
            text = dict(body.get("text") or {})
            text["format"] = {"type": "json_schema", **chat_format["json_schema"]}
            body["text"] = text
        body.update(model.extra_params)
        return body

    def batch_client(self, model: ModelSpec, job: str, *, probe: bool = False) -> BatchClient:
        from batchspec.providers.openai_batch import OpenAIBatchClient

        return OpenAIBatchClient(model, job, endpoint=RESPONSES, probe=probe)

    def sync_client(self, model: ModelSpec, *, timeout: float) -> SyncClient:
        from batchspec.providers.openai_sync import OpenAISyncClient

        return OpenAISyncClient(model, timeout=timeout, endpoint="responses")

    def batch_entry(self, custom_id: str, body_json: bytes) -> bytes:
        return b'{"custom_id":"' + custom_id.encode() + _ENTRY_MIDDLE + body_json + b"}"


def is_response(body: dict[str, Any]) -> bool:
    return body.get("object") == "response"


def response_outcome(custom_id: str, body: dict[str, Any]) -> Outcome:
    """A Response: its output text (every output_text part, in order) and usage; reasoning tokens
    are part of output_tokens, as OpenAI bills them."""
    usage = body.get("usage") or {}
    tokens = Usage(
        input_tokens=int(usage.get("input_tokens") or 0),
        output_tokens=int(usage.get("output_tokens") or 0),
        cache_read_tokens=int((usage.get("input_tokens_details") or {}).get("cached_tokens") or 0),
    )
    texts, refusals = [], []
    for item in body.get("output") or []:
        if item.get("type") != "message":
            continue
        for part in item.get("content") or []:
            if part.get("type") == "output_text":
                texts.append(str(part.get("text") or ""))
            elif part.get("type") == "refusal":
                refusals.append(str(part.get("refusal") or ""))
    if refusals and not texts:
        return Outcome(
            custom_id,
            ERRORED,
            response=body,
            usage=tokens,
            error_code="refusal",
            error_message=" ".join(refusals),
            retryable=False,
        )
    return Outcome(custom_id, SUCCEEDED, response=body, output="".join(texts), usage=tokens)

"""OpenAI embeddings (``model.endpoint: embeddings``): one text per record to ``/v1/embeddings``.

The prompt's one rendered message (``prompt.input``) is the text; the answer is a float vector,
stored as the outcome's ``parsed`` value and written to the ``embedding`` column.
"""

from __future__ import annotations

from typing import Any

from batchspec.outcomes import SUCCEEDED, Outcome
from batchspec.pricing import Usage
from batchspec.providers.base import BatchClient, RenderedMessage, SyncClient
from batchspec.providers.openai import OpenAIProvider
from batchspec.spec.model import CacheSpec, ModelSpec

EMBEDDINGS = "/v1/embeddings"
_ENTRY_MIDDLE = f'","method":"POST","url":"{EMBEDDINGS}","body":'.encode()
MAX_INPUT_TOKENS = 8192  # OpenAI's limit for one embeddings input (text-embedding-3-*, ada-002)
# Sizes of the vectors OpenAI's models return when `dimensions` is not given.
DEFAULT_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}

# EmbeddingCreateParams, less what batchspec writes itself (input, model, encoding_format).
KNOWN_PARAMS = frozenset(["dimensions", "user"])


class OpenAIEmbeddingsProvider(OpenAIProvider):
    known_params = KNOWN_PARAMS

    def build_body(
        self, model: ModelSpec, messages: tuple[RenderedMessage, ...], cache: CacheSpec, *, cache_key: str | None
    ) -> dict[str, Any]:
        # Floats, not the SDK's default base64: batch result files and raw sync answers are read as JSON.
        body: dict[str, Any] = {"model": model.name, "input": messages[0].content, "encoding_format": "float"}
        body.update(model.params)
        body.update(model.extra_params)
        return body

    def batch_client(self, model: ModelSpec, job: str, *, probe: bool = False) -> BatchClient:
        from batchspec.providers.openai_batch import OpenAIBatchClient

        return OpenAIBatchClient(model, job, endpoint=EMBEDDINGS, probe=probe)

    def sync_client(self, model: ModelSpec, *, timeout: float) -> SyncClient:
        from batchspec.providers.openai_sync import OpenAISyncClient

        return OpenAISyncClient(model, timeout=timeout, endpoint="embeddings")

    def batch_entry(self, custom_id: str, body_json: bytes) -> bytes:
        return b'{"custom_id":"' + custom_id.encode() + _ENTRY_MIDDLE + body_json + b"}"


def dimensions(model: ModelSpec) -> int | None:
    """The vector size ``model`` returns, where the spec or the model's default says."""
    given = {**model.params, **model.extra_params}.get("dimensions")
    if isinstance(given, int) and not isinstance(given, bool):
        return given
    return DEFAULT_DIMENSIONS.get(model.name)


def is_embedding_response(body: dict[str, Any]) -> bool:
    return body.get("object") == "list" and isinstance(body.get("data"), list)


def embedding_outcome(custom_id: str, body: dict[str, Any]) -> Outcome:
    """A CreateEmbeddingResponse: the vector (as ``parsed``) and its input tokens. The stored response
    keeps everything but the vector, which is stored once."""
    usage = body.get("usage") or {}
    data = sorted(body["data"], key=lambda d: d.get("index", 0))
    vector = [float(x) for x in data[0]["embedding"]]
    kept = {**body, "data": [{k: v for k, v in d.items() if k != "embedding"} for d in data]}
    tokens = Usage(input_tokens=int(usage.get("prompt_tokens") or 0))
    return Outcome(custom_id, SUCCEEDED, response=kept, output=None, parsed=vector, usage=tokens)

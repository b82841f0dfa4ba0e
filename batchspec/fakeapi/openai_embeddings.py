"""POST /v1/embeddings, synchronous and as batch requests: the CreateEmbeddingResponse shape, with
deterministic unit vectors (the same text, model and size always give the same vector)."""

from __future__ import annotations

import base64
import hashlib
import random
import struct
from typing import TYPE_CHECKING, Any

from batchspec.tokens import text_tokens

from .answers import body_digest
from .errors import openai_error, openai_fault
from .openai_chat import admit_sync, check_model, parse_body
from .wire import JSON, ApiError, Request, Response, json_response

if TYPE_CHECKING:
    from .state import FakeState

PARAMS = frozenset({"input", "model", "dimensions", "encoding_format", "user"})
SIZES = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
DEFAULT_SIZE = 1536
MAX_INPUT_TOKENS = 8192
MAX_INPUTS = 2048  # inputs in one request's array


def validate_embeddings(body: JSON) -> None:
    """What OpenAI refuses of an embeddings body, with its error shapes."""
    for key in body:
        if key not in PARAMS:
            raise openai_error(400, f"Unrecognized request argument supplied: {key}", param=key)
    if not isinstance(body.get("model"), str):
        raise openai_error(400, "you must provide a model parameter", param="model")
    texts = _texts(body)
    if not texts or len(texts) > MAX_INPUTS or any(not isinstance(t, str) or not t for t in texts):
        raise openai_error(
            400, f"'input' must be a non-empty string or an array of 1 to {MAX_INPUTS} strings", param="input"
        )
    if body.get("encoding_format", "float") not in ("float", "base64"):
        raise openai_error(400, "'encoding_format' must be 'float' or 'base64'", param="encoding_format")
    if "dimensions" in body:
        size = body["dimensions"]
        if body["model"] == "text-embedding-ada-002":
            raise openai_error(400, "This model does not support specifying dimensions.", param="dimensions")
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= SIZES.get(body["model"], 3072):
            raise openai_error(400, f"Invalid value for 'dimensions': {size!r}.", param="dimensions")


def _texts(body: JSON) -> list[Any]:
    value = body.get("input")
    return value if isinstance(value, list) else [value]


def vector(model: str, text: str, size: int) -> list[float]:
    """A deterministic unit vector for ``text``."""
    seed = hashlib.sha256(f"{model}\0{size}\0{text}".encode()).digest()
    rng = random.Random(seed)
    values = [rng.gauss(0.0, 1.0) for _ in range(size)]
    norm = sum(v * v for v in values) ** 0.5 or 1.0
    # float32 values, as the real API's are
    return [struct.unpack("<f", struct.pack("<f", v / norm))[0] for v in values]


def embed(
    state: FakeState, body: JSON, *, batch_id: str | None = None, custom_id: str | None = None, bill: bool = True
) -> JSON:
    """Answer a validated embeddings request, recorded in the ledger as billed."""
    model = body["model"]
    texts = _texts(body)
    for text in texts:
        tokens = text_tokens(text)
        if tokens > MAX_INPUT_TOKENS:
            status, err = openai_fault("context_length", model, tokens, MAX_INPUT_TOKENS)
            err["error"]["param"] = "input"
            raise ApiError(status, err)
    total = sum(text_tokens(t) for t in texts)
    check_model(state, model, 0)
    size = body.get("dimensions") or SIZES.get(model, DEFAULT_SIZE)
    data = []
    for i, text in enumerate(texts):
        values = vector(model, text, size)
        encoded: Any = values
        if body.get("encoding_format") == "base64":
            encoded = base64.b64encode(struct.pack(f"<{size}f", *values)).decode()
        data.append({"object": "embedding", "index": i, "embedding": encoded})
    if bill:
        state.ledger.add(
            "answer",
            provider="openai",
            custom_id=custom_id,
            request_id=None,
            batch_id=batch_id,
            model=model,
            body_sha=body_digest(body).hex(),
            input_tokens=total,
            output_tokens=0,
            cached_input_tokens=0,
            cache_creation_input_tokens=0,
            time=state.clock.now(),
        )
    return {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": total, "total_tokens": total}}


def handle_embeddings(state: FakeState, req: Request) -> Response:
    body = parse_body(req.body)
    admit_sync(state, req, body, 0)
    validate_embeddings(body)
    return json_response(embed(state, body), headers={"openai-processing-ms": "1"})

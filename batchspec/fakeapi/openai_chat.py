"""OpenAI chat completions: strict validation, the ChatCompletion object, and the sync endpoint."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from batchspec.providers.rules import rules_for
from batchspec.tokens import content_texts, output_token_budget, request_tokens

from .answers import body_digest
from .engine import generate, sync_fault
from .errors import OPENAI_QUOTA, openai_error, openai_fault
from .ratelimit import retry_after_headers
from .schema_rules import openai_schema_error
from .wire import JSON, ApiError, Request, Response, json_response, openai_id, random_hex

if TYPE_CHECKING:
    from .state import FakeState

CHAT_PARAMS = frozenset(
    [
        "audio",
        "frequency_penalty",
        "function_call",
        "functions",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "messages",
        "metadata",
        "modalities",
        "model",
        "moderation",
        "n",
        "parallel_tool_calls",
        "prediction",
        "presence_penalty",
        "prompt_cache_key",
        "prompt_cache_options",
        "prompt_cache_retention",
        "reasoning_effort",
        "response_format",
        "safety_identifier",
        "seed",
        "service_tier",
        "stop",
        "store",
        "stream",
        "stream_options",
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
ROLES = ("system", "assistant", "user", "function", "tool", "developer")
BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
    "your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was "
    "not valid JSON. If you have trouble figuring out how to fix this, please contact us through "
    "our help center at help.openai.com.)"
)


def parse_body(raw: bytes) -> JSON:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise openai_error(400, BAD_JSON) from None
    if not isinstance(body, dict):
        raise openai_error(400, BAD_JSON)
    return body


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if value is None:
        return "null"
    return "an object"


def _missing(param: str) -> ApiError:
    return openai_error(400, f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter")


def _invalid_type(param: str, expected: str, value: Any) -> ApiError:
    return openai_error(
        400,
        f"Invalid type for '{param}': expected {expected}, but got {_json_type(value)} instead.",
        param=param,
        code="invalid_type",
    )


def validate_chat(body: JSON) -> None:
    """Reject what the real endpoint rejects, with its wording."""
    for key in body:
        if key not in CHAT_PARAMS:
            raise openai_error(400, f"Unrecognized request argument supplied: {key}")
    if "model" not in body:
        raise openai_error(400, "you must provide a model parameter")
    if not isinstance(body["model"], str):
        raise _invalid_type("model", "a string", body["model"])
    if "messages" not in body:
        raise _missing("messages")
    messages = body["messages"]
    if not isinstance(messages, list):
        raise _invalid_type("messages", "an array of objects", messages)
    if not messages:
        raise openai_error(
            400,
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            param="messages",
            code="empty_array",
        )
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _invalid_type(f"messages[{i}]", "an object", message)
        if "role" not in message:
            raise _missing(f"messages[{i}].role")
        if message["role"] not in ROLES:
            raise openai_error(
                400,
                f"Invalid value: '{message['role']}'. Supported values are: 'system', "
                "'assistant', 'user', 'function', 'tool', and 'developer'.",
                param=f"messages[{i}].role",
                code="invalid_value",
            )
        if message["role"] != "assistant" and "content" not in message:
            raise _missing(f"messages[{i}].content")
    for key in ("max_tokens", "max_completion_tokens", "n"):
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise _invalid_type(key, "an integer", value)
        if value < 1:
            raise openai_error(
                400,
                f"Invalid '{key}': integer below minimum value. Expected a value >= 1, but got {value} instead.",
                param=key,
                code="integer_below_min_value",
            )
    if body.get("stream"):
        raise openai_error(400, "This fake server does not stream; send stream=false.", "stream")
    _validate_response_format(body)
    _check_family(body)


def _check_family(body: JSON) -> None:
    """What the model family refuses although the schema allows it (providers/rules.py)."""
    rules = rules_for("openai", body["model"])
    for old, new in rules.renamed.items():
        if old in body:
            raise openai_error(
                400,
                f"Unsupported parameter: '{old}' is not supported with this model. Use '{new}' instead.",
                param=old,
                code="unsupported_parameter",
            )
    for key, default in rules.fixed.items():
        value = body.get(key)
        if value is not None and value != default:
            raise openai_error(
                400,
                f"Unsupported value: '{key}' does not support {value} with this model. "
                f"Only the default ({default}) value is supported.",
                param=key,
                code="unsupported_value",
            )
    cache_key = body.get("prompt_cache_key")
    if isinstance(cache_key, str) and rules.max_cache_key is not None and len(cache_key) > rules.max_cache_key:
        raise openai_error(
            400,
            f"Invalid 'prompt_cache_key': string too long. Expected a string with maximum length "
            f"{rules.max_cache_key}, but got a string with length {len(cache_key)} instead.",
            param="prompt_cache_key",
            code="string_above_max_length",
        )


def _validate_response_format(body: JSON) -> None:
    fmt = body.get("response_format")
    if fmt is None:
        return
    if not isinstance(fmt, dict):
        raise _invalid_type("response_format", "an object", fmt)
    kind = fmt.get("type")
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        if not isinstance(spec, dict):
            raise _missing("response_format.json_schema")
        if "name" not in spec:
            raise _missing("response_format.json_schema.name")
        problem = openai_schema_error(spec["name"], spec.get("schema"), spec.get("strict") is True)
        if problem is not None:
            raise openai_error(400, problem, param="response_format")
    elif kind == "json_object":
        texts = " ".join(t for m in body["messages"] for t in content_texts(m.get("content"))).lower()
        if "json" not in texts:
            raise openai_error(
                400,
                "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
                param="messages",
            )
    elif kind != "text":
        raise openai_error(
            400,
            f"Invalid value: '{kind}'. Supported values are: 'json_object', 'json_schema', and 'text'.",
            param="response_format.type",
            code="invalid_value",
        )


def _forced_tool(body: JSON) -> tuple[str, Any, str] | None:
    """(name, parameters schema, finish_reason) when the request forces a function call."""
    choice, tools = body.get("tool_choice"), body.get("tools") or []
    functions = {
        t["function"]["name"]: t["function"].get("parameters")
        for t in tools
        if isinstance(t, Mapping) and isinstance(t.get("function"), Mapping) and "name" in t["function"]
    }
    if isinstance(choice, Mapping) and isinstance(choice.get("function"), Mapping):
        name = choice["function"].get("name")
        if name not in functions:
            raise openai_error(
                400,
                f"Invalid value for 'tool_choice': function '{name}' not found in 'tools'.",
                param="tool_choice",
            )
        return name, functions[name], "stop"  # a named function finishes with "stop"
    if choice == "required" and functions:
        name = next(iter(functions))
        return name, functions[name], "tool_calls"
    return None


def _schema(body: JSON) -> Any:
    fmt = body.get("response_format")
    if isinstance(fmt, Mapping):
        if fmt.get("type") == "json_schema":
            return fmt["json_schema"].get("schema") or {"type": "object"}
        if fmt.get("type") == "json_object":
            return {"type": "object", "properties": {"answer": {"type": "string"}}}
    return None


def check_model(state: FakeState, model: str, tokens: int) -> None:
    known = state.config.known_models
    if known is not None and model not in known:
        raise openai_error(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            code="model_not_found",
        )
    limit = state.config.max_context_tokens
    if tokens > limit:
        status, body = openai_fault("context_length", model, tokens, limit)
        raise ApiError(status, body)


def complete(
    state: FakeState, body: JSON, *, batch_id: str | None = None, custom_id: str | None = None, bill: bool = True
) -> JSON:
    """Answer a validated chat request: the ChatCompletion, recorded in the ledger as billed."""
    model = body["model"]
    total = request_tokens(body)
    check_model(state, model, total)
    digest = body_digest(body)
    config = state.config
    cached = state.cache.openai(body, model, total, config.min_cache_tokens, config.openai_cache_ttl_seconds)
    forced = _forced_tool(body)
    stop = body.get("stop")
    gen = generate(
        messages=body["messages"],
        digest=digest,
        schema=_schema(body),
        tool=(forced[0], forced[1]) if forced else None,
        max_tokens=output_token_budget(body),
        stop_sequences=[stop] if isinstance(stop, str) else stop or (),
    )
    message: JSON = {"role": "assistant", "content": gen.text, "refusal": None, "annotations": []}
    finish = "length" if gen.stop == "max_tokens" else "stop"
    if gen.tool_name is not None:
        message["tool_calls"] = [
            {
                "id": openai_id("call_"),
                "type": "function",
                "function": {"name": gen.tool_name, "arguments": orjson.dumps(gen.tool_input).decode()},
            }
        ]
        if forced and gen.stop != "max_tokens":
            finish = forced[2]
    n = body.get("n") or 1
    completion_tokens = gen.output_tokens * n
    completion_id = openai_id("chatcmpl-")
    if bill:  # a batch result line the fake then drops or corrupts never reached anyone: not billed
        state.ledger.add(
            "answer",
            provider="openai",
            custom_id=custom_id,
            request_id=completion_id,
            batch_id=batch_id,
            model=model,
            body_sha=digest.hex(),
            input_tokens=total,
            output_tokens=completion_tokens,
            cached_input_tokens=cached,
            cache_creation_input_tokens=0,
            time=state.clock.now(),
        )
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(state.clock.now()),
        "model": model,
        "choices": [{"index": i, "message": message, "logprobs": None, "finish_reason": finish} for i in range(n)],
        "usage": {
            "prompt_tokens": total,
            "completion_tokens": completion_tokens,
            "total_tokens": total + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": "fp_fake",
    }


def admit_sync(state: FakeState, req: Request, body: JSON, tokens: int) -> None:
    """What every OpenAI sync endpoint does before it looks at the request: configured faults,
    the quota, the rate limit (``tokens``: the request's size, for a context-length fault)."""
    faults = state.config.faults
    kind = sync_fault(faults, state.attempts, "openai", body_digest(body).hex(), req.client_gone)
    model = str(body.get("model", "unknown"))
    if kind is not None:
        status, err = openai_fault(kind, model, tokens, state.config.max_context_tokens)
        headers = retry_after_headers(faults.retry_after_seconds) if status in (429, 503) else {}
        raise ApiError(status, err, headers)
    if faults.insufficient_quota:
        raise openai_error(429, OPENAI_QUOTA, "insufficient_quota", code="insufficient_quota")
    _rate_limit(state, body, model)


def handle_chat(state: FakeState, req: Request) -> Response:
    body = parse_body(req.body)
    admit_sync(state, req, body, request_tokens(body))
    validate_chat(body)
    return json_response(complete(state, body), headers={"openai-processing-ms": "1"})


def _rate_limit(state: FakeState, body: JSON, model: str) -> None:
    tokens = request_tokens(body) + (output_token_budget(body) or 0)
    rejection = state.openai_limits.acquire({"requests": 1, "tokens": tokens})
    if rejection is None:
        return
    short = "RPM" if rejection.dimension == "requests" else "TPM"
    label = "requests" if rejection.dimension == "requests" else "tokens"
    org = state.config.organization
    if math.isinf(rejection.retry_after):
        raise openai_error(
            429,
            f"Request too large for {model} in organization {org} on {label} per min ({short}): "
            f"Limit {rejection.limit}, Requested {rejection.requested}. The input or output "
            "tokens must be reduced in order to run successfully. Visit "
            "https://platform.openai.com/account/rate-limits to learn more.",
            label,
            code="rate_limit_exceeded",
        )
    wait_ms = max(1, math.ceil(rejection.retry_after * 1000))
    wait = f"{wait_ms}ms" if wait_ms < 1000 else f"{wait_ms / 1000:.3g}s"
    raise openai_error(
        429,
        f"Rate limit reached for {model} in organization {org} on {label} per min ({short}): "
        f"Limit {rejection.limit}, Used {rejection.used}, Requested {rejection.requested}. "
        f"Please try again in {wait}. Visit https://platform.openai.com/account/rate-limits to "
        "learn more.",
        label,
        code="rate_limit_exceeded",
        headers=retry_after_headers(rejection.retry_after),
    )


def request_id() -> str:
    return "req_" + random_hex(32)

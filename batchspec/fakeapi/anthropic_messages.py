"""Anthropic Messages: strict validation, the Message object, and the sync endpoint."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from batchspec.providers.rules import count_cache_controls, rules_for
from batchspec.tokens import request_tokens

from .answers import body_digest
from .caching import MAX_BREAKPOINTS
from .engine import generate, sync_fault
from .errors import ANTHROPIC_CREDIT, anthropic_error, anthropic_fault, anthropic_invalid
from .schema_rules import anthropic_schema_error
from .wire import JSON, ApiError, Request, Response, anthropic_id, json_response

if TYPE_CHECKING:
    from .state import FakeState

MESSAGE_PARAMS = frozenset(
    [
        "cache_control",
        "container",
        "context_management",
        "diagnostics",
        "inference_geo",
        "max_tokens",
        "mcp_servers",
        "messages",
        "metadata",
        "model",
        "output_config",
        "service_tier",
        "speed",
        "stop_sequences",
        "stream",
        "system",
        "temperature",
        "thinking",
        "tool_choice",
        "tools",
        "top_k",
        "top_p",
    ]
)
STOP_REASONS = {
    "end": "end_turn",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "tool": "tool_use",
}


def parse_body(raw: bytes) -> JSON:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise anthropic_invalid("There was an error parsing the body of your request as JSON.") from None
    if not isinstance(body, dict):
        raise anthropic_invalid("Input should be a valid dictionary")
    return body


def params_error(body: Any) -> tuple[str, str] | None:
    """(field path, problem) for an invalid Messages request body, ``None`` when valid.

    Worded like the API's own messages, so a batch can put ``requests.N.params.`` in front of
    the path.
    """
    if not isinstance(body, Mapping):
        return "", "Input should be a valid dictionary"
    for key in body:
        if key not in MESSAGE_PARAMS:
            return key, "Extra inputs are not permitted"
    for key in ("model", "messages", "max_tokens"):
        if key not in body:
            return key, "Field required"
    if not isinstance(body["model"], str):
        return "model", "Input should be a valid string"
    max_tokens = body["max_tokens"]
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
        return "max_tokens", "Input should be a valid integer"
    if max_tokens < 1:
        return "max_tokens", "Input should be greater than or equal to 1"
    return _messages_error(body["messages"]) or _options_error(body)


def _messages_error(messages: Any) -> tuple[str, str] | None:
    if not isinstance(messages, list):
        return "messages", "Input should be a valid list"
    if not messages:
        return "messages", "at least one message is required"
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            return f"messages.{i}", "Input should be a valid dictionary"
        role = message.get("role")
        if role == "system":
            return "messages", (
                'Unexpected role "system". The Messages API accepts a top-level `system` '
                'parameter, not "system" as an input message role.'
            )
        if role not in ("user", "assistant"):
            return f"messages.{i}.role", "Input should be 'user' or 'assistant'"
        if "content" not in message:
            return f"messages.{i}.content", "Field required"
    return None


def _options_error(body: Mapping[str, Any]) -> tuple[str, str] | None:
    found = count_cache_controls(body)
    if found > MAX_BREAKPOINTS:
        return "", (f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {found}.")
    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, Mapping) else None
    if fmt is not None and (not isinstance(fmt, Mapping) or fmt.get("type") != "json_schema" or "schema" not in fmt):
        return "output_config.format", "expected {'type': 'json_schema', 'schema': {...}}"
    if body.get("stream"):
        return "stream", "this fake server does not stream; send stream=false"
    choice = body.get("tool_choice")
    if isinstance(choice, Mapping) and choice.get("type") == "tool":
        names = {t.get("name") for t in body.get("tools") or [] if isinstance(t, Mapping)}
        if choice.get("name") not in names:
            return "tool_choice", f"Tool '{choice.get('name')}' not found in tools"
    return None


def format_error(error: tuple[str, str], prefix: str = "") -> str:
    path = prefix + error[0] if error[0] else prefix.rstrip(".")
    return f"{path}: {error[1]}" if path else error[1]


def validate(body: JSON) -> None:
    error = params_error(body)
    if error is not None:
        raise anthropic_invalid(format_error(error))


def _forced_tool(body: JSON) -> tuple[str, Any] | None:
    choice, tools = body.get("tool_choice"), body.get("tools") or []
    tools = [t for t in tools if isinstance(t, Mapping) and "name" in t]
    if isinstance(choice, Mapping) and choice.get("type") == "tool":
        tool = next(t for t in tools if t["name"] == choice.get("name"))
        return tool["name"], tool.get("input_schema")
    if isinstance(choice, Mapping) and choice.get("type") == "any" and tools:
        return tools[0]["name"], tools[0].get("input_schema")
    return None


def _schema(body: JSON) -> Any:
    config = body.get("output_config")
    if isinstance(config, Mapping) and isinstance(config.get("format"), Mapping):
        return config["format"].get("schema")
    return None


def check_family(body: JSON) -> None:
    """What the model family refuses although the schema allows it (providers/rules.py), per request:
    a batch errors that request alone."""
    rules = rules_for("anthropic", body["model"])
    for key in sorted(rules.refused & set(body)):
        raise anthropic_invalid(f"{key}: Extra inputs are not permitted")
    config = body.get("output_config")
    if isinstance(config, Mapping) and isinstance(config.get("format"), Mapping):
        problem = anthropic_schema_error(config["format"].get("schema"))
        if problem is not None:
            raise anthropic_invalid(problem)
    messages = body["messages"]
    if not rules.prefill and messages[-1].get("role") == "assistant":
        raise anthropic_invalid(
            "This model does not support assistant message prefill. The conversation must end with a user message."
        )


def check_model(state: FakeState, model: str, tokens: int) -> None:
    known = state.config.known_models
    if known is not None and model not in known:
        raise anthropic_error(404, "not_found_error", f"model: {model}")
    limit = state.config.max_context_tokens
    if tokens > limit:
        status, err = anthropic_fault("context_length", tokens, limit)
        raise anthropic_error(status, err["type"], err["message"])


def complete(
    state: FakeState, body: JSON, *, batch_id: str | None = None, custom_id: str | None = None, bill: bool = True
) -> JSON:
    """Answer a validated Messages request: the Message, recorded in the ledger as billed."""
    model = body["model"]
    total = request_tokens(body)
    check_family(body)
    check_model(state, model, total)
    digest = body_digest(body)
    cache = state.cache.anthropic(body, model, state.config.min_cache_tokens)
    gen = generate(
        messages=body["messages"],
        digest=digest,
        schema=_schema(body),
        tool=_forced_tool(body),
        max_tokens=body["max_tokens"],
        stop_sequences=body.get("stop_sequences") or (),
    )
    if gen.tool_name is not None:
        content: list[JSON] = [
            {"type": "tool_use", "id": anthropic_id("toolu_"), "name": gen.tool_name, "input": gen.tool_input}
        ]
    else:
        content = [{"type": "text", "text": gen.text}]
    message_id = anthropic_id("msg_")
    uncached = total - cache.read - cache.created
    if bill:  # a batch result line the fake then drops or corrupts never reached anyone: not billed
        state.ledger.add(
            "answer",
            provider="anthropic",
            custom_id=custom_id,
            request_id=message_id,
            batch_id=batch_id,
            model=model,
            body_sha=digest.hex(),
            input_tokens=total,
            output_tokens=gen.output_tokens,
            cached_input_tokens=cache.read,
            cache_creation_input_tokens=cache.created,
            time=state.clock.now(),
        )
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": STOP_REASONS[gen.stop],
        "stop_sequence": gen.stop_sequence,
        "usage": {
            "input_tokens": uncached,
            "cache_creation_input_tokens": cache.created,
            "cache_read_input_tokens": cache.read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": cache.created_5m,
                "ephemeral_1h_input_tokens": cache.created_1h,
            },
            "output_tokens": gen.output_tokens,
            "service_tier": "batch" if batch_id else "standard",
        },
    }


def handle_messages(state: FakeState, req: Request) -> Response:
    body = parse_body(req.body)
    faults = state.config.faults
    kind = sync_fault(faults, state.attempts, "anthropic", body_digest(body).hex(), req.client_gone)
    if kind is not None:
        status, err = anthropic_fault(kind, request_tokens(body), state.config.max_context_tokens)
        retry = {"retry-after": str(max(1, math.ceil(faults.retry_after_seconds)))}
        raise anthropic_error(status, err["type"], err["message"], retry if status in (429, 503, 529) else None)
    if faults.insufficient_quota:
        raise anthropic_invalid(ANTHROPIC_CREDIT)
    reserved = _rate_limit(state, body)
    try:
        validate(body)
        message = complete(state, body)
    except ApiError:
        state.anthropic_limits.refund("output_tokens", reserved)
        raise
    usage = message["usage"]
    state.anthropic_limits.refund("input_tokens", usage["cache_read_input_tokens"])
    state.anthropic_limits.refund("output_tokens", max(0, reserved - usage["output_tokens"]))
    return json_response(message)


def _rate_limit(state: FakeState, body: JSON) -> int:
    """Take the request's share of the buckets; returns the output tokens reserved."""
    budget = body.get("max_tokens")
    reserve = budget if isinstance(budget, int) and not isinstance(budget, bool) and budget > 0 else 0
    rejection = state.anthropic_limits.acquire(
        {"requests": 1, "input_tokens": request_tokens(body), "output_tokens": reserve}
    )
    if rejection is None:
        return reserve
    unit = rejection.dimension.replace("_", " ")
    retry = 60.0 if math.isinf(rejection.retry_after) else rejection.retry_after
    raise anthropic_error(
        429,
        "rate_limit_error",
        f"This request would exceed the rate limit for your organization "
        f"({state.config.organization}) of {rejection.limit:,} {unit} per minute. For details, "
        "refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers "
        "for current usage. Please reduce the prompt length or the maximum tokens requested, or "
        "try again later.",
        {"retry-after": str(max(1, math.ceil(retry)))},
    )

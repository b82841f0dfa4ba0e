"""POST /v1/responses, synchronous and as batch requests: a Response object with output_text
parts and Responses usage (input/output tokens, cached and reasoning token details)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from batchspec.providers.rules import rules_for
from batchspec.tokens import request_tokens

from .answers import body_digest
from .engine import generate
from .errors import openai_error
from .openai_chat import _check_family, admit_sync, check_model, parse_body
from .schema_rules import openai_schema_error
from .wire import JSON, ApiError, Request, Response, json_response, random_hex

if TYPE_CHECKING:
    from .state import FakeState

PARAMS = frozenset(
    {
        "model", "input", "instructions", "include", "max_output_tokens", "max_tool_calls", "metadata",
        "parallel_tool_calls", "prompt_cache_key", "prompt_cache_retention", "reasoning", "safety_identifier",
        "service_tier", "store", "temperature", "text", "tool_choice", "tools", "top_logprobs", "top_p",
        "truncation", "user", "stream", "background", "previous_response_id", "conversation",
    }
)  # fmt: skip
ROLES = ("user", "assistant", "system", "developer")
EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")


def _messages(body: JSON) -> list[JSON]:
    """The request as chat-like messages (for token counts and the answer generator)."""
    messages: list[JSON] = []
    if isinstance(body.get("instructions"), str):
        messages.append({"role": "system", "content": body["instructions"]})
    value = body.get("input")
    if isinstance(value, str):
        return [*messages, {"role": "user", "content": value}]
    for item in value or []:
        content = item.get("content")
        if isinstance(content, list):
            content = [{"type": "text", "text": p.get("text", "")} for p in content if isinstance(p, dict)]
        messages.append({"role": item.get("role"), "content": content})
    return messages


def _missing(param: str) -> ApiError:
    return openai_error(400, f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter")


def validate_responses(body: JSON) -> None:
    for key in body:
        if key not in PARAMS:
            raise openai_error(400, f"Unknown parameter: '{key}'.", param=key, code="unknown_parameter")
    if not isinstance(body.get("model"), str):
        raise _missing("model")
    value = body.get("input")
    if not isinstance(value, (str, list)):
        raise _missing("input")
    for i, item in enumerate(value if isinstance(value, list) else []):
        if not isinstance(item, dict) or item.get("role") not in ROLES or "content" not in item:
            raise openai_error(400, f"Invalid 'input[{i}]': expected a message item.", param=f"input[{i}]")
    limit = body.get("max_output_tokens")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 16):
        raise openai_error(
            400,
            f"Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got {limit} "
            "instead.",
            param="max_output_tokens",
            code="integer_below_min_value",
        )
    reasoning = body.get("reasoning")
    if reasoning is not None:
        effort = reasoning.get("effort") if isinstance(reasoning, dict) else None
        if "reasoning" not in rules_for("openai", body["model"]).family:
            raise openai_error(
                400,
                "Unsupported parameter: 'reasoning.effort' is not supported with this model.",
                param="reasoning.effort",
                code="unsupported_parameter",
            )
        if effort is not None and effort not in EFFORTS:
            raise openai_error(400, f"Invalid value: '{effort}'.", param="reasoning.effort", code="invalid_value")
    fmt = (body.get("text") or {}).get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        if "name" not in fmt:
            raise openai_error(400, "Missing required parameter: 'text.format.name'.", param="text.format.name")
        problem = openai_schema_error(fmt["name"], fmt.get("schema"), fmt.get("strict") is True)
        if problem is not None:
            raise openai_error(400, problem, param="text.format.schema")
    if body.get("stream"):
        raise openai_error(400, "This fake server does not stream; send stream=false.", "stream")
    _check_family(body)


def respond(
    state: FakeState, body: JSON, *, batch_id: str | None = None, custom_id: str | None = None, bill: bool = True
) -> JSON:
    model = body["model"]
    messages = _messages(body)
    total = request_tokens({"messages": messages})
    check_model(state, model, total)
    digest = body_digest(body)
    config = state.config
    cached = state.cache.openai(
        {**body, "messages": messages}, model, total, config.min_cache_tokens, config.openai_cache_ttl_seconds
    )
    fmt = (body.get("text") or {}).get("format") or {}
    schema: Any = fmt.get("schema") or {"type": "object"} if fmt.get("type") == "json_schema" else None
    gen = generate(messages=messages, digest=digest, schema=schema, max_tokens=body.get("max_output_tokens"))
    effort = (body.get("reasoning") or {}).get("effort")
    reasoning = 0 if effort in (None, "none") else 8  # reasoning models think a little, billed as output
    output_tokens = gen.output_tokens + reasoning
    response_id = "resp_" + random_hex(24)
    if bill:
        state.ledger.add(
            "answer",
            provider="openai",
            custom_id=custom_id,
            request_id=response_id,
            batch_id=batch_id,
            model=model,
            body_sha=digest.hex(),
            input_tokens=total,
            output_tokens=output_tokens,
            cached_input_tokens=cached,
            cache_creation_input_tokens=0,
            time=state.clock.now(),
        )
    incomplete = gen.stop == "max_tokens"
    output: list[JSON] = []
    if reasoning:
        output.append({"id": "rs_" + random_hex(24), "type": "reasoning", "summary": []})
    output.append(
        {
            "id": "msg_" + random_hex(24),
            "type": "message",
            "status": "incomplete" if incomplete else "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": gen.text or "", "annotations": []}],
        }
    )
    return {
        "id": response_id,
        "object": "response",
        "created_at": int(state.clock.now()),
        "status": "incomplete" if incomplete else "completed",
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
        "error": None,
        "model": model,
        "instructions": body.get("instructions"),
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "text": body.get("text") or {"format": {"type": "text"}},
        "usage": {
            "input_tokens": total,
            "input_tokens_details": {"cached_tokens": cached},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": total + output_tokens,
        },
    }


def handle_responses(state: FakeState, req: Request) -> Response:
    body = parse_body(req.body)
    admit_sync(state, req, body, 0)
    validate_responses(body)
    return json_response(respond(state, body), headers={"openai-processing-ms": "1"})

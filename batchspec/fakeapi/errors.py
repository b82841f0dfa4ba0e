"""Error bodies exactly as each provider returns them, and the injectable fault catalogue."""

from __future__ import annotations

from collections.abc import Mapping

from .wire import JSON, ApiError

OPENAI_MISSING_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with "
    "blank username) if you're accessing the API from your browser and are prompted for a "
    "username and password. You can obtain an API key from "
    "https://platform.openai.com/account/api-keys."
)
OPENAI_QUOTA = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, read the docs: "
    "https://platform.openai.com/docs/guides/error-codes/api-errors."
)
ANTHROPIC_CREDIT = (
    "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to "
    "upgrade or purchase credits."
)


def openai_body(
    message: str,
    type_: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> JSON:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def openai_error(
    status: int,
    message: str,
    type_: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> ApiError:
    return ApiError(status, openai_body(message, type_, param, code), headers)


def anthropic_body(type_: str, message: str, request_id: str | None = None) -> JSON:
    body: JSON = {"type": "error", "error": {"type": type_, "message": message}}
    if request_id is not None:
        body["request_id"] = request_id
    return body


def anthropic_error(status: int, type_: str, message: str, headers: Mapping[str, str] | None = None) -> ApiError:
    return ApiError(status, anthropic_body(type_, message), headers)


def anthropic_invalid(message: str) -> ApiError:
    return anthropic_error(400, "invalid_request_error", message)


def mask_key(key: str) -> str:
    return key[:3] + "*" * 3 + key[-4:] if len(key) > 8 else "*" * len(key)


def openai_fault(kind: str, model: str, tokens: int, limit: int) -> tuple[int, JSON]:
    """Status and body of an injected per-request failure, as the OpenAI API words it."""
    if kind == "server_error":
        return 500, openai_body(
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            code="server_error",
        )
    if kind in ("overloaded", "unavailable"):
        return 503, openai_body("The server is overloaded or not ready yet.", "server_error", code="server_error")
    if kind == "rate_limit":
        return 429, openai_body(
            f"Rate limit reached for {model} in organization org-fake on requests per min (RPM): "
            "Limit 500, Used 500, Requested 1. Please try again in 120ms. Visit "
            "https://platform.openai.com/account/rate-limits to learn more.",
            "requests",
            code="rate_limit_exceeded",
        )
    if kind == "context_length":
        return 400, openai_body(
            f"This model's maximum context length is {limit} tokens. However, your messages "
            f"resulted in {max(tokens, limit + 1)} tokens. Please reduce the length of the "
            "messages.",
            param="messages",
            code="context_length_exceeded",
        )
    if kind == "content_policy":
        return 400, openai_body(
            "Your request was rejected as a result of our safety system. Your prompt may contain "
            "text that is not allowed by our safety system.",
            code="content_policy_violation",
        )
    raise ValueError(f"unknown fault kind {kind!r}")


def anthropic_fault(kind: str, tokens: int, limit: int) -> tuple[int, JSON]:
    """Status and inner error object of an injected failure, as the Anthropic API words it."""
    if kind == "server_error":
        return 500, {"type": "api_error", "message": "Internal server error"}
    if kind == "unavailable":
        return 503, {"type": "api_error", "message": "Service unavailable"}
    if kind == "overloaded":
        return 529, {"type": "overloaded_error", "message": "Overloaded"}
    if kind == "rate_limit":
        return 429, {
            "type": "rate_limit_error",
            "message": "This request would exceed the rate limit for your organization of 50 "
            "requests per minute. For details, refer to: "
            "https://docs.claude.com/en/api/rate-limits.",
        }
    if kind == "context_length":
        return 400, {
            "type": "invalid_request_error",
            "message": f"prompt is too long: {max(tokens, limit + 1)} tokens > {limit} maximum",
        }
    if kind == "content_policy":
        return 400, {
            "type": "invalid_request_error",
            "message": "Output blocked by content filtering policy: this request may violate our Usage Policy.",
        }
    raise ValueError(f"unknown fault kind {kind!r}")

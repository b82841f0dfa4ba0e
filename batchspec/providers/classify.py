"""Which provider errors are worth retrying (REFERENCE.md, "Errors to expect")."""

from __future__ import annotations

# Permanent for this input: re-sending the same request fails the same way.
PERMANENT = frozenset(
    {
        "context_length_exceeded",
        "content_policy_violation",
        "content_filter",
        "invalid_request_error",
        "invalid_prompt",
        "invalid_request",
        "model_not_found",
        "not_found_error",
        "permission_error",
        "authentication_error",
        "invalid_api_key",
        "insufficient_quota",
        "billing_error",
        "refusal",
    }
)
# Transient: server trouble, limits, time.
RETRYABLE = frozenset(
    {
        "server_error",
        "api_error",
        "overloaded_error",
        "rate_limit_exceeded",
        "rate_limit_error",
        "timeout",
        "timeout_error",
        "missing_result",
        "batch_expired",
        "batch_cancelled",
        "expired",
        "canceled",
    }
)


def is_retryable(status: int | None, code: str | None, kind: str | None = None) -> bool:
    """Decide from the error code first (most specific), then the type, then the HTTP status."""
    for name in (code, kind):
        if name in PERMANENT:
            return False
        if name in RETRYABLE:
            return True
    if status is not None:
        return status in (408, 409, 429) or status >= 500
    return True  # an unknown model error: a second attempt usually succeeds

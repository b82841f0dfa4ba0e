"""What sync-mode clients of every provider share: the answer shape and turning SDK errors into it."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from batchspec.errors import AuthError, ProviderError
from batchspec.outcomes import ERRORED, Outcome
from batchspec.providers.classify import is_retryable
from batchspec.providers.credentials import redact
from batchspec.providers.sdkcalls import Endpoint, translate
from batchspec.spec.units import format_duration

RATE_LIMIT_STATUSES = (429, 529)


@dataclass
class SyncAnswer:
    outcome: Outcome
    headers: Mapping[str, str] = field(default_factory=dict)
    rate_limited: bool = False  # 429 / overloaded: pause everyone, then try again
    retry_after: float | None = None
    fatal: ProviderError | None = None  # a bad key or an empty account: stop the run
    unreachable: ProviderError | None = None  # no answer at all (connection trouble, a timeout)


def split_kwargs(method: Callable[..., Any], body: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The body fields the SDK method takes as arguments, and the rest (sent as ``extra_body``), so a
    parameter newer than the installed SDK still reaches the provider."""
    accepted = set(inspect.signature(method).parameters)
    known = {k: v for k, v in body.items() if k in accepted}
    extra = {k: v for k, v in body.items() if k not in accepted}
    return known, extra


def error_answer(error: Exception, custom_id: str, endpoint: Endpoint, timeout: float | None = None) -> SyncAnswer:
    """An SDK exception as an answer: an error outcome, or a reason to pause or to stop."""
    if isinstance(error, _sdk_classes("APITimeoutError")) and timeout is not None:
        # a hung provider: retryable, and the breaker (execution.unreachable_after) sees no answer
        waited = f"within {format_duration(timeout)} (execution.request_timeout)"
        return SyncAnswer(
            Outcome(custom_id, ERRORED, error_code="timeout", error_message=f"no answer {waited}", retryable=True),
            unreachable=ProviderError(
                f"{endpoint.provider} at {endpoint.where} answered none of several requests in a row {waited}"
            ),
        )
    if not isinstance(error, _sdk_classes("APIStatusError")):
        # Connection trouble or a timeout: retryable; the engine decides whether it costs an attempt.
        message = redact(str(error)) or type(error).__name__
        return SyncAnswer(
            Outcome(custom_id, ERRORED, error_code="connection_error", error_message=message, retryable=True),
            unreachable=translate(error, endpoint, "send a request"),
        )
    failed: Any = error  # an APIStatusError of either SDK (imported lazily, so not narrowed)
    status = failed.status_code
    headers = dict(failed.response.headers)
    detail = _detail(failed.body)
    code = str(detail.get("code") or detail.get("type") or f"http_{status}")
    message = redact(str(detail.get("message") or failed.message))
    if status in (401, 403) or code in ("insufficient_quota", "billing_error") or "credit balance" in message:
        fatal = translate(error, endpoint, "send a request")
        if not isinstance(fatal, AuthError) and status in (401, 403):
            fatal = AuthError(str(fatal), status)
        return SyncAnswer(Outcome(custom_id, ERRORED, error_code=code, error_message=message), headers, fatal=fatal)
    outcome = Outcome(
        custom_id,
        ERRORED,
        response=failed.body if isinstance(failed.body, dict) else None,
        error_code=code,
        error_message=message,
        retryable=is_retryable(status, code, detail.get("type")),
    )
    limited = status in RATE_LIMIT_STATUSES or code in ("rate_limit_exceeded", "rate_limit_error", "overloaded_error")
    return SyncAnswer(outcome, headers, rate_limited=limited, retry_after=retry_after(headers))


def _detail(body: Any) -> dict[str, Any]:
    """The error object: OpenAI's SDK gives the inner one, Anthropic's the whole envelope."""
    if not isinstance(body, dict):
        return {}
    inner = body.get("error")
    return inner if isinstance(inner, dict) else body


def retry_after(headers: Mapping[str, str]) -> float | None:
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return float(value) * scale
            except ValueError:
                continue
    return None


def _sdk_classes(name: str) -> tuple[type[BaseException], ...]:
    """An exception class of each SDK loaded (one not imported cannot have raised it)."""
    return tuple(getattr(sys.modules[sdk], name) for sdk in ("openai", "anthropic") if sdk in sys.modules)

"""Calling the SDKs: one retry policy (ours; the SDKs' own retries are off) and one place where
SDK exceptions become batchspec errors."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from batchspec.errors import AuthError, ProviderError
from batchspec.providers.credentials import api_key, redact
from batchspec.spec.model import ModelSpec

T = TypeVar("T")
CONTROL_ATTEMPTS = 4  # for submit/poll/download calls; requests inside batches are retried by the runner

_SDKS = ("openai", "anthropic")


# The SDKs take 0.3–1 s each to import, so each is imported only where a client is made. An SDK
# not imported yet cannot have raised anything: its exception classes are looked up when needed.
def _connection_errors() -> tuple[type[BaseException], ...]:
    return tuple(sys.modules[name].APIConnectionError for name in _SDKS if name in sys.modules)


def _status_errors() -> tuple[type[BaseException], ...]:
    return tuple(sys.modules[name].APIStatusError for name in _SDKS if name in sys.modules)


def _sdk_errors() -> tuple[type[BaseException], ...]:
    return _connection_errors() + _status_errors()


def status_of(error: BaseException) -> int | None:
    return getattr(error, "status_code", None) if isinstance(error, _status_errors()) else None


def is_transient(error: BaseException) -> bool:
    status = status_of(error)
    if status is not None:
        return (status in (408, 409, 429) or status >= 500) and not _is_quota(error)
    return isinstance(error, _connection_errors())


def _is_quota(error: BaseException) -> bool:
    body = getattr(error, "body", None)
    text = str(body) if body is not None else str(error)
    return "insufficient_quota" in text or "credit balance" in text


@dataclass(frozen=True)
class Endpoint:
    """Who a client talks to, as error messages name it."""

    provider: str
    where: str  # the base URL, or the provider's own host
    key_env: str | None  # the environment variable the key came from

    def key_note(self) -> str:
        return f" (the key in {self.key_env})" if self.key_env else ""


def call(endpoint: Endpoint, what: str, fn: Callable[[], T], *, retry: bool = True) -> T:
    """``fn()`` with transient failures retried (unless ``retry`` is False, for calls that are not
    safe to repeat) and every failure translated."""
    retrying = Retrying(
        stop=stop_after_attempt(CONTROL_ATTEMPTS if retry else 1),
        wait=wait_exponential_jitter(multiplier=0.5, max=8),
        retry=retry_if_exception(is_transient),
        reraise=True,
    )
    try:
        return retrying(fn)
    except _sdk_errors() as error:
        raise translate(error, endpoint, what) from None


def translate(error: BaseException, endpoint: Endpoint, what: str) -> ProviderError:
    status = status_of(error)
    message = redact(_message(error))
    provider, where = endpoint.provider, endpoint.where
    if status in (401, 403):
        return AuthError(
            f"{provider} ({where}) rejected the API key{endpoint.key_note()} while trying to {what}: "
            f"{status} {message}",
            status,
        )
    if status is None:
        return ProviderError(f"cannot reach {provider} at {where} to {what}: {message}")
    if _is_quota(error):
        return ProviderError(
            f"{provider} ({where}): the account has no quota or credit left ({status} {message})", status
        )
    return ProviderError(f"{provider} ({where}) failed to {what}: {status} {message}", status)


def _message(error: BaseException) -> str:
    body: Any = getattr(error, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return str(getattr(error, "message", None) or error) or type(error).__name__


@contextmanager
def translated(endpoint: Endpoint, what: str) -> Iterator[None]:
    """SDK exceptions raised in the block become batchspec errors (no retry: for streams)."""
    import httpx2  # the SDKs' HTTP client: loaded with them

    try:
        yield
    except _sdk_errors() as error:
        raise translate(error, endpoint, what) from None
    except httpx2.HTTPError as error:  # the body stream broke after the SDK handed it over
        message = redact(str(error)) or type(error).__name__
        raise ProviderError(
            f"{endpoint.provider} ({endpoint.where}): the connection broke while trying to {what}: {message}"
        ) from None


def openai_client(
    model: ModelSpec, *, provider: str = "openai", base_url: str | None = None, asynchronous: bool = False
) -> tuple[Any, Endpoint]:
    """An OpenAI SDK client with its own retries off (ours apply), and how messages name it."""
    url = base_url or model.base_url
    endpoint = Endpoint(provider, url or "api.openai.com", model.api_key_env)
    import openai

    factory = openai.AsyncOpenAI if asynchronous else openai.OpenAI
    key = api_key(provider, model.api_key_env, url)
    return factory(api_key=key, base_url=url, max_retries=0, timeout=600 if asynchronous else 120), endpoint


def anthropic_client(model: ModelSpec, *, asynchronous: bool = False) -> tuple[Any, Endpoint]:
    """An Anthropic SDK client with its own retries off (ours apply), and how messages name it."""
    endpoint = Endpoint("anthropic", model.base_url or "api.anthropic.com", model.api_key_env)
    import anthropic

    factory = anthropic.AsyncAnthropic if asynchronous else anthropic.Anthropic
    key = api_key("anthropic", model.api_key_env, model.base_url)
    return factory(api_key=key, base_url=model.base_url, max_retries=0, timeout=600 if asynchronous else 120), endpoint

"""API keys: read from the environment variable the spec names, and never shown anywhere."""

from __future__ import annotations

import os
import re

from batchspec.errors import KeyUnusable

_SECRETS: set[str] = set()
PLACEHOLDER = "no-key-needed"  # for OpenAI-compatible servers that take no key


def api_key(provider: str, env_var: str | None, base_url: str | None) -> str:
    """The key in ``env_var``; a server given by ``base_url`` may need none."""
    value = os.environ.get(env_var, "") if env_var else ""
    if value and any(ch.isspace() for ch in value):
        # A key pasted with its newline fails much later as "Connection error": say it now, value unshown.
        raise KeyUnusable(
            f"{provider}: the API key in the environment variable {env_var} has whitespace in it "
            f"(a trailing newline or space from copying it?); set it again without"
        )
    if value:
        remember_secret(value)
        return value
    if base_url:
        return PLACEHOLDER
    raise KeyUnusable(
        f"{provider}: no API key: the environment variable {env_var} is not set "
        f"(set it, or name another with model.api_key_env)"
    )


def remember_secret(value: str) -> None:
    if len(value) >= 8:
        _SECRETS.add(value)


def redact(text: str) -> str:
    """``text`` with every known key, and anything shaped like a provider key, blanked out."""
    for secret in _SECRETS:
        text = text.replace(secret, "[redacted]")
    return re.sub(r"\b(sk-[A-Za-z0-9_-]{3})[A-Za-z0-9_*-]{8,}", r"\1…[redacted]", text)

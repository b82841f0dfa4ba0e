"""`provider: fake`: OpenAI's wire format, answered by the built-in fake API server (offline)."""

from __future__ import annotations

from batchspec.providers.openai import OpenAIProvider


class FakeProvider(OpenAIProvider):
    name = "fake"
    default_api_key_env = None

"""OpenAI chat completions, one request at a time, with the async SDK (sync mode)."""

from __future__ import annotations

from typing import Any

import openai
import orjson

from batchspec.providers.credentials import api_key
from batchspec.providers.openai_batch import chat_outcome
from batchspec.providers.sdkcalls import Endpoint
from batchspec.providers.sync_common import SyncAnswer, error_answer, split_kwargs
from batchspec.spec.model import ModelSpec


class OpenAISyncClient:
    def __init__(self, model: ModelSpec, *, provider: str = "openai", base_url: str | None = None) -> None:
        self.provider = provider
        url = base_url or model.base_url
        self.where = url or "api.openai.com"
        self.endpoint = Endpoint(self.provider, self.where, model.api_key_env)
        self.client = openai.AsyncOpenAI(
            api_key=api_key(provider, model.api_key_env, url), base_url=url, max_retries=0, timeout=600
        )
        self._create = self.client.chat.completions.with_raw_response.create

    async def send(self, custom_id: str, body: dict[str, Any]) -> SyncAnswer:
        known, extra = split_kwargs(self.client.chat.completions.create, body)
        try:
            raw = await self._create(**known, extra_body=extra or None)
        except (openai.APIError, openai.APIConnectionError) as error:
            return error_answer(error, custom_id, self.endpoint)
        return SyncAnswer(chat_outcome(custom_id, orjson.loads(raw.content)), dict(raw.headers))

    async def close(self) -> None:
        await self.client.close()

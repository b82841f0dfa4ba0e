"""Anthropic messages, one request at a time, with the async SDK (sync mode)."""

from __future__ import annotations

from typing import Any

import anthropic
import orjson

from batchspec.providers.anthropic_batch import message_outcome
from batchspec.providers.sdkcalls import anthropic_client
from batchspec.providers.sync_common import SyncAnswer, error_answer, split_kwargs
from batchspec.spec.model import ModelSpec


class AnthropicSyncClient:
    def __init__(self, model: ModelSpec, *, timeout: float) -> None:
        self.client, self.endpoint = anthropic_client(model, asynchronous=True)
        self.timeout = timeout  # execution.request_timeout

    async def send(self, custom_id: str, body: dict[str, Any]) -> SyncAnswer:
        # temperature & co. are not arguments of this SDK's messages.create: they go as extra_body.
        known, extra = split_kwargs(self.client.messages.create, body)
        try:
            # An explicit timeout: without one the SDK refuses large max_tokens unless streaming.
            raw = await self.client.messages.with_raw_response.create(
                **known, extra_body=extra or None, timeout=self.timeout
            )
        except (anthropic.APIError, anthropic.APIConnectionError) as error:
            return error_answer(error, custom_id, self.endpoint, self.timeout)
        return SyncAnswer(message_outcome(custom_id, orjson.loads(await raw.read())), dict(raw.headers))

    async def close(self) -> None:
        await self.client.close()

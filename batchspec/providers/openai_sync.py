"""OpenAI chat completions (or embeddings), one request at a time, with the async SDK (sync mode)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import orjson

from batchspec.providers.openai_batch import answer_outcome
from batchspec.providers.sdkcalls import Endpoint, openai_client
from batchspec.providers.sync_common import SyncAnswer, error_answer, split_kwargs
from batchspec.spec.model import ModelSpec


class OpenAISyncClient:
    def __init__(
        self,
        model: ModelSpec,
        *,
        timeout: float,
        provider: str = "openai",
        base_url: str | None = None,
        endpoint: str = "chat",
        connect: Callable[..., tuple[Any, Endpoint]] = openai_client,
    ) -> None:
        self.client, self.endpoint = connect(model, provider=provider, base_url=base_url, asynchronous=True)
        self.client = self.client.with_options(timeout=timeout)  # execution.request_timeout
        self.timeout = timeout
        resources = {"embeddings": self.client.embeddings, "responses": self.client.responses}
        resource: Any = resources.get(endpoint, self.client.chat.completions)
        self._create = resource.with_raw_response.create
        self._signature = resource.create

    async def send(self, custom_id: str, body: dict[str, Any]) -> SyncAnswer:
        known, extra = split_kwargs(self._signature, body)
        try:
            raw = await self._create(**known, extra_body=extra or None)
        except (openai.APIError, openai.APIConnectionError) as error:
            return error_answer(error, custom_id, self.endpoint, self.timeout)
        return SyncAnswer(answer_outcome(custom_id, orjson.loads(raw.content)), dict(raw.headers))

    async def close(self) -> None:
        await self.client.close()

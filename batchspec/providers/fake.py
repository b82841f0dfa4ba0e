"""`provider: fake`: OpenAI's wire format, answered by a fake API server started in this process.

It makes the whole path (render → SDK → HTTP → results → state → sinks) runnable offline, for the
quickstart and for trying a spec. Its batches are kept in a journal file beside the state
(``<job>.fake.jsonl``), so they outlive the process like a real provider's: after `kill -9` or
`run --no-wait`, the next run finds and collects them. A batch it no longer knows (the journal was
deleted) is re-sent rather than treated as an error. Set ``BATCHSPEC_FAKE_CONFIG`` to a YAML file
of ``FakeConfig`` settings to inject faults or delays.
"""

from __future__ import annotations

import atexit
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from batchspec.errors import InputError

if TYPE_CHECKING:
    from batchspec.fakeapi import FakeAPI
from batchspec.providers.base import BatchClient, SyncClient
from batchspec.providers.openai import CHAT_COMPLETIONS, OpenAIProvider
from batchspec.spec.model import ModelSpec

_lock = threading.Lock()
_server: FakeAPI | None = None
_journal: Path | None = None


def keep_batches_in(path: Path) -> None:
    """Where the in-process server keeps its batches (call before it starts: the first client)."""
    global _journal
    _journal = path


def journal_path(state_path: Path) -> Path:
    return state_path.with_name(f"{state_path.stem}.fake.jsonl")


def in_process_server() -> FakeAPI:
    """The process's fake API server, started on first use."""
    global _server
    from batchspec.fakeapi import FakeAPI, FakeConfig

    with _lock:
        if _server is None:
            config = FakeConfig(processing_seconds=0.05)
            path = os.environ.get("BATCHSPEC_FAKE_CONFIG")
            if path:
                try:
                    config = FakeConfig.from_dict(yaml.safe_load(Path(path).read_text("utf-8")) or {})
                except (OSError, ValueError, TypeError, yaml.YAMLError) as error:
                    raise InputError(f"BATCHSPEC_FAKE_CONFIG ({path}): {error}") from None
            _server = FakeAPI(config, journal=_journal).start()
            atexit.register(_server.stop)
        return _server


class FakeProvider(OpenAIProvider):
    name = "fake"
    default_api_key_env = None
    ephemeral = True
    spec_keys: frozenset[str] = frozenset()
    builtin_prices = True

    def routes_by_cache_key(self, model: ModelSpec) -> bool:
        return True  # the fake speaks OpenAI's API, prompt_cache_key included

    def batch_client(self, model: ModelSpec, job: str, *, probe: bool = False) -> BatchClient:
        from batchspec.providers.openai_batch import OpenAIBatchClient

        url = model.base_url or in_process_server().openai_base_url
        return OpenAIBatchClient(model, job, provider="fake", endpoint=CHAT_COMPLETIONS, base_url=url, probe=probe)

    def sync_client(self, model: ModelSpec, *, timeout: float) -> SyncClient:
        from batchspec.providers.openai_sync import OpenAISyncClient

        url = model.base_url or in_process_server().openai_base_url
        return OpenAISyncClient(model, provider="fake", base_url=url, timeout=timeout)

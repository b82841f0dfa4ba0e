"""Configuration of a fake API server: limits, timing, and the faults it injects.

Both dataclasses stay mutable on a running server: handlers read them on every request, so a test
can flip ``api.config.faults.server_error = 1.0`` between two calls. Batch-level settings are
copied into a batch when it is created, so a batch keeps the behaviour it was created with.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class FaultConfig:
    """What goes wrong, and how often (rates are probabilities from 0 to 1).

    Which request gets a fault is a pure function of ``seed``, the request's key (``custom_id`` in
    batches, a hash of the body for sync calls) and how many times this server has seen that key,
    so runs are reproducible and a re-sent request can succeed.
    """

    seed: int = 0
    # Per-request outcomes inside batches.
    server_error: float = 0.0
    rate_limit: float = 0.0
    overloaded: float = 0.0
    context_length: float = 0.0
    content_policy: float = 0.0
    missing_rate: float = 0.0
    malformed_rate: float = 0.0
    # Transient faults (and missing/malformed lines, batch-level faults) hit only the first
    # attempt of a key; later attempts succeed.
    retry_succeeds: bool = True
    # context_length / content_policy depend on the request body, not the attempt: re-sending the
    # same prompt fails the same way, as it does at the real providers.
    sticky_permanent: bool = True
    # Batch-level faults.
    fail_validation: bool = False
    expire_after_fraction: float | None = None
    cancel_after_fraction: float | None = None
    slow_processing: float = 0.0  # extra seconds every batch takes
    # Sync endpoints.
    sync_rate_limit: float = 0.0  # 429 with retry-after
    sync_server_error: float = 0.0  # 500
    sync_unavailable: float = 0.0  # 503
    sync_overloaded: float = 0.0  # Anthropic 529 (OpenAI answers 503)
    sync_context_length: float = 0.0
    sync_content_policy: float = 0.0
    latency_seconds: float = 0.0  # added to every sync answer
    sync_slow_rate: float = 0.0  # share of sync answers delayed by sync_slow_seconds
    sync_slow_seconds: float = 5.0
    retry_after_seconds: float = 1.0  # advertised on injected 429/529/503
    insufficient_quota: bool = False  # OpenAI 429 insufficient_quota / Anthropic low credit
    broken_downloads: int = 0  # the next N result downloads are cut off mid-body
    sync_hang_ups: int = 0  # the next N sync requests get no answer: the connection just closes
    static_batch_id: str | None = None  # every OpenAI batch created gets this id (as a naive mock server does)

    def batch_request_rates(self) -> dict[str, float]:
        return {
            "server_error": self.server_error,
            "rate_limit": self.rate_limit,
            "overloaded": self.overloaded,
            "context_length": self.context_length,
            "content_policy": self.content_policy,
        }

    def sync_rates(self) -> dict[str, float]:
        return {
            "rate_limit": self.sync_rate_limit,
            "server_error": self.sync_server_error,
            "unavailable": self.sync_unavailable,
            "overloaded": self.sync_overloaded,
            "context_length": self.sync_context_length,
            "content_policy": self.sync_content_policy,
        }


@dataclass
class FakeConfig:
    """Server-wide settings. Limits default to the conservative figures in REFERENCE.md."""

    required_api_key: str | None = None  # None: any non-empty key is accepted
    processing_seconds: float = 0.2  # 0: a batch finishes on the first look after creation
    min_cache_tokens: int = 1024
    openai_cache_ttl_seconds: float = 600.0
    # Sync rate limits (token buckets refilled continuously over 60 s).
    rpm: int = 30_000
    tpm: int = 150_000_000
    anthropic_output_tpm: int | None = None  # None: same as tpm
    max_context_tokens: int = 200_000
    known_models: tuple[str, ...] | None = None  # None: every model name exists
    openai_max_requests: int = 50_000
    openai_max_file_bytes: int = 100 * 1024 * 1024
    anthropic_max_requests: int = 10_000
    # Batch queues. OpenAI: input tokens enqueued per model (validating, in progress, finalizing);
    # past it a batch fails validation with token_limit_exceeded. Anthropic: requests processing in
    # the organization's batches; past it a create is refused with 429. None: unlimited.
    openai_enqueued_tokens: int | None = None
    anthropic_queued_requests: int | None = None
    anthropic_max_bytes: int = 256 * 1024 * 1024
    ledger_path: str | Path | None = None
    organization: str = "org-fake"
    verbose: bool = False
    faults: FaultConfig = field(default_factory=FaultConfig)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FakeConfig:
        """Build from plain data (a YAML file), with ``faults`` as a nested mapping."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fake server settings: {sorted(unknown)}")
        values = dict(data)
        faults = values.pop("faults", None) or {}
        fault_fields = {f.name for f in dataclasses.fields(FaultConfig)}
        if set(faults) - fault_fields:
            raise ValueError(f"unknown fault settings: {sorted(set(faults) - fault_fields)}")
        if values.get("known_models") is not None:
            values["known_models"] = tuple(values["known_models"])
        return cls(**values, faults=FaultConfig(**faults))

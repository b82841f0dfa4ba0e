"""The validated job spec as frozen dataclasses: nothing downstream reads the raw YAML."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batchspec.errors import Diagnostic
from batchspec.pricing.table import Price
from batchspec.spec.yamlsrc import Locator
from batchspec.spec.yamlsrc import Path as KeyPath
from batchspec.state.remote import RemoteLocation

DEFAULT_REQUEST_TIMEOUT = 120.0
FLEX_REQUEST_TIMEOUT = 900.0  # OpenAI: flex requests may take up to 15 minutes


@dataclass(frozen=True)
class InputSpec:
    path: str  # as written in the spec (a file or a glob)
    resolved: Path  # absolute; for globs, the pattern made absolute
    format: str  # jsonl | csv | tsv | parquet | text
    id: str | None  # a field name, a Jinja expression, or None for the default
    limit: int | None = None
    encoding: str = "utf-8"
    delimiter: str | None = None  # CSV/TSV only; None: ',' for CSV, a tab for TSV

    @property
    def id_is_template(self) -> bool:
        return self.id is not None and ("{{" in self.id or "{%" in self.id)


@dataclass(frozen=True)
class TemplateSource:
    """A Jinja template and where its text starts, so template errors can name a spec line."""

    text: str
    file: str  # the spec, or the template file for user_file
    line: int  # line of the template's first line in ``file``
    key: str  # dotted spec path, e.g. prompt.user
    column: int = 1


@dataclass(frozen=True)
class MessageTemplate:
    role: str  # system | user | assistant
    content: TemplateSource
    cache: bool = False  # the stable prefix that prompt caching reuses ends here


@dataclass(frozen=True)
class PromptSpec:
    messages: tuple[MessageTemplate, ...]
    embed: bool = False  # prompt.input: the one "user" message is the text to embed


@dataclass(frozen=True)
class ModelSpec:
    provider: str
    name: str
    label: str
    params: Mapping[str, Any] = field(default_factory=dict)
    extra_params: Mapping[str, Any] = field(default_factory=dict)
    base_url: str | None = None
    api_key_env: str | None = None
    response_schema: Mapping[str, Any] | None = None
    endpoint: str = "chat"  # OpenAI: chat | embeddings | responses
    options: Mapping[str, Any] = field(default_factory=dict)  # keys only one provider takes (Provider.spec_keys)


@dataclass(frozen=True)
class RateLimits:
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None


@dataclass(frozen=True)
class ExecutionSpec:
    mode: str = "batch"
    max_requests_per_batch: int | None = None  # None: the provider's default
    max_bytes_per_batch: int | None = None
    max_concurrent_batches: int = 4
    poll_interval: float = 60.0
    unreachable_after: float = 60.0  # sync mode: a provider silent this long stops the run
    request_timeout: float | None = None  # sync mode: seconds one request may wait (see request_timeout_for)
    max_attempts: int = 3
    rate_limits: RateLimits = RateLimits()
    concurrency: int = 32
    max_cost_usd: float | None = None
    # The batch queue's enqueued-token limit: by model name or label ("*" for every model).
    max_enqueued_tokens: Mapping[str, int] = field(default_factory=dict)
    deadline: float | None = None  # seconds from the first submission of the current work

    def request_timeout_for(self, model: ModelSpec) -> float:
        """The set timeout, else 120 s, or 15 minutes for OpenAI flex processing (slow by design)."""
        if self.request_timeout is not None:
            return self.request_timeout
        flex = {**model.params, **model.extra_params}.get("service_tier") == "flex"
        return FLEX_REQUEST_TIMEOUT if flex else DEFAULT_REQUEST_TIMEOUT

    def enqueued_token_limit(self, model: ModelSpec) -> int | None:
        limits = self.max_enqueued_tokens
        return limits.get(model.label, limits.get(model.name, limits.get("*")))


@dataclass(frozen=True)
class CacheSpec:
    prompt_caching: bool = False
    ttl: str = "5m"
    responses: bool = False
    responses_path: Path | None = None
    read_shared: bool = True  # False: an untrusted spec's plan reads no response cache file at all


@dataclass(frozen=True)
class OutputSpec:
    path: Path
    format: str
    errors_path: Path
    errors_format: str
    include: tuple[str, ...] | None = None


@dataclass(frozen=True)
class RemoteStateSpec:
    """A state kept in S3: ``JobSpec.state_path`` is then the run's local working copy of it."""

    location: RemoteLocation
    lock_expiry: float = 900.0  # seconds without a heartbeat before a runner's lock may be taken over

    @property
    def url(self) -> str:
        return self.location.url


@dataclass(frozen=True)
class JobSpec:
    name: str
    spec_path: Path
    input: InputSpec
    prompt: PromptSpec
    models: tuple[ModelSpec, ...]
    output: OutputSpec
    state_path: Path
    execution: ExecutionSpec = ExecutionSpec()
    remote_state: RemoteStateSpec | None = None
    cache: CacheSpec = CacheSpec()
    pricing: Mapping[str, Price] = field(default_factory=dict)
    description: str = ""
    version: int = 1
    warnings: tuple[Diagnostic, ...] = field(default=(), compare=False)
    notes: tuple[Diagnostic, ...] = field(default=(), compare=False)  # adjustments `validate` reports
    fingerprint: str = field(default="", compare=False)  # changes when the spec's content does
    # Where each key was written, for errors found after loading (template, records).
    locator: Locator | None = field(default=None, compare=False, repr=False)

    @property
    def base_dir(self) -> Path:
        return self.spec_path.parent

    def model(self, label: str) -> ModelSpec:
        for model in self.models:
            if model.label == label:
                return model
        raise KeyError(label)

    def where(self, path: KeyPath) -> str:
        """``job.yaml:12:7`` for a spec key, for messages that point at the spec."""
        if self.locator is None:
            return str(self.spec_path)
        position = self.locator.value(path)
        return f"{self.locator.file}:{position.line}:{position.column}"

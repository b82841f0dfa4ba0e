"""What every provider adapter provides: request format, limits and (for running) a client."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, cast

from batchspec.outcomes import Outcome

if TYPE_CHECKING:
    from batchspec.providers.sync_common import SyncAnswer
    from batchspec.spec.model import CacheSpec, ModelSpec


PROBE_TIMEOUT = 15.0  # seconds: a probe (plan's look at the provider) must not hang


@dataclass(frozen=True)
class RenderedMessage:
    role: str  # system | user | assistant
    content: str
    cache: bool = False  # end of the stable prefix to mark for prompt caching


@dataclass(frozen=True)
class BatchLimits:
    max_requests: int  # conservative default (REFERENCE.md)
    max_bytes: int
    hard_max_requests: int  # the provider's documented maximum; a spec may not exceed it
    hard_max_bytes: int


class Provider(Protocol):
    name: str
    wire: str  # the API dialect: "openai" or "anthropic"
    default_api_key_env: str | None
    limits: BatchLimits
    known_params: frozenset[str]
    required_params: frozenset[str]
    batch_file_suffix: str  # how `plan --emit` names a batch payload file
    ephemeral: bool  # the provider forgets its batches when this process ends (the in-process fake)
    spec_keys: frozenset[str]  # model keys of the spec only this provider takes (azure_endpoint, ...)
    builtin_prices: bool  # the built-in price table applies (not where prices vary by contract: Azure)

    def build_body(
        self, model: ModelSpec, messages: tuple[RenderedMessage, ...], cache: CacheSpec, *, cache_key: str | None
    ) -> dict[str, Any]:
        """The exact synchronous request body for one record; ``cache_key`` identifies its stable prefix."""
        ...

    def batch_entry(self, custom_id: str, body_json: bytes) -> bytes:
        """One request of a batch payload, as JSON bytes (``body_json`` is the body's JSON)."""
        ...

    def write_batch_payload(self, out: BinaryIO, entries: Iterable[bytes]) -> None:
        """Write the whole batch payload, as the provider receives it, to ``out``."""
        ...

    def batch_client(self, model: ModelSpec, job: str, *, probe: bool = False) -> BatchClient:
        """A client for ``model``'s batches; raises AuthError without a usable key. A ``probe`` (plan's
        look at the provider) gives up at once instead of retrying, and waits less for answers."""
        ...

    def sync_client(self, model: ModelSpec, *, timeout: float) -> SyncClient:
        """An async client for ``model``'s synchronous API (sync mode)."""
        ...

    def require_credentials(self, model: ModelSpec) -> None:
        """Raise KeyUnusable when ``run`` would find no usable credentials (validate's check)."""
        ...


@dataclass(frozen=True)
class BatchError:
    """Why a provider failed a batch as a whole (OpenAI ``errors.data``); ``line`` blames one request."""

    code: str
    message: str
    line: int | None = None  # 1-based line of the batch's input file

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" + (f" (line {self.line})" if self.line else "")


@dataclass(frozen=True)
class BatchInfo:
    """What a provider says about a batch, in provider-neutral terms."""

    provider_batch_id: str
    status: str  # the provider's own status word
    ended: bool  # nothing will change any more: results can be collected
    counts: dict[str, int] = field(default_factory=dict)
    timestamps: dict[str, str | None] = field(default_factory=dict)  # batches table column → ISO 8601
    input_file_id: str | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: tuple[BatchError, ...] = ()  # why a batch failed as a whole
    failed: bool = False  # failed as a whole (validation): no per-request results
    created_at: float = 0.0  # Unix seconds
    total: int = 0  # requests in the batch
    job: str | None = None  # the job that sent it, where the provider keeps metadata that says
    key: str | None = None  # the local key of the submission that created it, likewise


@dataclass(frozen=True)
class Lookup:
    """What the provider says of a submission whose answer was lost."""

    found: BatchInfo | None = None  # the batch it created
    undecided: int = 0  # batches that may be it, whose requests cannot be read yet (still running)


class BatchClient(Protocol):
    """One provider account and model, as the runner uses it in batch mode."""

    def submit(self, local_key: str, payload: BinaryIO, count: int, on_upload: Callable[[str], None]) -> BatchInfo:
        """Create a batch from ``payload`` (a rewound binary file); ``on_upload`` records an uploaded
        file id first."""
        ...

    def find(self, local_key: str, not_before: str, count: int, known: set[str], wire_ids: set[str]) -> Lookup:
        """The batch an interrupted ``submit`` of ``wire_ids`` may have created: found only on evidence
        that it is that submission (metadata, or the ids its results carry), never on time and size."""
        ...

    def scan(self, since: float, job: str) -> Iterator[BatchInfo]:
        """The account's batches created since ``since`` (Unix seconds, 0: as far back as results are
        kept), newest first, bounded; where metadata says which job sent a batch, only ``job``'s."""
        ...

    def input_ids(self, info: BatchInfo) -> Generator[str, None, None] | None:
        """The wire ids of a batch's input, in input order (line 1 first), where the provider keeps
        the input as a file (OpenAI); None where it does not (Anthropic)."""
        ...

    def request_ids(self, info: BatchInfo) -> Generator[str, None, None] | None:
        """The wire ids of a batch's requests, or None while the provider cannot tell (a running
        Anthropic batch). Reading can stop early: closing the iterator closes the download."""
        ...

    def retrieve(self, provider_batch_id: str) -> BatchInfo: ...

    def outcomes(self, info: BatchInfo) -> Iterator[Outcome | None]:
        """Every result line of an ended batch; None for a line that cannot be read."""
        ...

    def cancel(self, provider_batch_id: str) -> BatchInfo: ...

    def discard_upload(self, input_file_id: str) -> None:
        """Delete an uploaded input file that no batch uses (after an interrupted submit)."""
        ...

    def close(self) -> None: ...


class SyncClient(Protocol):
    """One provider account and model, one request at a time (sync mode)."""

    async def send(self, custom_id: str, body: dict[str, Any]) -> SyncAnswer: ...

    async def close(self) -> None: ...


PAYLOAD_IN_MEMORY = 1 << 20  # a payload larger than this is spooled to disk while it is written


def batch_payload(provider: Provider, entries: Iterable[bytes]) -> BinaryIO:
    """A batch payload in a spooled temporary file, rewound: a 100 MB payload is written to disk
    as ``entries`` stream and uploaded from there, never held whole. The caller closes it."""
    spool = tempfile.SpooledTemporaryFile(max_size=PAYLOAD_IN_MEMORY, prefix="batchspec-payload-")  # noqa: SIM115
    try:
        provider.write_batch_payload(cast(BinaryIO, spool), entries)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return spool  # type: ignore[return-value]  # a SpooledTemporaryFile is a binary file

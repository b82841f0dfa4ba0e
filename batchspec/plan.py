"""Plan a job: render every record, diff against the state, split the work into batches, estimate.

``build_plan`` streams the input once; the rendered requests go to a scratch SQLite file and
their bodies to a spool file beside it (see ``state.staging``), so memory stays flat however many
records there are.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from batchspec.errors import InputError
from batchspec.pricing import Usage, cost, expected_usage, price_of, uncached_sync_cost
from batchspec.providers import BatchLimits, provider_for
from batchspec.render import Renderer
from batchspec.sources import source_for
from batchspec.spec.checks import duplicate_message
from batchspec.spec.model import JobSpec, ModelSpec
from batchspec.state import responses
from batchspec.state.staging import SEND_CATEGORIES, ItemRow, Staging
from batchspec.state.store import StateStore
from batchspec.tokens import output_token_budget
from batchspec.wireid import job_tag, wire_id

CATEGORIES = ("new", "changed", "pending", "retryable", "cached", "done", "failed", "in_flight", "removed")
CHUNK = 2000
ENTRY_SEPARATOR = 2  # bytes between payload entries ("\n" or ",\n")
PAYLOAD_WRAPPER = 32  # bytes around the entries (Anthropic's {"requests":[...]})


@dataclass(frozen=True)
class BatchSlice:
    requests: int
    size: int  # bytes


class OversizedRequest(Exception):
    """A request no batch can hold; ``index`` is its place among the requests split."""

    def __init__(self, index: int, size: int) -> None:
        super().__init__(index, size)
        self.index = index
        self.size = size


@dataclass
class ModelPlan:
    model: ModelSpec
    limits: BatchLimits
    counts: dict[str, int] = field(default_factory=dict)
    send_bytes: int = 0
    send_input_tokens: int = 0
    output_budget: int | None = None  # max output tokens per request, when params say
    batches: list[BatchSlice] = field(default_factory=list)
    usage: Usage = Usage()  # expected, prompt caching included
    cost_batch: float | None = None
    cost_sync: float | None = None
    cost_uncached_sync: float | None = None  # what plain synchronous calls would cost

    def cost_for(self, mode: str) -> float | None:
        return self.cost_batch if mode == "batch" else self.cost_sync

    @property
    def to_send(self) -> int:
        return sum(self.counts.get(c, 0) for c in SEND_CATEGORIES)

    @property
    def output_tokens(self) -> int | None:
        return None if self.output_budget is None else self.output_budget * self.to_send


@dataclass
class Plan:
    spec: JobSpec
    staging: Staging
    records: int = 0
    models: list[ModelPlan] = field(default_factory=list)

    @property
    def has_work(self) -> bool:
        return any(m.to_send for m in self.models)

    def close(self) -> None:
        self.staging.close()

    def __enter__(self) -> Plan:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.spec.name,
            "records": self.records,
            "has_work": self.has_work,
            "models": [
                {
                    "model": m.model.label,
                    "provider": m.model.provider,
                    "name": m.model.name,
                    "counts": {c: m.counts.get(c, 0) for c in CATEGORIES},
                    "to_send": m.to_send,
                    "bytes": m.send_bytes,
                    "batches": [{"requests": b.requests, "bytes": b.size} for b in m.batches],
                    "limits": {"max_requests": m.limits.max_requests, "max_bytes": m.limits.max_bytes},
                    "estimated_input_tokens": m.send_input_tokens,
                    "estimated_output_tokens_max": m.output_tokens,
                    "estimated_cache_read_tokens": m.usage.cache_read_tokens,
                    "estimated_cache_write_tokens": m.usage.cache_write_tokens,
                    "estimated_cost_usd": {
                        "batch": m.cost_batch,
                        "sync": m.cost_sync,
                        "uncached_sync": m.cost_uncached_sync,
                    },
                }
                for m in self.models
            ],
        }


def limits_for(spec: JobSpec, model: ModelSpec) -> BatchLimits:
    default = provider_for(model).limits
    return BatchLimits(
        max_requests=spec.execution.max_requests_per_batch or default.max_requests,
        max_bytes=spec.execution.max_bytes_per_batch or default.max_bytes,
        hard_max_requests=default.hard_max_requests,
        hard_max_bytes=default.hard_max_bytes,
    )


def build_plan(spec: JobSpec, *, keep_bodies: bool = False) -> Plan:
    """Stream, render and diff the whole input. Close the returned plan (it is a context manager)."""
    staging = open_staging(spec)
    plan = Plan(spec, staging)
    try:
        with staging.scratch_errors():  # sorts and indexes spill to $TMPDIR too
            _fill(plan, spec, staging, keep_bodies)
    except BaseException:
        plan.close()
        raise
    return plan


def _fill(plan: Plan, spec: JobSpec, staging: Staging, keep_bodies: bool) -> None:
    plan.records = _stage(spec, staging, keep_bodies)
    staging.finish()
    check_ids(spec, staging)
    counts = list(staging.counts())
    removed = staging.removed()
    counts += [{"model": m, "category": "removed", "requests": n, "bytes": 0, "tokens": 0} for m, n in removed.items()]
    plan.models = [_model_plan(spec, staging, model, counts) for model in spec.models]


def open_staging(spec: JobSpec) -> Staging:
    """The plan's scratch tables, with the job's state (checked like every command checks it) and
    the response cache attached read-only."""
    state = StateStore.read(spec.state_path, spec.name)  # a foreign, damaged or newer state: StateError
    if state is not None:
        state.close()
    if not spec.cache.responses:
        return Staging(spec.state_path)
    shared = responses.cache_path(spec.cache.responses_path) if spec.cache.read_shared else None
    return Staging(spec.state_path, shared, cache=True)


def _stage(spec: JobSpec, staging: Staging, keep_bodies: bool) -> int:
    """Render every record into the staging table, a chunk at a time; returns the record count."""
    records = 0
    for records_so_far, rows, bodies in _rendered_chunks(spec, keep_bodies):
        staging.add(rows, bodies)
        records = records_so_far
    return records


def _rendered_chunks(spec: JobSpec, keep_bodies: bool) -> Iterator[tuple[int, list[ItemRow], list[bytes] | None]]:
    """(records so far, their staging rows, the request bodies if kept) a chunk of records at a time."""
    source = source_for(spec)
    renderer = Renderer(spec)
    ordinal = 0
    records = source.records()
    while chunk := list(islice(records, CHUNK)):
        rows: list[ItemRow] = []
        bodies: list[bytes] | None = [] if keep_bodies else None
        for position, record in chunk:
            ordinal += 1
            # The record's place is worked out only when the fast path cannot render it.
            requests = renderer.try_fast(record) or renderer.general_requests(record, source.where(position))
            for model, custom_id, record_id, body, request_hash, size, tokens, prefix, problem in requests:
                rows.append(
                    (
                        ordinal,
                        model,
                        custom_id,
                        record_id if record_id != custom_id else None,
                        request_hash,
                        size + ENTRY_SEPARATOR,
                        tokens,
                        position,
                        prefix.digest,
                        prefix.tokens,
                        problem or None,
                    )
                )
                if bodies is not None:
                    bodies.append(body)
        yield ordinal, rows, bodies


def check_ids(spec: JobSpec, staging: Staging) -> None:
    """Record ids are unique and map to distinct custom_ids; raises InputError naming them."""
    if not staging.has_duplicate_custom_ids():
        return
    first = spec.models[0].label
    where = source_for(spec).where
    duplicates = staging.duplicate_record_ids(first, limit=11)
    if duplicates:
        raise InputError(duplicate_message(spec, [(rid, [where(p) for p in places]) for rid, places in duplicates]))
    collisions = staging.custom_id_collisions(first, limit=10)
    if collisions:
        lines = [f"{spec.where(('input', 'id'))}: input.id: these record ids map to the same custom_id:"]
        lines += [f"  {cid}: {', '.join(repr(r) for r in ids)}" for cid, ids in collisions]
        lines.append("  (ids that are not 1-64 of [A-Za-z0-9_-] are shortened with a hash; rename one of them)")
        raise InputError("\n".join(lines))


def _model_plan(spec: JobSpec, staging: Staging, model: ModelSpec, counts: list[dict[str, Any]]) -> ModelPlan:
    result = ModelPlan(model, limits_for(spec, model))
    for row in counts:
        if row["model"] != model.label:
            continue
        result.counts[row["category"]] = row["requests"]
        if row["category"] in SEND_CATEGORIES:
            result.send_bytes += row["bytes"]
            result.send_input_tokens += row["tokens"]
    # Embeddings produce no output tokens (a vector, billed on input only).
    result.output_budget = 0 if model.endpoint == "embeddings" else output_token_budget(model.params)
    try:
        result.batches = list(split_batches(staging.send_sizes(model.label), result.limits))
    except OversizedRequest as error:
        raise InputError(
            f"the request for custom_id {staging.send_custom_id(model.label, error.index)} is {error.size:,} bytes, "
            f"more than one batch may hold ({result.limits.max_bytes:,}); shorten that record or raise "
            "execution.max_bytes_per_batch"
        ) from None
    result.usage = expected_usage(
        result.send_input_tokens,
        result.output_tokens or 0,
        staging.prefixes(model.label),
        wire=provider_for(model).wire,
        prompt_caching=spec.cache.prompt_caching,
        batches=len(result.batches),
    )
    price = price_of(model, spec.pricing)
    if price is not None:
        result.cost_batch = cost(result.usage, price, batch=True, ttl=spec.cache.ttl)
        result.cost_sync = cost(result.usage, price, batch=False, ttl=spec.cache.ttl)
        result.cost_uncached_sync = uncached_sync_cost(result.usage, price)
    return result


def split_batches(sizes: Iterable[tuple[int]], limits: BatchLimits) -> Iterator[BatchSlice]:
    """Cut requests (rows of their payload bytes, in order) into batches within both the count and
    the byte limit. Raises OversizedRequest for a request no batch can hold."""
    count = size = 0
    for index, (nbytes,) in enumerate(sizes):
        if nbytes + PAYLOAD_WRAPPER > limits.max_bytes:
            raise OversizedRequest(index, nbytes)
        if count and (count >= limits.max_requests or size + nbytes + PAYLOAD_WRAPPER > limits.max_bytes):
            yield BatchSlice(count, size)
            count = size = 0
        count += 1
        size += nbytes
    if count:
        yield BatchSlice(count, size)


def emit(plan: Plan, directory: Path) -> list[Path]:
    """Write each batch's exact provider payload into ``directory``; returns the files written.
    Payload files from an earlier emit into the same directory are removed, so none is stale.
    The plan must have been built with ``keep_bodies=True`` (if it has anything to send)."""
    if plan.has_work and not plan.staging.kept_bodies:
        raise ValueError("emit needs the request bodies: build the plan with build_plan(spec, keep_bodies=True)")
    directory.mkdir(parents=True, exist_ok=True)
    for old in (
        *directory.glob("*-batch-[0-9][0-9][0-9][0-9].jsonl"),
        *directory.glob("*-batch-[0-9][0-9][0-9][0-9].json"),
    ):
        old.unlink()
    written = []
    tag = job_tag(plan.spec.name)
    for model_plan in plan.models:
        provider = provider_for(model_plan.model)
        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in model_plan.model.label)
        requests = plan.staging.send_bodies(model_plan.model.label)
        for n, batch in enumerate(model_plan.batches, 1):  # the split the plan shows, so they agree
            path = directory / f"{stem}-batch-{n:04d}{provider.batch_file_suffix}"
            with path.open("wb", buffering=1 << 20) as out:
                rows = islice(requests, batch.requests)
                entries = (provider.batch_entry(wire_id(tag, cid, rh), body) for cid, rh, body in rows)
                provider.write_batch_payload(out, entries)
            written.append(path)
    return written

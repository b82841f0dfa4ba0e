"""The provider as the second witness: this job's batches that the state does not know.

After a lost, rolled-back or damaged state (an evicted CI cache, an older copy), the batches an
earlier run sent are still at the provider. Before anything is sent, the account's recent batches
are listed and attributed with certainty (OpenAI: the batch's metadata names the job; every
provider: each request's wire id names the job and the exact request, see ``wireid``), and the
requests that are this input's current ones are adopted instead of being paid for again.

A running Anthropic batch cannot be attributed: it has no metadata and its ids can only be read
from its results. Such batches are counted, never guessed at.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field

from batchspec.errors import ProviderError
from batchspec.providers import BatchClient, BatchInfo, get_provider, provider_for
from batchspec.spec.model import JobSpec, ModelSpec
from batchspec.state.records import Request, requests_of
from batchspec.state.staging import Staging
from batchspec.state.values import number
from batchspec.wireid import belongs_to, custom_id_of, job_tag, wire_id

# (custom_ids, custom_id prefixes) → the matching current requests (model label, custom_id, hash)
Lookup = Callable[[list[str], list[str]], Iterable[Request]]


@dataclass
class Found:
    """A batch of this job that the state does not know."""

    info: BatchInfo
    requests: int  # this job's requests in it
    members: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)  # label → (custom_id, hash, wire)

    @property
    def current(self) -> int:
        """Its requests that are the current requests of this input's records."""
        return sum(len(m) for m in self.members.values())


@dataclass
class Scan:
    found: list[Found] = field(default_factory=list)
    undecided: int = 0  # running batches on the account that cannot be attributed until they end
    mark: float = 0.0  # every batch created before this has been looked at for good


def account_key(model: ModelSpec) -> str:
    """Models with the same key see the same account's batches."""
    return f"{model.provider}|{model.base_url or ''}|{model.api_key_env or ''}"


def accounts(spec: JobSpec) -> dict[str, list[ModelSpec]]:
    """The spec's models by provider account; the in-process fake keeps no batches to look at."""
    groups: dict[str, list[ModelSpec]] = {}
    for model in spec.models:
        if not get_provider(model.provider).ephemeral:
            groups.setdefault(account_key(model), []).append(model)
    return groups


def mark_key(account: str) -> str:
    """The state's meta key for how far back an account's batches have been looked at."""
    return f"provider_scan:{account}"


@dataclass
class Preview:
    """What `plan` saw at the provider: batches of this job the state does not know."""

    batches: int = 0
    requests: int = 0
    current: int = 0  # of those requests, the current requests of this input's records
    undecided: int = 0
    problems: list[str] = field(default_factory=list)  # accounts that could not be looked at, and why

    def to_dict(self) -> dict[str, object]:
        return {
            "batches": self.batches,
            "requests": self.requests,
            "current": self.current,
            "undecided": self.undecided,
            "problems": self.problems,
        }


def preview(spec: JobSpec, staging: Staging) -> Preview:
    """Look (read only, no retries) at each account for this job's batches the state does not know."""
    result = Preview()
    known = staging.known_provider_ids()

    def lookup(whole: list[str], starts: list[str]) -> Iterable[Request]:
        return requests_of(staging.db, whole, starts, run_id=None, table="items")

    for account, models in accounts(spec).items():
        since = number(staging.state_meta(mark_key(account)), f"table meta, {mark_key(account)}") or 0.0
        try:
            client = provider_for(models[0]).batch_client(models[0], spec.name, probe=True)
            try:
                found = scan(client, spec.name, job_tag(spec.name), since, known, lookup)
            finally:
                client.close()
        except ProviderError as error:
            if error.status not in (404, 405):  # 404: a server without a batch API has none of ours
                result.problems.append(str(error))
            continue
        result.batches += len(found.found)
        result.requests += sum(f.requests for f in found.found)
        result.current += sum(f.current for f in found.found)
        result.undecided += found.undecided
    return result


def scan(client: BatchClient, job: str, tag: str, since: float, known: set[str], lookup: Lookup) -> Scan:
    """This job's batches created since ``since`` that are not among ``known`` provider ids."""
    result = Scan(mark=since)
    undecided_since: float | None = None
    for info in client.scan(since, job):
        result.mark = max(result.mark, info.created_at)
        if info.provider_batch_id in known:
            continue
        ids = client.request_ids(info)
        if ids is None:
            result.undecided += 1
            undecided_since = info.created_at if undecided_since is None else min(undecided_since, info.created_at)
            continue
        found = _attribute(info, ids, tag, lookup)
        if found is not None:
            result.found.append(found)
    if undecided_since is not None:  # look at those again next time: they may have ended by then
        result.mark = min(result.mark, undecided_since)
    return result


def _attribute(info: BatchInfo, ids: Generator[str, None, None], tag: str, lookup: Lookup) -> Found | None:
    """The batch as this job's, or None when its first id shows it is another job's."""
    with contextlib.closing(ids):
        first = next(ids, None)
        if first is None or not belongs_to(first, tag):
            return None  # a batch is one job's: its first request says whose
        wires = [first, *(w for w in ids if belongs_to(w, tag))]
    found = Found(info, len(wires))
    for label, custom_id, request_hash, wire in match(wires, tag, lookup):
        found.members.setdefault(label, []).append((custom_id, request_hash, wire))
    return found


def match(wires: list[str], tag: str, lookup: Lookup) -> Iterator[tuple[str, str, str, str]]:
    """(label, custom_id, request_hash, wire) for each wire id that names a current request."""
    wanted = set(wires)
    whole: list[str] = []
    starts: set[str] = set()
    for wire in wires:
        custom_id, complete = custom_id_of(wire)
        if complete:
            whole.append(custom_id)
        else:
            starts.add(custom_id)
    seen: set[tuple[str, str]] = set()
    for label, custom_id, request_hash in lookup(whole, sorted(starts)):
        wire = wire_id(tag, custom_id, request_hash)
        if wire in wanted and (label, custom_id) not in seen:
            seen.add((label, custom_id))
            yield label, custom_id, request_hash, wire


def state_lookup(db: sqlite3.Connection, run_id: int) -> Lookup:
    return lambda whole, starts: requests_of(db, whole, starts, run_id=run_id)

"""`plan --explain ID`: one record's rendered request and why it is new, changed, done, ...

Only the one record is rendered and staged, then classified by the same query ``plan`` uses, so
the explanation cannot disagree with the plan.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from itertools import islice
from typing import Any

import orjson

from batchspec import exactjson
from batchspec.errors import InputError
from batchspec.plan import check_ids, open_staging
from batchspec.render import RenderedRequest, Renderer, custom_id_for
from batchspec.sources import source_for
from batchspec.spec.model import JobSpec
from batchspec.state.staging import ItemRow, Staging

ID_CHUNK = 5000  # records whose ids are staged at a time


@dataclass(frozen=True)
class Explanation:
    model: str
    record_id: str
    custom_id: str
    where: str
    category: str
    reason: str
    differences: list[str]
    request: dict[str, Any]


def explain(spec: JobSpec, wanted: str) -> list[Explanation]:
    """Explain the record whose id (or custom_id) is ``wanted``, for every model."""
    requests, where = _find(spec, wanted)
    with open_staging(spec) as staging:
        staging.add(
            [
                (
                    1,
                    r.model,
                    r.custom_id,
                    r.record_id,
                    r.request_hash,
                    r.entry_size,
                    r.input_tokens,
                    1,
                    r.prefix.digest,
                    r.prefix.tokens,
                    r.problem or None,
                )
                for r in requests
            ]
        )
        staging.finish()
        result = []
        for request in requests:
            category, stored_body, record = staging.explain_row(request.model, request.custom_id)
            body = orjson.loads(request.body_json)
            differences = []
            if category == "changed" and stored_body is not None:
                differences = json_diff(orjson.loads(stored_body), body, "body")
            result.append(
                Explanation(
                    request.model,
                    request.record_id,
                    request.custom_id,
                    where,
                    category,
                    _reason(category, record, spec.execution.max_attempts),
                    differences,
                    body,
                )
            )
    return result


def _find(spec: JobSpec, wanted: str) -> tuple[list[RenderedRequest], str]:
    """The record's requests and place. Every record's id is checked as ``plan`` checks them, so
    an input that ``plan`` refuses (duplicate ids) is refused here with the same error."""
    source = source_for(spec)
    renderer = Renderer(spec)
    found: tuple[list[RenderedRequest], str] | None = None
    label = spec.models[0].label
    with Staging(None) as ids:
        ordinal = 0
        records = source.records()
        while chunk := list(islice(records, ID_CHUNK)):
            rows: list[ItemRow] = []
            for position, record in chunk:
                ordinal += 1
                where = source.where(position)
                record_id = renderer.record_id(record, where)
                custom_id = custom_id_for(record_id)
                if found is None and wanted in (record_id, custom_id):
                    found = renderer.requests(record, where), where
                stored_id = record_id if record_id != custom_id else None
                rows.append((ordinal, label, custom_id, stored_id, "", 0, 0, position, "", 0, None))
            ids.add(rows)
        ids.finish()
        check_ids(spec, ids)
    if found is None:
        raise InputError(f"no record with id or custom_id '{wanted}' in {source.display}")
    return found


def _reason(category: str, record: dict[str, Any] | None, max_attempts: int) -> str:
    record = record or {}
    attempts = record.get("attempts", 0)
    error = f"{record.get('last_error_code')}: {record.get('last_error_message')}"
    reasons = {
        "new": "no request for this record is in the state yet: it will be sent",
        "changed": f"the request differs from the one stored on {record.get('updated_at')}: it will be sent again",
        "pending": "planned by an earlier run but not sent yet: it will be sent",
        "retryable": f"attempt {attempts} of {max_attempts} failed ({error}): it will be sent again",
        "done": "a result for exactly this request is stored: nothing to send",
        "cached": "an identical request was answered before (response cache): its answer is reused, not sent",
        "failed": f"failed for good after {attempts} attempt(s) ({error}): not sent again unless the request changes",
        "in_flight": f"in batch {record.get('batch_key')}, still running: the next run collects it",
    }
    return reasons[category]


def json_diff(old: Any, new: Any, path: str) -> list[str]:
    """Human-readable differences between two JSON values, one entry per changed leaf."""
    if isinstance(old, dict) and isinstance(new, dict):
        lines = []
        for key in sorted(set(old) | set(new)):
            child = f"{path}.{key}"
            if key not in old:
                lines.append(f"{child}: added {exactjson.dumps(new[key]).decode()}")
            elif key not in new:
                lines.append(f"{child}: removed (was {exactjson.dumps(old[key]).decode()})")
            else:
                lines += json_diff(old[key], new[key], child)
        return lines
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [line for i, (a, b) in enumerate(zip(old, new, strict=True)) for line in json_diff(a, b, f"{path}[{i}]")]
    if old == new:
        return []
    if isinstance(old, str) and isinstance(new, str):
        return text_diff(old, new, path)
    return [f"{path}: {exactjson.dumps(old).decode()} → {exactjson.dumps(new).decode()}"]


WHITESPACE_SHOWN = str.maketrans({" ": "·", "\t": "→", "\r": "␍", "\n": "⏎"})


def text_diff(old: str, new: str, path: str) -> list[str]:
    """A line diff; when only whitespace changed (a newline a `{% if %}` line left behind), the
    whitespace is drawn visibly, or the diff would show two identical lines, or nothing."""
    only_whitespace = old.split() == new.split()
    if only_whitespace:
        before = [line.translate(WHITESPACE_SHOWN) for line in old.splitlines(keepends=True)]
        after = [line.translate(WHITESPACE_SHOWN) for line in new.splitlines(keepends=True)]
        header = f"{path}: only whitespace changed (shown as · space, → tab, ⏎ line end):"
    else:
        before, after, header = old.splitlines(), new.splitlines(), f"{path}:"
    diff = difflib.unified_diff(before, after, lineterm="", n=1)
    return [header] + [f"    {line}" for line in diff if not line.startswith(("---", "+++"))]

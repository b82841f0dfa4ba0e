"""What the record viewer shows, read from the state with bounded queries: every list is a page
(keyset on the records' primary key, LIMIT), so a 1,000,000-record state answers as fast as a small one."""

from __future__ import annotations

import sqlite3
from itertools import combinations
from typing import Any

import orjson

from batchspec.explain import json_diff
from batchspec.state import queries

PAGE = 50
MAX_PAGE = 500
STATUSES = ("pending", "submitted", "done", "failed")

# A record's newest answer, whatever request it answered (the output sinks show the same one).
LATEST = "(SELECT max(id) FROM results WHERE model = r.model AND custom_id = r.custom_id)"

_LIST_COLUMNS = (
    "model",
    "custom_id",
    "id",
    "status",
    "attempts",
    "error_code",
    "error_message",
    "output",
    "parsed",
    "cost_usd",
    "current",
)


def connect(path: str) -> sqlite3.Connection:
    """A read-only connection: the viewer never writes the state, even by accident."""
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)


def _json(text: str | bytes | None) -> Any:
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text  # shown as it is stored: the viewer is for looking, not for refusing


def models(db: sqlite3.Connection) -> list[str]:
    """The models' labels, by skipping along the primary key (one lookup per model, not a scan)."""
    rows = db.execute(
        "WITH RECURSIVE m(label) AS (SELECT min(model) FROM records UNION ALL "
        "SELECT (SELECT min(model) FROM records WHERE model > m.label) FROM m WHERE m.label IS NOT NULL) "
        "SELECT label FROM m WHERE label IS NOT NULL"
    )
    return [label for (label,) in rows]


def summary(db: sqlite3.Connection, job: str) -> dict[str, Any]:
    """What the filters offer; cheap on any size of state (the totals are a separate query)."""
    codes = [c for (c,) in db.execute("SELECT DISTINCT code FROM errors ORDER BY code")]
    # Field names of `parsed`, from a sample of answers (reading every answer would not scale).
    fields: set[str] = set()
    for (parsed,) in db.execute("SELECT parsed FROM results WHERE parsed IS NOT NULL ORDER BY id DESC LIMIT 200"):
        value = _json(parsed)
        if isinstance(value, dict):
            fields.update(value)
    return {
        "job": job,
        "models": models(db),
        "statuses": list(STATUSES),
        "error_codes": codes,
        "parsed_fields": sorted(fields),
    }


def totals(db: sqlite3.Connection) -> dict[str, Any]:
    """Records by status, tokens and cost: whole-state sums (the page loads them after the records)."""
    counts = dict.fromkeys(STATUSES, 0)
    for status, n in db.execute("SELECT status, count(*) FROM records GROUP BY 1"):
        counts[status] = n
    return {"records": counts, "usage": queries.usage_totals(db)}


def version(db: sqlite3.Connection) -> tuple[Any, ...]:
    """Changes when a run changes the state (new answers, errors, runs, batches): cached sums expire."""
    row = db.execute(
        "SELECT (SELECT max(id) FROM results), (SELECT max(id) FROM errors), (SELECT max(id) FROM runs), "
        "(SELECT count(*) || max(coalesce(collected_at, submitted_at, created_at)) FROM batches)"
    ).fetchone()
    return tuple(row)


def _filters(params: dict[str, str]) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    args: list[Any] = []
    if params.get("model"):
        where.append("r.model = ?")
        args.append(params["model"])
    if params.get("status"):
        where.append("r.status = ?")
        args.append(params["status"])
    if params.get("code"):
        where.append(
            "EXISTS (SELECT 1 FROM errors e WHERE e.model = r.model AND e.custom_id = r.custom_id AND e.code = ?)"
        )
        args.append(params["code"])
    if params.get("field"):
        # The field name goes in as a quoted JSON path parameter, never into the SQL text.
        where.append("CAST(json_extract(s.parsed, ?) AS TEXT) = ?")
        args += ['$."' + params["field"].replace('"', "") + '"', params.get("value", "")]
    if params.get("q"):
        pattern = "%" + params["q"].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        # Answers are searched in one pass over results (any answer the record has had), so the
        # scan does not look up every record's newest answer first.
        where.append(
            "(coalesce(r.record_id, r.custom_id) LIKE ? ESCAPE '\\' OR r.last_error_message LIKE ? ESCAPE '\\' "
            "OR (r.model, r.custom_id) IN (SELECT model, custom_id FROM results WHERE output LIKE ? ESCAPE '\\'))"
        )
        args += [pattern] * 3
    return where, args


def _page_size(params: dict[str, str]) -> int:
    try:
        return max(1, min(MAX_PAGE, int(params.get("limit") or PAGE)))
    except ValueError:
        return PAGE


def records(db: sqlite3.Connection, params: dict[str, str]) -> dict[str, Any]:
    """One page of records matching the filters, after the cursor ``after`` (model, custom_id)."""
    where, args = _filters(params)
    after = params.get("after")
    if after:
        model, _, custom_id = after.partition("\x1f")
        where.insert(0, "(r.model, r.custom_id) > (?, ?)")
        args[:0] = [model, custom_id]
    limit = _page_size(params)
    sql = (
        "SELECT r.model, r.custom_id, coalesce(r.record_id, r.custom_id), r.status, r.attempts, r.last_error_code, "
        "r.last_error_message, s.output, s.parsed, s.cost_usd, s.request_hash = r.request_hash "
        f"FROM records r LEFT JOIN results s ON s.id = {LATEST} "
        + (f"WHERE {' AND '.join(where)} " if where else "")
        + "ORDER BY r.model, r.custom_id LIMIT ?"
    )
    rows = []
    for row in db.execute(sql, [*args, limit + 1]):
        item = dict(zip(_LIST_COLUMNS, row, strict=True))
        item["parsed"] = _json(item["parsed"])
        item["current"] = bool(item["current"])  # False: the answer is to an earlier prompt
        rows.append(item)
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = f"{rows[-1]['model']}\x1f{rows[-1]['custom_id']}" if more and rows else None
    return {"records": rows, "next": cursor}


def _request(db: sqlite3.Connection, request_hash: str) -> dict[str, Any] | None:
    row = db.execute("SELECT provider, model_name, body FROM requests WHERE request_hash = ?", (request_hash,))
    found = row.fetchone()
    if found is None:
        return None
    body = _json(found[2])
    system: Any = None
    messages: Any = None
    if isinstance(body, dict):
        # OpenAI puts the system prompt among the messages; Anthropic beside them.
        messages = body.get("messages") or body.get("input")
        system = body.get("system")
        if system is None and isinstance(messages, list):
            system = next(
                (m.get("content") for m in messages if isinstance(m, dict) and m.get("role") == "system"), None
            )
    return {
        "hash": request_hash,
        "provider": found[0],
        "model": found[1],
        "system": system,
        "messages": messages,
        "body": body,
    }


_RESULT_COLUMNS = (
    "result_id",
    "request_hash",
    "batch_key",
    "attempt",
    "output",
    "parsed",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost_usd",
    "source",
    "created_at",
)


def record(db: sqlite3.Connection, model: str, custom_id: str) -> dict[str, Any] | None:
    """Everything the state keeps about one record: request, answers (history), errors."""
    row = db.execute(
        "SELECT coalesce(record_id, custom_id), status, attempts, request_hash, batch_key, last_error_code, "
        "last_error_message, updated_at, ordinal FROM records WHERE model = ? AND custom_id = ?",
        (model, custom_id),
    ).fetchone()
    if row is None:
        return None
    record_id, status, attempts, request_hash, batch_key, code, message, updated, ordinal = row
    answers = []
    for result in db.execute(
        f"SELECT id, {', '.join(_RESULT_COLUMNS[1:])} FROM results WHERE model = ? AND custom_id = ? ORDER BY id",
        (model, custom_id),
    ):
        answer = dict(zip(_RESULT_COLUMNS, result, strict=True))
        answer["parsed"] = _json(answer["parsed"])
        answer["current"] = answer["request_hash"] == request_hash
        answers.append(answer)
    # Each earlier answer with the change of request that replaced it: the prompt diff.
    previous: dict[str, Any] | None = None
    for answer in answers:
        body = (_request(db, answer["request_hash"]) or {}).get("body")
        if previous is not None and previous["request_hash"] != answer["request_hash"]:
            answer["prompt_diff"] = json_diff(previous["_body"], body, "request")
        answer["_body"] = body
        previous = answer
    for answer in answers:
        del answer["_body"]
    errors = [
        dict(zip(("attempt", "code", "message", "retryable", "batch_key", "created_at"), e, strict=True))
        for e in db.execute(
            "SELECT attempt, code, message, retryable, batch_key, created_at FROM errors "
            "WHERE model = ? AND custom_id = ? ORDER BY id",
            (model, custom_id),
        )
    ]
    return {
        "model": model,
        "custom_id": custom_id,
        "id": record_id,
        "status": status,
        "attempts": attempts,
        "batch_key": batch_key,
        "error_code": code,
        "error_message": message,
        "updated_at": updated,
        "ordinal": ordinal,
        "request": _request(db, request_hash),
        "answer": next((a for a in reversed(answers) if a["current"]), answers[-1] if answers else None),
        "history": list(reversed(answers)),
        "errors": errors,
    }


def _comparable(output: str | None, parsed: Any) -> Any:
    return parsed if parsed is not None else (output or "").strip()


def compare(db: sqlite3.Connection, params: dict[str, str]) -> dict[str, Any]:
    """A fan-out side by side: one row per record, one column per model, a page at a time."""
    labels = models(db)
    if not labels:
        return {"models": [], "rows": [], "next": None}
    limit = _page_size(params)
    ids = [
        c
        for (c,) in db.execute(
            "SELECT custom_id FROM records WHERE model = ? AND custom_id > ? ORDER BY custom_id LIMIT ?",
            (labels[0], params.get("after") or "", limit + 1),
        )
    ]
    more = len(ids) > limit
    ids = ids[:limit]
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    marks = ",".join("?" * len(ids))
    for label in labels if ids else []:
        for model, custom_id, record_id, status, output, parsed in db.execute(
            "SELECT r.model, r.custom_id, coalesce(r.record_id, r.custom_id), r.status, s.output, s.parsed "
            f"FROM records r LEFT JOIN results s ON s.id = {LATEST} WHERE r.model = ? AND r.custom_id IN ({marks})",
            [label, *ids],
        ):
            cells[(custom_id, model)] = {"id": record_id, "status": status, "output": output, "parsed": _json(parsed)}
    rows = []
    for custom_id in ids:
        answers = {m: cells.get((custom_id, m)) for m in labels}
        values = [_comparable(a["output"], a["parsed"]) for a in answers.values() if a and a["status"] == "done"]
        differ = any(v != values[0] for v in values[1:])
        record_id = next((a["id"] for a in answers.values() if a), custom_id)
        rows.append({"custom_id": custom_id, "id": record_id, "answers": answers, "differ": differ})
    return {"models": labels, "rows": rows, "next": ids[-1] if more and ids else None}


def agreement(db: sqlite3.Connection) -> list[dict[str, Any]]:
    """Per pair of models: records both answered, and how many answers agree (``parsed`` as stored,
    else the trimmed output). One indexed join per pair, in SQLite: nothing is loaded into memory."""
    labels = models(db)
    newest = "s.id = (SELECT max(id) FROM results WHERE model = s.model AND custom_id = s.custom_id)"
    pairs = []
    for a, b in combinations(labels, 2):
        both, agree = db.execute(
            "SELECT count(*), "
            "coalesce(sum(coalesce(x.parsed, trim(x.output)) IS coalesce(y.parsed, trim(y.output))), 0) "
            f"FROM results x JOIN results y ON y.model = ? AND y.custom_id = x.custom_id "
            f"AND {newest.replace('s.', 'y.')} WHERE x.model = ? AND {newest.replace('s.', 'x.')}",
            (b, a),
        ).fetchone()
        pairs.append({"models": [a, b], "both": both, "agree": agree})
    return pairs


def errors(db: sqlite3.Connection) -> dict[str, Any]:
    """Failed attempts by code, with the records each code hit, and batches the provider failed."""
    groups = [
        {"code": code, "retryable": bool(retryable), "attempts": n, "records": records_hit, "example": message}
        for code, retryable, n, records_hit, message in db.execute(
            "SELECT code, max(retryable), count(*), count(DISTINCT model || char(31) || custom_id), max(message) "
            "FROM errors GROUP BY code ORDER BY count(*) DESC, code"
        )
    ]
    return {"codes": groups, "failed_batches": queries.failed_batches(db)}

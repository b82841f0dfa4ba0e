"""Output and error rows: results from the state joined, in input order, with the input's fields."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import groupby
from operator import itemgetter
from typing import Any

from batchspec.errors import InputError
from batchspec.sources import source_for
from batchspec.spec.model import JobSpec
from batchspec.state import queries
from batchspec.state.store import StateStore
from batchspec.state.values import json_value

RESULT_COLUMNS = ("id", "model", "output", "parsed", "current", "usage", "cost_usd")
EMBEDDING_COLUMNS = ("id", "model", "embedding", "current", "usage", "cost_usd")  # prompt.input jobs
ERROR_COLUMNS = ("id", "model", "custom_id", "error_code", "error_message", "attempts")


def input_field(name: str, reserved: tuple[str, ...]) -> str:
    """An input field's column name: prefixed when it would hide one of batchspec's own."""
    return f"input_{name}" if name in reserved else name


def result_row(row: dict[str, Any], with_parsed: bool, embed: bool = False) -> dict[str, Any]:
    out = {"id": row["id"], "model": row["model"]}
    if embed:  # the vector is stored as the answer's parsed value
        out["embedding"] = json_value(row["parsed"], f"table results, {row['custom_id']}, parsed")
    else:
        out["output"] = row["output"]
    if with_parsed:
        out["parsed"] = json_value(row["parsed"], f"table results, {row['custom_id']}, parsed")
    out["current"] = row["current"]  # False: an earlier answer, kept until the new one arrives
    out["usage"] = {
        "input_tokens": row["input_tokens"],
        "output_tokens": row["output_tokens"],
        "cache_read_tokens": row["cache_read_tokens"],
        "cache_write_tokens": row["cache_write_tokens"],
    }
    out["cost_usd"] = row["cost_usd"]
    return out


def error_row(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "model": row["model"],
        "custom_id": row["custom_id"],
        "error_code": row["error_code"],
        "error_message": row["error_message"],
        "attempts": row["attempts"],
    }


def joined(
    spec: JobSpec, state_rows: Iterator[dict[str, Any]], shape: Any, reserved: tuple[str, ...]
) -> Iterator[dict[str, Any]]:
    """Merge state rows (ordered by ordinal) with the input records (in input order): both streams
    are read once, side by side, so memory does not depend on the input's size."""
    include = spec.output.include
    id_field = spec.input.id if spec.input.id and not spec.input.id_is_template else None
    order = {m.label: i for i, m in enumerate(spec.models)}
    records = source_for(spec).records()
    ordinal = 0
    fields: dict[str, Any] = {}
    for key, group in groupby(state_rows, key=itemgetter("ordinal")):
        while ordinal < key:
            try:
                _, fields = next(records)
            except StopIteration:
                raise InputError(
                    f"{spec.input.path} changed during the run; run again to rewrite the outputs"
                ) from None
            ordinal += 1
        yield from _emit(list(group), shape, fields, include, reserved, order, id_field)


def _emit(
    rows: list[dict[str, Any]],
    shape: Any,
    fields: dict[str, Any],
    include: tuple[str, ...] | None,
    reserved: tuple[str, ...],
    order: dict[str, int],
    id_field: str | None,
) -> Iterator[dict[str, Any]]:
    # The id field is already the `id` column, unless the spec asks for it by name.
    names = include if include is not None else tuple(f for f in fields if f != id_field)
    extra = {input_field(name, reserved): fields.get(name) for name in names}
    for row in sorted(rows, key=lambda r: order.get(r["model"], 0)):
        out = shape(row)
        out.update(extra)
        yield out


def output_rows(spec: JobSpec, store: StateStore, run_id: int) -> Iterator[dict[str, Any]]:
    with_parsed = any(m.response_schema is not None for m in spec.models)
    embed = spec.prompt.embed
    return joined(
        spec,
        queries.output_rows(store.db, run_id),
        lambda r: result_row(r, with_parsed, embed),
        EMBEDDING_COLUMNS if embed else RESULT_COLUMNS,
    )


def error_rows(spec: JobSpec, store: StateStore, run_id: int) -> Iterator[dict[str, Any]]:
    return joined(spec, queries.error_rows(store.db, run_id), error_row, ERROR_COLUMNS)

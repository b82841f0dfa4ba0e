"""Sinks: outputs and errors rewritten from the state at the end of every run (a projection of the
state, so they never hold duplicates, whatever retries and reruns happened)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchspec.providers.openai_embeddings import dimensions
from batchspec.sinks.rows import EMBEDDING_COLUMNS, ERROR_COLUMNS, RESULT_COLUMNS, error_rows, input_field, output_rows
from batchspec.sinks.writers import write_csv, write_jsonl, write_parquet, write_sqlite
from batchspec.sources import source_for
from batchspec.spec.model import JobSpec
from batchspec.state import queries
from batchspec.state.records import set_meta
from batchspec.state.store import StateStore

Writer = Callable[[Path, Iterable[dict[str, Any]], list[str]], int]


@dataclass(frozen=True)
class Written:
    results: int
    errors: int


def _writer(fmt: str, table: str, vectors: bool = False, embedding_size: int | None = None) -> Writer:
    """``vectors``: the rows carry an ``embedding`` column (typed list, or BLOB in SQLite)."""
    writers: dict[str, Writer] = {
        "jsonl": write_jsonl,
        "csv": write_csv,
        "parquet": lambda path, rows, columns: write_parquet(path, rows, columns, vectors, embedding_size),
        "sqlite": lambda path, rows, columns: write_sqlite(path, rows, columns, table, vectors),
    }
    return writers[fmt]


def write_outputs_if_stale(spec: JobSpec, store: StateStore, run_id: int) -> Written:
    """Rewrite the outputs only if they differ from what the state would write now."""
    recorded = store.meta("outputs_written")
    rows = store.meta("outputs_rows") or "[0, 0]"
    with contextlib.suppress(ValueError, TypeError):  # a damaged stamp: the outputs are rewritten
        if recorded is not None and json.loads(recorded) == _outputs_stamp(spec, store, run_id):
            return Written(*json.loads(rows))
    return write_outputs(spec, store, run_id)


def _outputs_stamp(spec: JobSpec, store: StateStore, run_id: int) -> dict[str, Any]:
    """What the outputs were written from (the state's latest answers and run) and how they look."""
    files = {}
    for path in (spec.output.path, spec.output.errors_path):
        try:
            stat = path.stat()
        except OSError:
            return {}
        files[str(path)] = [stat.st_size, stat.st_mtime_ns]
    return {"state": queries.state_version(store.db, run_id), "files": files}


def write_outputs(spec: JobSpec, store: StateStore, run_id: int) -> Written:
    written = _write_outputs(spec, store, run_id)
    set_meta(store.db, "outputs_rows", json.dumps([written.results, written.errors]))
    set_meta(store.db, "outputs_written", json.dumps(_outputs_stamp(spec, store, run_id)))
    return written


def _write_outputs(spec: JobSpec, store: StateStore, run_id: int) -> Written:
    out = spec.output
    needs_columns = out.format != "jsonl" or out.errors_format != "jsonl"
    names = input_field_names(spec) if needs_columns else []
    reserved = EMBEDDING_COLUMNS if spec.prompt.embed else RESULT_COLUMNS
    ours = [c for c in reserved if c != "parsed" or any(m.response_schema for m in spec.models)]
    results = _writer(out.format, "results", spec.prompt.embed, _embedding_size(spec))(
        out.path, output_rows(spec, store, run_id), ours + [input_field(n, reserved) for n in names]
    )
    errors = _writer(out.errors_format, "errors")(
        out.errors_path,
        error_rows(spec, store, run_id),
        list(ERROR_COLUMNS) + [input_field(n, ERROR_COLUMNS) for n in names],
    )
    return Written(results, errors)


def _embedding_size(spec: JobSpec) -> int | None:
    """The one vector size of every model of an embeddings job, when it is known before the answers."""
    sizes = {dimensions(m) for m in spec.models} if spec.prompt.embed else {None}
    return sizes.pop() if len(sizes) == 1 else None


def input_field_names(spec: JobSpec) -> list[str]:
    """Input fields carried into outputs: ``output.include``, or every field seen in the input."""
    if spec.output.include is not None:
        return list(spec.output.include)
    seen: dict[str, None] = {}
    id_field = spec.input.id if not spec.input.id_is_template else None
    for _, record in source_for(spec).records():
        for name in record:
            if name != id_field:
                seen.setdefault(name, None)
        if spec.input.format in ("csv", "tsv", "parquet", "text"):
            break  # every record has the same fields
    return list(seen)

"""Writers for JSONL, CSV, Parquet and SQLite. Each streams rows into a temporary file beside the
target and renames it into place, so a reader never sees a half-written output."""

from __future__ import annotations

import csv
import os
import sqlite3
import struct
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import Any

from batchspec import exactjson
from batchspec.crashpoints import crash_point
from batchspec.errors import InputError
from batchspec.exactjson import fits_int64
from batchspec.sources import display_path
from batchspec.state.store import is_environmental

CHUNK = 10_000


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path that replaces ``path`` when the block finishes without error. Only a
    regular file is replaced: a directory, a device or a pipe there is an InputError."""
    if path.exists() and not path.is_file():
        raise InputError(f"{display_path(path)}: not a regular file, so it was left alone; choose another path")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as error:
        if error.filename is None:  # a write that failed (a full disk) names no file: name ours
            raise OSError(error.errno, error.strerror, str(path)) from None
        raise
    except sqlite3.Error as error:
        if not is_environmental(error):
            raise
        raise InputError(f"{display_path(path)}: {error} (an output file)") from None
    finally:
        if tmp.exists():
            tmp.unlink()


def to_json(value: Any) -> bytes:
    return exactjson.dumps(value)


def flat(row: dict[str, Any], vectors: bool = False) -> dict[str, Any]:
    """One level of scalars: ``usage`` becomes ``usage_*`` columns, other structures JSON text
    (with ``vectors``, an embeddings job's ``embedding`` column a float32 BLOB)."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key == "usage" and isinstance(value, dict):
            out.update({f"usage_{k}": v for k, v in value.items()})
        elif vectors and key == "embedding" and isinstance(value, list):
            out[key] = float32_blob(value)
        elif isinstance(value, (dict, list)) or key == "parsed":
            out[key] = to_json(value).decode() if value is not None else None
        elif isinstance(value, int) and not fits_int64(value):
            out[key] = str(value)  # SQLite integers are 64 bits: the exact digits, as text
        elif isinstance(value, (str, int, float, bool)) or value is None:
            out[key] = value
        else:
            out[key] = str(value)
    return out


def float32_blob(vector: list[float]) -> bytes:
    """An embedding as little-endian float32s: numpy.frombuffer(blob, dtype="<f4") reads it back."""
    return struct.pack(f"<{len(vector)}f", *vector)


def flat_columns(columns: Iterable[str]) -> list[str]:
    result = []
    for name in columns:
        if name == "usage":
            result += [
                f"usage_{k}" for k in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
            ]
        else:
            result.append(name)
    return result


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]], columns: list[str]) -> int:
    n = 0
    with replacing(path) as tmp, open(tmp, "wb") as out:
        for row in rows:
            out.write(to_json(row) + b"\n")
            n += 1
            crash_point("while_writing")
    return n


def write_csv(path: Path, rows: Iterable[dict[str, Any]], columns: list[str]) -> int:
    n = 0
    header = flat_columns(columns)
    with replacing(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_value(v) for k, v in flat(row).items()})
            n += 1
    return n


def _csv_value(value: Any) -> Any:
    return ("true" if value else "false") if isinstance(value, bool) else value  # as JSON writes them


def write_sqlite(
    path: Path, rows: Iterable[dict[str, Any]], columns: list[str], table: str, vectors: bool = False
) -> int:
    header = flat_columns(columns)
    quoted = ", ".join('"' + c.replace('"', '""') + '"' for c in sqlite_names(header))
    n = 0
    with replacing(path) as tmp:
        db = sqlite3.connect(tmp)
        try:
            db.execute(f'CREATE TABLE "{table}" ({quoted})')
            marks = ", ".join("?" * len(header))
            iterator = iter(rows)
            while chunk := list(islice(iterator, CHUNK)):
                values = [tuple(flat(r, vectors).get(c) for c in header) for r in chunk]
                db.executemany(f'INSERT INTO "{table}" VALUES ({marks})', values)
                n += len(chunk)
            db.commit()
        finally:
            db.close()
    return n


def sqlite_names(header: list[str]) -> list[str]:
    """Column names SQLite accepts: it compares them ignoring case, so a field 'ID' beside 'id'
    becomes 'ID_2' (never the name of another field; rows are inserted by position, so the values
    stay in their columns)."""
    taken = {name.lower() for name in header}
    seen: set[str] = set()
    names = []
    for name in header:
        unique, n = name, 1
        while unique.lower() in seen or (unique != name and unique.lower() in taken):
            n += 1
            unique = f"{name}_{n}"
        seen.add(unique.lower())
        names.append(unique)
    return names


def write_parquet(
    path: Path,
    rows: Iterable[dict[str, Any]],
    columns: list[str],
    vectors: bool = False,
    embedding_size: int | None = None,
) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _arrow_schema(columns, vectors, embedding_size)
    typed = {n for n in schema.names if schema.field(n).type != pa.string()}  # passed as they are
    n = 0
    with replacing(path) as tmp:
        writer = pq.ParquetWriter(tmp, schema)
        try:
            iterator = iter(rows)
            while chunk := list(islice(iterator, CHUNK)):
                table = pa.Table.from_pylist([_arrow_row(r, schema, typed) for r in chunk], schema=schema)
                writer.write_table(table)
                n += len(chunk)
        finally:
            writer.close()
    return n


def _arrow_schema(columns: list[str], vectors: bool = False, embedding_size: int | None = None) -> Any:
    import pyarrow as pa

    usage = pa.struct(
        [(k, pa.int64()) for k in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")]
    )
    types = {"usage": usage, "cost_usd": pa.float64(), "attempts": pa.int64(), "current": pa.bool_()}
    # A fixed size list where every model's vector size is known (dimensions, or the model's default).
    if vectors:
        types["embedding"] = pa.list_(pa.float32(), embedding_size) if embedding_size else pa.list_(pa.float32())
    return pa.schema([(c, types.get(c, pa.string())) for c in columns])


def _arrow_row(row: dict[str, Any], schema: Any, typed: set[str]) -> dict[str, Any]:
    """Input fields are stored as text (JSON for non-strings): a stream of JSON records has no one
    type per field that could be known before the last row."""
    out = {}
    for name in schema.names:
        value = row.get(name)
        if name in typed or value is None or isinstance(value, str):
            out[name] = value
        else:
            out[name] = to_json(value).decode()
    return out

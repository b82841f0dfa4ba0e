"""Streaming record readers: JSON Lines, CSV/TSV, Parquet and globs of text files.

Each reader yields ``(position, fields)`` one record at a time, so memory does not grow with the
input; ``position`` is a line number (JSONL, CSV), a row number (Parquet) or a file index (text),
and ``Source.where(position)`` turns it into ``file:line`` for messages.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import json
import os
import re
import sys
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from batchspec.errors import InputError
from batchspec.textinput import ENCODING_HINT, delimiter_hint, locate_decode_error

if TYPE_CHECKING:
    from batchspec.spec.model import JobSpec

FORMATS_BY_SUFFIX = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
GLOB_CHARS = frozenset("*?[")
PARQUET_BATCH_ROWS = 4096
# orjson reads an integer outside 64 bits as a float: a line with one is read again, exactly
LONG_INTEGER = re.compile(rb"\d{19}")

Record = tuple[int, dict[str, Any]]


def is_glob(path: str) -> bool:
    return any(c in GLOB_CHARS for c in path)


def infer_format(path: str) -> str | None:
    if is_glob(path):
        return "text"
    return FORMATS_BY_SUFFIX.get(Path(path).suffix.lower())


class Source:
    """One input of a job: a file (or glob), its format, and how to name a record's place."""

    def __init__(
        self,
        path: Path,
        fmt: str,
        *,
        display: str,
        base_dir: Path,
        encoding: str = "utf-8",
        delimiter: str | None = None,
        limit: int | None = None,
        confine: Path | None = None,
    ) -> None:
        self.confine = confine  # every file read must be inside this directory (untrusted specs)
        self.path = path
        self.format = fmt
        self.display = display  # the path as the user wrote it
        self.base_dir = base_dir
        self.encoding = encoding
        self.delimiter = delimiter  # None: ',' for CSV, a tab for TSV
        self.limit = limit
        self._text_files: list[Path] | None = None

    def where(self, position: int) -> str:
        if self.format == "parquet":
            return f"{self.display} row {position}"
        if self.format == "text":
            return self._relative(self.text_files()[position - 1])
        return f"{self.display}:{position}"

    def records(self) -> Iterator[Record]:
        readers = {
            "jsonl": self._jsonl,
            "csv": self._csv,
            "tsv": self._csv,
            "parquet": self._parquet,
            "text": self._text,
        }
        records = readers[self.format]()
        return islice(records, self.limit) if self.limit else records

    def text_files(self) -> list[Path]:
        if self._text_files is None:
            matches = glob.glob(str(self.path), recursive=True)
            self._text_files = sorted(Path(m) for m in matches if Path(m).is_file())
        return self._text_files

    def check_exists(self) -> str | None:
        """Why this input cannot be read, or None."""
        if self.confine is not None:
            files = self.text_files() if self.format == "text" else [self.path]
            outside = [f for f in files if not is_inside(f, self.confine)]
            if outside:
                return f"{display_path(outside[0])} is outside the spec's directory (untrusted specs may not read it)"
        if self.format == "text":
            return None if self.text_files() else f"no files match {self.display}"
        if not self.path.exists():
            return f"{self.display} does not exist"
        if not self.path.is_file():
            return f"{self.display} is not a file"
        return None

    def fingerprint(self) -> str:
        """Changes whenever the input's files do (their paths, sizes and modification times)."""
        files = self.text_files() if self.format == "text" else [self.path]
        digest = hashlib.sha256(f"{self.format}\0{self.encoding}\0{self.delimiter}\0{self.limit}".encode())
        for path in files:
            try:
                stat = path.stat()
            except OSError:
                return ""
            digest.update(f"\0{path}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
        return digest.hexdigest()

    def _open_binary(self) -> Any:
        try:
            return open(self.path, "rb")
        except OSError as error:
            raise InputError(f"{self.display}: cannot read: {error.strerror}") from None

    def _jsonl(self) -> Iterator[Record]:
        with self._open_binary() as lines:
            for number, line in enumerate(lines, 1):
                if number == 1 and line.startswith(b"\xef\xbb\xbf"):
                    line = line[3:]
                if not line.strip():
                    continue
                try:
                    value = orjson.loads(line.rstrip(b"\r\n"))
                except orjson.JSONDecodeError as error:
                    try:
                        line.decode("utf-8")
                    except UnicodeDecodeError as bad:
                        byte = line[bad.start]
                        raise InputError(
                            f"{self.display}:{number}: not UTF-8 text (byte 0x{byte:02x} at column {bad.start + 1}); "
                            "JSON Lines files are UTF-8"
                        ) from None
                    detail = f"{error.msg} at column {error.colno}"
                    raise InputError(f"{self.display}:{number}: not valid JSON: {detail}") from None
                if LONG_INTEGER.search(line):
                    value = json.loads(line)
                if not isinstance(value, dict):
                    kind = type(value).__name__ if value is not None else "null"
                    raise InputError(f"{self.display}:{number}: expected a JSON object, got {kind}")
                yield number, value

    def _csv(self) -> Iterator[Record]:
        csv.field_size_limit(sys.maxsize)
        delimiter = self.delimiter or ("\t" if self.format == "tsv" else ",")
        try:
            handle = open(self.path, encoding=self.encoding, newline="")  # noqa: SIM115 (closed below)
        except (OSError, LookupError) as error:
            raise InputError(f"{self.display}: cannot read: {error}") from None
        with handle:
            # strict: a stray quote, or one left open to the end of the file, is an error instead
            # of a field that silently swallows what follows it.
            reader = csv.reader(handle, delimiter=delimiter, strict=True)
            try:
                yield from self._csv_rows(reader, delimiter)
            except UnicodeError as error:
                raise self._decode_error(self.path, self.display, error) from None
            except csv.Error as error:
                raise InputError(f"{self.display}:{reader.line_num}: malformed CSV: {error}") from None

    def _decode_error(self, path: Path, shown: str, error: UnicodeError) -> InputError:
        """The error naming the line the undecodable byte is really on (see textinput)."""
        fault = locate_decode_error(path, self.encoding) if isinstance(error, UnicodeDecodeError) else None
        # without a fault found it is a stream-level error, such as a UTF-16 file without its BOM
        where, reason = (f"{shown}:{fault.line}", fault.reason) if fault else (f"{shown}:1", _unicode_reason(error))
        return InputError(f"{where}: not {self.encoding} text ({reason}); {ENCODING_HINT}")

    def _csv_rows(self, reader: Any, delimiter: str) -> Iterator[Record]:
        header = next(reader, None)
        if header is None:
            return
        if header and header[0].startswith("\ufeff"):
            header[0] = header[0][1:]
        hint = None if self.delimiter else delimiter_hint(header, delimiter)
        if hint:
            raise InputError(f"{self.display}:1: {hint}")
        seen: set[str] = set()
        for name in header:
            if not name.strip():
                raise InputError(f"{self.display}:1: the header has an empty column name")
            if name in seen:
                raise InputError(f"{self.display}:1: the header names column '{name}' twice")
            seen.add(name)
        width = len(header)
        start = reader.line_num + 1
        rows = iter(reader)
        while True:
            try:
                row = next(rows, None)
            except csv.Error as error:
                if "unexpected end of data" in str(error):
                    raise InputError(f"{self.display}:{start}: a quoted field is never closed") from None
                raise
            if row is None:
                return
            if row:
                if len(row) != width:
                    raise InputError(
                        f"{self.display}:{start}: expected {width} fields as in the header, got {len(row)}"
                    )
                if any("\0" in value for value in row):
                    self._refuse_nul(start, header, row)
                yield start, dict(zip(header, row, strict=True))
            start = reader.line_num + 1

    def _refuse_nul(self, line: int, header: list[str], row: list[str]) -> None:
        """A raw NUL byte is not text: refused here as the JSONL reader refuses it."""
        for name, value in zip(header, row, strict=True):
            if "\0" in value:
                raise InputError(
                    f"{self.display}:{line}: field '{name}' holds a raw NUL byte (0x00), which is not text; "
                    "remove it from the file"
                )

    def _parquet(self) -> Iterator[Record]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            parquet = pq.ParquetFile(self.path)
        except (pa.ArrowException, OSError) as error:
            raise InputError(f"{self.display}: not a readable Parquet file: {error}") from None
        number = 0
        with parquet:
            batches = parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS)
            while True:
                try:
                    batch = next(batches, None)
                except (pa.ArrowException, OSError) as error:
                    raise InputError(f"{self.display}: damaged after row {number}: {error}") from None
                if batch is None:
                    return
                for row in batch.to_pylist():
                    number += 1
                    yield number, row

    def _text(self) -> Iterator[Record]:
        for index, path in enumerate(self.text_files(), 1):
            name = self._relative(path)
            if not _is_utf8(name):
                shown = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
                raise InputError(f"{shown}: the file name is not UTF-8 (rename the file)")
            try:
                text = path.read_text(encoding=self.encoding)
            except UnicodeError as error:
                raise self._decode_error(path, name, error) from None
            except OSError as error:
                raise InputError(f"{self._relative(path)}: cannot read: {error.strerror}") from None
            yield index, {"path": name, "name": path.name, "text": text}

    def _relative(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.base_dir.resolve()).as_posix()
        except ValueError:
            return path.as_posix()


def _unicode_reason(error: UnicodeError) -> str:
    return error.reason if isinstance(error, UnicodeDecodeError) else str(error)


def _is_utf8(text: str) -> bool:
    """False for a str holding undecodable bytes (file names the OS gave as surrogate escapes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def source_for(spec: JobSpec) -> Source:
    """The source a job's ``input`` block describes."""
    inp = spec.input
    return Source(
        inp.resolved,
        inp.format,
        display=display_path(inp.resolved),
        base_dir=spec.base_dir,
        encoding=inp.encoding,
        delimiter=inp.delimiter,
        limit=inp.limit,
    )


def display_path(path: Path) -> str:
    """``path`` as a user in the current directory would type it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)
    return str(path) if relative.startswith(".." + os.sep + "..") else relative


def is_inside(path: Path, directory: Path) -> bool:
    """Whether ``path``, symlinks resolved, is ``directory`` or below it."""
    try:
        path.resolve().relative_to(directory.resolve())
    except ValueError:
        return False
    return True

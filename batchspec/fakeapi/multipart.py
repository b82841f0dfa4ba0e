"""A small multipart/form-data parser for file uploads.

The upload is already in memory (tens of MB for a large batch file), so parts are located with
``bytes.find`` instead of a line-by-line MIME parser: the file part is sliced out without copying
it line by line.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser


@dataclass
class Part:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


class MultipartError(ValueError):
    pass


def boundary_of(content_type: str | None) -> bytes:
    if not content_type:
        raise MultipartError("missing Content-Type")
    msg = Message()
    msg["content-type"] = content_type
    if msg.get_content_type() != "multipart/form-data":
        raise MultipartError(f"expected multipart/form-data, got {msg.get_content_type()}")
    boundary = msg.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise MultipartError("multipart body without boundary")
    return boundary.encode("latin-1")


def parse(body: bytes, content_type: str | None) -> dict[str, Part]:
    """Parts by field name (the last one wins, as form parsers usually do)."""
    delimiter = b"--" + boundary_of(content_type)
    parts: dict[str, Part] = {}
    start = body.find(delimiter)
    if start < 0:
        raise MultipartError("boundary not found in body")
    pos = start + len(delimiter)
    while True:
        if body.startswith(b"--", pos):
            return parts  # closing delimiter
        if not body.startswith(b"\r\n", pos):
            raise MultipartError("malformed delimiter line")
        header_end = body.find(b"\r\n\r\n", pos + 2)
        if header_end < 0:
            raise MultipartError("part without header terminator")
        headers = BytesHeaderParser().parsebytes(body[pos + 2 : header_end + 2])
        data_start = header_end + 4
        next_delim = body.find(b"\r\n" + delimiter, data_start)
        if next_delim < 0:
            raise MultipartError("unterminated part")
        part = _part(headers, body[data_start:next_delim])
        if part is not None:
            parts[part.name] = part
        pos = next_delim + 2 + len(delimiter)


def _part(headers: Message, data: bytes) -> Part | None:
    disposition = headers.get("content-disposition")
    if disposition is None:
        return None
    msg = Message()
    msg["content-disposition"] = disposition
    name = msg.get_param("name", header="content-disposition")
    filename = msg.get_param("filename", header="content-disposition")
    if not isinstance(name, str):
        return None
    return Part(
        name=name,
        filename=filename if isinstance(filename, str) else None,
        content_type=headers.get("content-type"),
        data=data,
    )

"""Helpers for reading delimited text: where a decoding error really is, and which delimiter a
header that came out as one column was probably written with.

A text stream decodes ahead of the CSV reader (in chunks of several kilobytes), so the reader's
line number at a ``UnicodeDecodeError`` can be hundreds of lines short of the bad byte; the file
is therefore scanned again, line by line, to name the line the byte is on.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from pathlib import Path

LINE_BREAK = re.compile(r"\r\n|\r|\n")
# delimiters a CSV file is commonly written with, and how to name them in a message
DELIMITER_NAMES = {";": "semicolon", "\t": "tab", "|": "pipe", ",": "comma"}
ENCODING_HINT = "set input.encoding to the file's encoding, e.g. latin-1, cp1252 or utf-16"


@dataclass(frozen=True)
class DecodeFault:
    line: int
    reason: str  # the codec's reason, with the byte and its column where they can be named


def locate_decode_error(path: Path, encoding: str) -> DecodeFault | None:
    """The first place ``path`` does not decode in ``encoding``, or None if it all decodes."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    ascii_based = "\n".encode(encoding) == b"\n"
    line = 1
    with open(path, "rb") as handle:
        for piece in handle:  # pieces end at b"\n", a line end in ASCII-based encodings
            try:
                text = decoder.decode(piece)
            except UnicodeDecodeError as error:
                return _fault(error, line, ascii_based)
            line += len(LINE_BREAK.findall(text))
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as error:
            return _fault(error, line, ascii_based)
    return None


def _fault(error: UnicodeDecodeError, line: int, ascii_based: bool) -> DecodeFault:
    if not ascii_based:
        return DecodeFault(line, error.reason)
    before = bytes(error.object[: error.start])
    line += len(LINE_BREAK.findall(before.decode("latin-1")))
    column = len(LINE_BREAK.split(before.decode("latin-1"))[-1]) + 1
    byte = error.object[error.start]
    return DecodeFault(line, f"byte 0x{byte:02x} at column {column}: {error.reason}")


def delimiter_hint(header: list[str], delimiter: str) -> str | None:
    """Why a header read as one column was probably written with another delimiter, or None."""
    if len(header) != 1:
        return None
    counts = {d: header[0].count(d) for d in DELIMITER_NAMES if d != delimiter}
    likely = max(counts, key=lambda d: counts[d])
    if not counts[likely]:
        return None
    shown = '"\\t"' if likely == "\t" else f"'{likely}'"  # YAML reads \t as a tab in double quotes only
    return (
        f"the header is one column, '{header[0]}': this looks like a {DELIMITER_NAMES[likely]}-separated "
        f"file: set input.delimiter: {shown}"
    )

"""Checks of an OpenAI batch's input file and metadata, with the API's error codes.

Problems inside the file do not reject the create call: like the real API, they are kept as
``errors.data`` entries (code, message, param, line) and the batch ends ``failed``.
"""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING, Any

import orjson

from batchspec.tokens import request_tokens

from .errors import openai_error
from .wire import JSON

if TYPE_CHECKING:
    from .state import FakeState

MAX_ERRORS = 1000


def validate_metadata(metadata: Any) -> None:
    """At most 16 string pairs, keys up to 64 and values up to 512 characters."""
    if metadata is None:
        return
    if not isinstance(metadata, dict):
        raise openai_error(
            400,
            "Invalid type for 'metadata': expected an object.",
            param="metadata",
            code="invalid_type",
        )
    if len(metadata) > 16:
        raise openai_error(
            400,
            "Invalid 'metadata': too many properties. Expected an object with at most 16 "
            f"properties, but got an object with {len(metadata)} properties instead.",
            param="metadata",
            code="object_above_max_properties",
        )
    for key, value in metadata.items():
        if len(key) > 64:
            raise openai_error(
                400,
                "Invalid 'metadata': string too long. Expected a string with maximum length 64, "
                f"but got a string with length {len(key)} instead.",
                param="metadata",
                code="string_above_max_length",
            )
        if not isinstance(value, str):
            raise openai_error(
                400,
                f"Invalid type for 'metadata.{key}': expected a string.",
                param=f"metadata.{key}",
                code="invalid_type",
            )
        if len(value) > 512:
            raise openai_error(
                400,
                f"Invalid 'metadata.{key}': string too long. Expected a string with maximum "
                f"length 512, but got a string with length {len(value)} instead.",
                param=f"metadata.{key}",
                code="string_above_max_length",
            )


def error_entry(code: str, message: str, line: int | None, param: str | None = None) -> JSON:
    return {"code": code, "message": message, "param": param, "line": line}


class ParsedInput:
    """The checked input file: where each request's line is, without keeping parsed bodies."""

    def __init__(self) -> None:
        self.starts = array("q")
        self.ends = array("q")
        self.custom_ids: list[str] = []
        self.errors: list[JSON] = []
        self.model: str | None = None
        self.tokens = 0  # input tokens of every request: what the batch enqueues

    def fail(self, error: JSON) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(error)


def parse_input(data: bytes, endpoint: str, state: FakeState) -> ParsedInput:
    config = state.config
    parsed = ParsedInput()
    if len(data) > config.openai_max_file_bytes:
        parsed.fail(
            error_entry(
                "file_too_large",
                f"The input file is {len(data)} bytes; the maximum for a batch is "
                f"{config.openai_max_file_bytes} bytes.",
                None,
            )
        )
        return parsed
    seen: set[str] = set()
    pos, line_no, size = 0, 0, len(data)
    while pos < size:
        end = data.find(b"\n", pos)
        end = size if end < 0 else end
        line_no += 1
        start, pos = pos, end + 1
        if not data[start:end].strip():
            continue
        _check_line(parsed, data[start:end], line_no, endpoint, seen, state)
        parsed.starts.append(start)
        parsed.ends.append(end)
    if not parsed.starts and not parsed.errors:
        parsed.fail(error_entry("empty_file", "The batch input file is empty.", None))
    elif len(parsed.starts) > config.openai_max_requests:
        parsed.errors.insert(
            0,
            error_entry(
                "too_many_tasks",
                f"The batch input file contains {len(parsed.starts)} requests; the maximum is "
                f"{config.openai_max_requests}.",
                None,
            ),
        )
    return parsed


def _check_line(parsed: ParsedInput, raw: bytes, line: int, endpoint: str, seen: set[str], state: FakeState) -> None:
    try:
        entry = orjson.loads(raw)
    except orjson.JSONDecodeError:
        parsed.fail(error_entry("invalid_json_line", "This line is not parseable as valid JSON.", line))
        parsed.custom_ids.append("")
        return
    if not isinstance(entry, dict):
        parsed.fail(error_entry("invalid_request", "Each line must be a JSON object.", line))
        parsed.custom_ids.append("")
        return
    custom_id = entry.get("custom_id")
    parsed.custom_ids.append(custom_id if isinstance(custom_id, str) else "")
    for key in ("custom_id", "method", "url", "body"):
        if key not in entry:
            parsed.fail(error_entry("missing_required_parameter", f"Missing required parameter: '{key}'.", line, key))
            return
    if not isinstance(custom_id, str) or not custom_id:
        parsed.fail(error_entry("invalid_request", "custom_id must be a non-empty string.", line, "custom_id"))
    elif custom_id in seen:
        parsed.fail(
            error_entry(
                "duplicate_custom_id",
                f"The custom_id '{custom_id}' is a duplicate of another request. The custom_id "
                "parameter must be unique for each request in a batch.",
                line,
                "custom_id",
            )
        )
    else:
        seen.add(custom_id)
    if entry["method"] != "POST":
        parsed.fail(error_entry("invalid_request", "Method must be POST.", line, "method"))
    if entry["url"] != endpoint:
        parsed.fail(
            error_entry(
                "invalid_url",
                f"The URL provided for this request ({entry['url']}) does not match the batch endpoint ({endpoint}).",
                line,
                "url",
            )
        )
    body = entry["body"]
    if not isinstance(body, dict):
        parsed.fail(error_entry("invalid_request", "body must be a JSON object.", line, "body"))
        return
    parsed.tokens += request_tokens(body)
    model = body.get("model")
    if not isinstance(model, str):
        parsed.fail(
            error_entry(
                "missing_required_parameter",
                "Missing required parameter: 'body.model'.",
                line,
                "body.model",
            )
        )
    elif parsed.model is None:
        parsed.model = model
        known = state.config.known_models
        if known is not None and model not in known:
            parsed.fail(
                error_entry(
                    "model_not_found",
                    f"The provided model '{model}' is not supported by the Batch API.",
                    line,
                    "body.model",
                )
            )
    elif model != parsed.model:
        parsed.fail(
            error_entry(
                "model_mismatch",
                f"The model '{model}' does not match the model '{parsed.model}' of the other "
                "requests: a batch may only use one model.",
                line,
                "body.model",
            )
        )

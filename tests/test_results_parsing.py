"""Result lines of any shape a provider might send: read, or counted unreadable (then re-sent)."""

from __future__ import annotations

import pytest

from batchspec.outcomes import ERRORED, SUCCEEDED, UNPROCESSED
from batchspec.providers import anthropic_batch, openai_batch


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"not json",
        b'{"custom_id": "a"}',
        b'{"custom_id": "a", "result": {"type": "errored", "error": "oops"}}',
        b'{"custom_id": "a", "result": {"type": "succeeded", "message": "text"}}',
        b'{"custom_id": "a", "result": "done"}',
        b"[1, 2]",
    ],
)
def test_odd_anthropic_lines_are_unreadable_not_fatal(line: bytes) -> None:
    assert anthropic_batch.parse_line(line) is None


@pytest.mark.parametrize(
    "line",
    [
        b"{",
        b'{"custom_id": "a", "response": {"status_code": 200, "body": "text"}}',
        b'{"custom_id": "a", "response": {"status_code": "x"}}',
        b'{"custom_id": "a", "response": {"status_code": 200, "body": {"choices": "none"}}}',
    ],
)
def test_odd_openai_lines_are_unreadable_not_fatal(line: bytes) -> None:
    assert openai_batch.parse_line(line) is None


def test_the_real_shapes_are_read() -> None:
    ok = openai_batch.parse_line(
        b'{"id": "batch_req_1", "custom_id": "a", "response": {"status_code": 200, "request_id": "r", "body": '
        b'{"choices": [{"message": {"role": "assistant", "content": "hi"}}], "usage": {"prompt_tokens": 5, '
        b'"completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": 0}}}}, "error": null}'
    )
    assert ok is not None and (ok.kind, ok.output, ok.usage.input_tokens) == (SUCCEEDED, "hi", 5)
    expired = openai_batch.parse_line(
        b'{"id": "b", "custom_id": "a", "response": null, "error": {"code": "batch_expired", "message": "m"}}'
    )
    assert expired is not None and expired.kind == UNPROCESSED
    failed = openai_batch.parse_line(
        b'{"id": "b", "custom_id": "a", "response": {"status_code": 400, "request_id": "r", "body": {"error": '
        b'{"message": "too long", "type": "invalid_request_error", "param": null, "code": "context_length_exceeded"}}}'
        b', "error": null}'
    )
    assert failed is not None and (failed.kind, failed.error_code, failed.retryable) == (
        ERRORED,
        "context_length_exceeded",
        False,
    )
    refused = anthropic_batch.parse_line(
        b'{"custom_id": "a", "result": {"type": "succeeded", "message": {"content": [], "stop_reason": "refusal", '
        b'"usage": {"input_tokens": 3, "output_tokens": 0}}}}'
    )
    assert refused is not None and (refused.kind, refused.error_code) == (ERRORED, "refusal")
    overloaded = anthropic_batch.parse_line(
        b'{"custom_id": "a", "result": {"type": "errored", "error": {"type": "error", "error": '
        b'{"type": "overloaded_error", "message": "Overloaded"}}}}'
    )
    assert overloaded is not None and overloaded.retryable

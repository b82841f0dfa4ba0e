"""`model.endpoint: responses`: the prompt as instructions + input items to /v1/responses, in batch
and sync mode; output text, parsed JSON and Responses usage priced."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openai.types.responses import ResponseCreateParams

from batchspec.fakeapi import FakeAPI
from tests.conftest import Job

RESPONSES: dict[str, Any] = {
    "model": {"endpoint": "responses", "params": {"temperature": 0, "max_tokens": None, "max_output_tokens": 16}}
}


def allowed_fields() -> set[str]:
    return set().union(*(t.__annotations__ for t in ResponseCreateParams.__args__))  # type: ignore[attr-defined]


@pytest.mark.parametrize("mode", ["batch", "sync"])
def test_responses_run_end_to_end(job: Job, fake_api: FakeAPI, mode: str) -> None:
    job.write_spec(RESPONSES).write_spec({"execution": {"mode": mode}})
    summary = json.loads(job.run("--json").stdout.splitlines()[-1])
    assert summary["done"] == 10
    rows = job.outputs()
    assert all(isinstance(r["output"], str) and r["output"] for r in rows)
    assert all(r["usage"]["input_tokens"] > 0 and r["usage"]["output_tokens"] > 0 for r in rows)
    path = "/v1/responses"
    if mode == "batch":
        assert [b["endpoint"] for b in fake_api.ledger.batches_created()] == [path]
    else:
        assert len(fake_api.ledger.requests_to(path, "POST")) == 10
    usage = summary["usage"]
    rate = 0.5 if mode == "batch" else 1.0  # gpt-4o-mini: $0.15 in, $0.60 out per million
    expected = (usage["input_tokens"] * 0.15 + usage["output_tokens"] * 0.6) / 1e6 * rate
    assert usage["cost_usd"] == pytest.approx(expected)


def test_reasoning_tokens_and_structured_output(job: Job, fake_api: FakeAPI) -> None:
    job.write_spec(
        {
            "model": {
                "name": "gpt-5-mini",
                "endpoint": "responses",
                "params": {"temperature": None, "max_tokens": None, "reasoning": {"effort": "low"}},
                "response_schema": {"type": "object", "properties": {"label": {"type": "string"}}},
            },
            "execution": {"mode": "sync"},
        }
    ).run()
    rows = job.outputs()
    assert all(isinstance(r["parsed"], dict) and "label" in r["parsed"] for r in rows)
    bodies = [json.loads(b) for (b,) in job.state("SELECT body FROM requests")]
    assert all(b["text"]["format"]["type"] == "json_schema" and b["reasoning"] == {"effort": "low"} for b in bodies)
    # The fake thinks 8 tokens per request: billed as output, in output_tokens.
    assert all(r["usage"]["output_tokens"] > 8 for r in rows)


def test_plan_emit_writes_responses_payload_lines(job: Job, tmp_path: Path) -> None:
    job.write_spec(RESPONSES)
    out = tmp_path / "emit"
    job.cli("plan", "job.yaml", "--emit", str(out), "--offline")
    lines = [json.loads(line) for f in sorted(out.rglob("*.jsonl")) for line in f.read_text().splitlines()]
    assert len(lines) == 10
    for line in lines:
        assert (line["method"], line["url"]) == ("POST", "/v1/responses")
        body = line["body"]
        assert set(body) <= allowed_fields()
        assert body["instructions"] == "You are a careful annotator of product reviews."
        assert [item["role"] for item in body["input"]] == ["user"]
        assert body["max_output_tokens"] == 16 and "messages" not in body


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"params": {"reasoning": {"effort": "low"}}}, "is not a reasoning model"),
        ({"name": "o3", "params": {"temperature": 0.5, "reasoning": {"effort": "low"}}}, "temperature"),
        ({"params": {"max_tokens": 5}}, "unknown parameter 'max_tokens'"),
    ],
)
def test_validate_checks_responses_params_per_model(offline_job: Job, change: dict[str, Any], message: str) -> None:
    offline_job.write_spec(RESPONSES).write_spec({"model": change})
    result = offline_job.cli("validate", "job.yaml", expect=2)
    assert message in result.stderr + result.stdout

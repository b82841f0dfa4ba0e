"""response_schema translated per provider, or refused at validate naming the construct."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from batchspec.fakeapi import FakeAPI
from tests.conftest import BASE_SPEC, Job, merge, reviews

CLAUDE = {"provider": "anthropic", "name": "claude-haiku-4-5", "params": {"max_tokens": 200, "temperature": None}}


def job_for(tmp_path: Path, fake_api: FakeAPI, schema: dict[str, Any], model: dict[str, Any] | None = None) -> Job:
    model = model or {"params": {"max_tokens": 200}}
    anthropic = model.get("provider") == "anthropic"
    base = fake_api.anthropic_base_url if anthropic else fake_api.openai_base_url
    spec = merge(BASE_SPEC, {"model": {**model, "base_url": base, "response_schema": schema}})
    return Job(tmp_path, spec).write_records(reviews(3)).write_spec()


def emitted_body(job: Job) -> dict[str, Any]:
    job.cli("plan", "job.yaml", "--emit", "emitted")
    path = next((job.dir / "emitted").iterdir())
    if path.suffix == ".jsonl":
        body: dict[str, Any] = json.loads(path.read_text().splitlines()[0])["body"]
        return body
    params: dict[str, Any] = json.loads(path.read_text())["requests"][0]["params"]
    return params


def warnings(job: Job, expect: int = 0) -> list[str]:
    stderr = job.cli("validate", "job.yaml", expect=expect).stderr
    return [line for line in stderr.splitlines() if line.startswith("warning:")]


def test_openai_gets_strict_mode_with_objects_closed(tmp_path: Path, fake_api: FakeAPI) -> None:
    schema = {"type": "object", "properties": {"label": {"enum": ["pos", "neg"]}}, "required": ["label"]}
    job = job_for(tmp_path, fake_api, schema)
    assert warnings(job) == []
    fmt = emitted_body(job)["response_format"]["json_schema"]
    assert fmt["strict"] is True and fmt["schema"]["additionalProperties"] is False
    job.run()  # the fake, like OpenAI, refuses a strict schema with an open object
    assert [r["parsed"]["label"] in ("pos", "neg") for r in job.outputs()] == [True] * 3


def test_openai_falls_back_to_non_strict_naming_the_construct(tmp_path: Path, fake_api: FakeAPI) -> None:
    schema = {
        "type": "object",
        "properties": {"summary": {"type": "string", "minLength": 2}, "note": {"type": "string"}},
        "required": ["summary"],
        "additionalProperties": False,
    }
    job = job_for(tmp_path, fake_api, schema)
    found = warnings(job)
    assert len(found) == 2
    assert any(
        line.endswith(
            "model.response_schema.properties.summary.minLength: 'minLength' is not supported by OpenAI's strict "
            "structured outputs (sent with strict: false, so the shape is not guaranteed; batchspec checks every "
            "answer against it)"
        )
        for line in found
    )
    assert any("model.response_schema.required: optional properties (note); OpenAI's strict" in f for f in found)
    assert emitted_body(job)["response_format"]["json_schema"]["strict"] is False
    job.run()  # strict: true with minLength would be refused for every record
    assert len(job.outputs()) == 3


def test_openai_refuses_a_schema_whose_root_is_not_an_object(tmp_path: Path, fake_api: FakeAPI) -> None:
    job = job_for(tmp_path, fake_api, {"type": "array", "items": {"type": "string"}})
    stderr = job.cli("validate", "job.yaml", expect=2).stderr.splitlines()
    assert "model.response_schema: OpenAI structured outputs need an object at the root, not array" in stderr[0]
    assert stderr[0].startswith("job.yaml:")


def test_anthropic_gets_the_supported_subset_and_answers_are_checked_against_the_original(
    tmp_path: Path, fake_api: FakeAPI
) -> None:
    schema = {
        "type": "object",
        "properties": {"summary": {"type": "string", "maxLength": 5}},
        "required": ["summary"],
    }
    job = job_for(tmp_path, fake_api, schema, CLAUDE)
    found = warnings(job)
    assert len(found) == 1 and found[0].endswith(
        "model.response_schema.properties.summary.maxLength: 'maxLength' is not enforced by Anthropic's structured "
        "outputs (sent as a description) (the rest of the schema is enforced; batchspec checks every answer "
        "against it)"
    )
    sent = emitted_body(job)["output_config"]["format"]["schema"]
    assert sent["additionalProperties"] is False and "maxLength" not in sent["properties"]["summary"]
    job.run(expect=1)  # the fake answers "fake summary": sent as accepted, checked against maxLength 5
    errors = job.errors()
    assert len(errors) == 3 and errors[0]["error_code"] == "invalid_output"
    assert "does not match response_schema: summary: 'fake summary' is too long" in errors[0]["error_message"]

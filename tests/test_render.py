"""Rendering: exact provider bodies, custom_ids valid for both providers, stable hashes, the sandbox."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchspec.render import Renderer, RenderError, canonical_json, custom_id_for, request_hash
from batchspec.spec.load import load_spec
from batchspec.wireid import job_tag
from tests.conftest import Job, record_of

VALID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def emitted(job: Job) -> list[dict]:
    job.cli("plan", "job.yaml", "--emit", "emit")
    files = sorted((job.dir / "emit").iterdir())
    assert len(files) == 1
    text = files[0].read_text("utf-8")
    if files[0].suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines()]
    return json.loads(text)["requests"]


def test_openai_batch_lines_are_exact(offline_job: Job) -> None:
    lines = emitted(offline_job)
    assert len(lines) == 10
    # The id on the wire names the job, the exact request (its hash) and the record.
    expected_hash = request_hash("openai", "gpt-4o-mini", canonical_json(lines[0]["body"]))
    assert lines[0]["custom_id"] == f"{job_tag('reviews')}{expected_hash[:10]}_r1"
    assert lines[0] == {
        "custom_id": lines[0]["custom_id"],
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "You are a careful annotator of product reviews."},
                {
                    "role": "user",
                    "content": "Review: Review number 1: it works well enough.\n"
                    "Answer with one word: positive, negative or neutral.",
                },
            ],
            "temperature": 0,
            "max_tokens": 5,
        },
    }


def test_anthropic_requests_mark_the_system_prompt_for_caching(offline_job: Job) -> None:
    offline_job.write_spec(
        {
            "model": {"provider": "anthropic", "name": "claude-haiku-4-5", "params": {"temperature": None}},
            "cache": {"prompt_caching": True, "ttl": "1h"},
        }
    )
    requests = emitted(offline_job)
    assert record_of(requests[0]["custom_id"]) == "r1"
    assert requests[0]["params"] == {
        "model": "claude-haiku-4-5",
        "system": [
            {
                "type": "text",
                "text": "You are a careful annotator of product reviews.",
                "cache_control": {"type": "ephemeral", "ttl": "1h"},
            }
        ],
        "messages": [
            {
                "role": "user",
                "content": "Review: Review number 1: it works well enough.\n"
                "Answer with one word: positive, negative or neutral.",
            }
        ],
        "max_tokens": 5,
    }


def test_structured_output_uses_each_providers_format(offline_job: Job) -> None:
    schema = {
        "type": "object",
        "properties": {"label": {"enum": ["pos", "neg"]}},
        "required": ["label"],
        "additionalProperties": False,
    }
    offline_job.write_spec({"model": {"response_schema": schema}})
    body = emitted(offline_job)[0]["body"]
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": schema, "strict": True},
    }
    offline_job.write_spec(
        {"model": {"provider": "anthropic", "name": "claude-haiku-4-5", "params": {"temperature": None}}}
    )
    params = emitted(offline_job)[0]["params"]
    assert params["output_config"] == {"format": {"type": "json_schema", "schema": schema}}


@pytest.mark.parametrize(
    "raw",
    ["plain-id_1", "with space", "slash/and:colon", "ünïcödé", "x" * 80, "42"],
)
def test_custom_ids_are_valid_and_deterministic(raw: str) -> None:
    first = custom_id_for(raw)
    assert VALID.fullmatch(first)
    assert first == custom_id_for(raw)
    if VALID.fullmatch(raw):
        assert first == raw


def test_sanitised_ids_do_not_collide_with_similar_ids() -> None:
    assert custom_id_for("a b") != custom_id_for("a_b")
    assert custom_id_for("a b") != custom_id_for("a/b")


def test_ids_that_do_not_fit_are_mapped_in_state_and_output(job: Job) -> None:
    job.write_records([{"id": "shop 1/item:7", "text": "x"}, {"id": "é" * 70, "text": "y"}])
    job.run()
    rows = job.state("SELECT record_id, custom_id FROM records ORDER BY ordinal")
    assert [r[0] for r in rows] == ["shop 1/item:7", "é" * 70]
    assert all(VALID.fullmatch(r[1]) for r in rows)
    assert [row["id"] for row in job.outputs()] == ["shop 1/item:7", "é" * 70]


def test_custom_id_collision_is_reported(offline_job: Job) -> None:
    crafted = custom_id_for("x y")
    offline_job.write_records([{"id": "x y", "text": "a"}, {"id": crafted, "text": "b"}])
    result = offline_job.cli("plan", "job.yaml", expect=2)
    assert f"these record ids map to the same custom_id:\n  {crafted}:" in result.stderr
    assert "'x y'" in result.stderr


def test_request_hash_ignores_key_order_and_includes_provider_and_model() -> None:
    a = canonical_json({"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0})
    b = canonical_json({"temperature": 0, "messages": [{"content": "hi", "role": "user"}], "model": "m"})
    assert a == b
    assert request_hash("openai", "m", a) == request_hash("openai", "m", b)
    assert request_hash("openai", "m", a) != request_hash("fake", "m", a)
    assert request_hash("openai", "m", a) != request_hash("openai", "m2", a)


def test_input_values_are_data_never_templates(offline_job: Job) -> None:
    offline_job.write_records([{"id": "t1", "text": "{{ 7 * 7 }} {% if true %}x{% endif %}"}])
    body = emitted(offline_job)[0]["body"]
    assert "Review: {{ 7 * 7 }} {% if true %}x{% endif %}" in body["messages"][1]["content"]


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ text.__class__.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ self._TemplateReference__context }}",
    ],
)
def test_the_sandbox_refuses_python_internals(offline_job: Job, template: str) -> None:
    offline_job.write_spec({"prompt": {"user": template}})
    result = offline_job.cli("plan", "job.yaml", expect=2)
    assert "prompt.user:" in result.stderr
    assert "Traceback" not in result.stderr
    assert "__globals__" not in result.stdout


def test_templates_cannot_include_files(offline_job: Job) -> None:
    (offline_job.dir / "secret.txt").write_text("top secret", "utf-8")
    offline_job.write_spec({"prompt": {"user": "{% include 'secret.txt' %}"}})
    result = offline_job.cli("plan", "job.yaml", expect=2)
    assert "top secret" not in result.stdout + result.stderr
    assert "no loader for this environment specified" in result.stderr
    assert "prompt.user: templates cannot include, import or extend other files" in result.stderr


# The first five take the fast path (one function per record), the rest the general one.
FAST_PATH_SPECS = [
    {},
    {"input": {"id": "{{ id }}-{{ n }}"}, "cache": {"prompt_caching": True}},
    {
        "model": {"provider": "anthropic", "name": "claude-haiku-4-5", "params": {"temperature": None}},
        "cache": {"prompt_caching": True},
    },
    {"cache": {"prompt_caching": True}},
    {
        "model": [
            {"provider": "openai", "name": "gpt-4o-mini", "params": {"max_tokens": 5}},
            {"provider": "anthropic", "name": "claude-haiku-4-5", "params": {"max_tokens": 5}},
        ],
        "prompt": {"user": "{{ text }} and {{ n }}", "system": "Be brief about {{ '{{' }} this."},
        "cache": {"prompt_caching": True},
    },
    {
        "prompt": {
            "system": None,
            "user": None,
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Context: {{ text }}", "cache": True},
                {"role": "assistant", "content": "Understood."},
                {"role": "user", "content": "{{ id }} / {{ n }}"},
            ],
        }
    },
    {
        "prompt": {
            "system": None,
            "user": None,
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Context: {{ text }}", "cache": True},
                {"role": "user", "content": "Question {{ n }}"},
            ],
        },
        "cache": {"prompt_caching": True},
    },
    {"prompt": {"user": "{{ text | upper }} {% if n %}{{ n }}{% endif %}"}},
    {"prompt": {"system": "System for {{ id }}"}, "cache": {"prompt_caching": True}},
]


IDS = st.one_of(
    st.text(), st.integers(), st.none(), st.booleans(), st.floats(allow_nan=False), st.sampled_from(["", " ", "a b"])
)


def _outcome(renderer: Renderer, record: dict) -> object:
    try:
        return renderer.requests(record, "x:1")
    except RenderError as error:
        return str(error)


@pytest.mark.parametrize("changes", FAST_PATH_SPECS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.text(),
    n=st.one_of(st.none(), st.integers(), st.floats(allow_nan=False), st.booleans(), st.text()),
    record_id=IDS,
    drop=st.sampled_from([None, "id", "text"]),
)
def test_fast_rendering_gives_the_same_requests_as_jinja(
    offline_job: Job, changes: dict, text: str, n: object, record_id: object, drop: str | None
) -> None:
    """Every field of every request (body, custom_id, hash, sizes, tokens, prefix), and every
    error, is the same whether a record takes a fast path or the general one."""
    offline_job.write_spec(changes)
    spec = load_spec(offline_job.spec_path, check_sample=False)
    record = {"id": record_id, "text": text, "n": n}
    if drop:
        del record[drop]
    assert _outcome(Renderer(spec), record) == _outcome(Renderer(spec, fast=False), record)


@pytest.mark.parametrize("changes", FAST_PATH_SPECS[:5])
def test_prompts_of_plain_fields_take_the_fast_path(offline_job: Job, changes: dict) -> None:
    offline_job.write_spec(changes)
    renderer = Renderer(load_spec(offline_job.spec_path, check_sample=False))
    assert renderer.try_fast({"id": "r1", "text": "good", "n": 3}) is not None


def test_names_jinja_resolves_itself_are_not_taken_from_the_record(offline_job: Job) -> None:
    """``{{ self }}`` is Jinja's template reference, whatever the record holds: the fast path must
    leave it to Jinja, or the custom_id would differ between the two paths."""
    offline_job.write_spec({"input": {"id": "{{ self }}-{{ id }}"}, "prompt": {"user": "{{ self }} {{ text }}"}})
    spec = load_spec(offline_job.spec_path, check_sample=False)
    record = {"self": "mine", "id": "r1", "text": "good"}
    fast, general = Renderer(spec).requests(record, "x:1"), Renderer(spec, fast=False).requests(record, "x:1")
    assert fast == general
    assert "mine" not in fast[0].record_id

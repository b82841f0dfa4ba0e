"""Every class of spec error is reported as file:line:col: key: message (hint), all at once, exit 2."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from batchspec import SpecError, load_spec
from tests.conftest import Job


def validate(job: Job, text: str, expect: int = 2) -> list[str]:
    job.spec_path.write_text(text, "utf-8")
    result = job.cli("validate", "job.yaml", expect=expect)
    return result.stderr.splitlines()


def spec_text(**parts: str) -> str:
    sections = {
        "head": "version: 1\nname: reviews\n",
        "input": "input:\n  path: data.jsonl\n  id: id\n",
        "prompt": "prompt:\n  user: |\n    Review: {{ text }}\n",
        "model": "model:\n  provider: openai\n  name: gpt-4o-mini\n  params: {max_tokens: 5}\n",
        "rest": "output:\n  path: out/results.jsonl\n",
    }
    sections.update(parts)
    return "".join(sections.values())


def test_valid_spec_prints_ok_and_a_summary(offline_job: Job) -> None:
    result = offline_job.cli("validate", "job.yaml")
    assert result.stdout.startswith("ok: reviews: 10 records from ")
    assert "1 model (openai gpt-4o-mini), batch mode" in result.stdout


def test_malformed_yaml_names_line_and_column(offline_job: Job) -> None:
    lines = validate(offline_job, "version: 1\nname: x\n  bad: [\n")
    assert lines[0].endswith(
        "job.yaml:3:3: invalid YAML: indentation does not match the line above "
        "(indent it by 0 spaces like line 2, or make line 2 a key that holds it)"
    )
    assert lines[-1] == "1 problem in the spec; nothing was sent."


def test_duplicate_yaml_key_is_an_error(offline_job: Job) -> None:
    lines = validate(offline_job, spec_text(rest="output:\n  path: a.jsonl\n  path: b.jsonl\n"))
    assert lines[0].endswith("job.yaml:15:3: output.path: duplicate key (already set on line 14; YAML keeps only one)")


def test_version_is_checked_first(offline_job: Job) -> None:
    lines = validate(offline_job, "version: 2\nname: Bad Name\nbogus: 1\n")
    assert len(lines) == 2
    assert lines[0].endswith(
        "job.yaml:1:10: version: unsupported spec version 2 (this batchspec reads version 1; upgrade batchspec)"
    )


def test_all_structural_errors_at_once_with_hints(offline_job: Job) -> None:
    text = spec_text(
        head="version: 1\nname: Bad Name\n",
        input="input:\n  path: data.jsonl\n  idd: id\n",
        model="model:\n  provider: opneai\n  name: gpt-4o-mini\n",
        rest="execution:\n  poll_interval: 10 minutes\n  max_bytes_per_batch: 100 megs\n"
        "output:\n  path: out/results.jsonl\n",
    )
    lines = validate(offline_job, text)
    assert [line.split("job.yaml:", 1)[1] for line in lines[:-1]] == [
        "2:7: name: 'Bad Name' is not valid (lowercase letters, digits, '_' and '-', at most 64)",
        "5:3: input.idd: unknown key 'idd' (did you mean 'id'?)",
        "10:13: model.provider: 'opneai' is not one of: openai, anthropic, azure, fake (did you mean 'openai'?)",
        "13:18: execution.poll_interval: '10 minutes' is not valid (a duration such as 60s, 5m, 24h or a number "
        "of seconds)",
        "14:24: execution.max_bytes_per_batch: '100 megs' is not valid (a size such as 100MB, 512KiB or a "
        "number of bytes)",
    ]
    assert lines[-1] == "5 problems in the spec; nothing was sent."


def test_missing_required_key(offline_job: Job) -> None:
    lines = validate(offline_job, spec_text(model="model:\n  provider: openai\n"))
    assert any(
        line.endswith(
            "job.yaml:10:3: model: missing required key 'name' "
            "(The provider's model name, e.g. gpt-4o-mini or claude-sonnet-4-5)"
        )
        for line in lines
    )


def test_wrong_type(offline_job: Job) -> None:
    lines = validate(offline_job, spec_text(rest="execution:\n  max_attempts: three\noutput:\n  path: o.jsonl\n"))
    assert lines[0].endswith(
        "job.yaml:14:17: execution.max_attempts: expected an integer, got 'three' "
        "(Attempts per record before a retryable error becomes final)"
    )


def test_semantic_errors_all_at_once(offline_job: Job) -> None:
    text = spec_text(
        input="input:\n  path: missing.jsonl\n  id: id\n",
        prompt="prompt:\n  system: hi\n  user: |\n    Review: {{ text }\n",
        model="model:\n  provider: openai\n  name: gpt-4o-mini\n  params: {max_token: 5, n: 2}\n",
        rest="output:\n  path: out/results.txt\n",
    )
    lines = validate(offline_job, text)
    assert [line.split("job.yaml:", 1)[1] for line in lines[:-1]] == [
        "4:9: input.path: missing.jsonl does not exist (paths are relative to the spec file)",
        "9:5: prompt.user: template syntax error: unexpected '}' (see https://jinja.palletsprojects.com/templates/)",
        "13:12: model.params.max_token: unknown parameter 'max_token' for openai (did you mean 'max_tokens'?)",
        "13:29: model.params.n: n must be 1 (batchspec stores one output per record and model)",
        "15:9: output.path: cannot tell the output format of 'out/results.txt' "
        "(use .jsonl, .csv, .parquet, .sqlite or .db, or set output.format)",
    ]


def test_api_key_in_spec_is_refused_with_a_hint(offline_job: Job) -> None:
    model = "model:\n  provider: openai\n  name: gpt-4o-mini\n  api_key: sk-123\n"
    lines = validate(offline_job, spec_text(model=model))
    assert lines[0].endswith(
        "job.yaml:12:3: model.api_key: unknown key 'api_key' (keys never go in the spec: "
        "set api_key_env to the name of an environment variable)"
    )


def test_anthropic_requires_max_tokens(offline_job: Job) -> None:
    lines = validate(offline_job, spec_text(model="model:\n  provider: anthropic\n  name: claude-haiku-4-5\n"))
    assert lines[0].endswith(
        "job.yaml:10:3: model.params: anthropic requires params.max_tokens (e.g. params: {max_tokens: 1024})"
    )


def test_template_variable_missing_from_first_records(offline_job: Job) -> None:
    lines = validate(offline_job, spec_text(prompt="prompt:\n  user: |\n    Review: {{ txt }}\n"))
    assert lines[0].endswith(
        "job.yaml:8:5: prompt.user: the template uses 'txt', which the record at "
        "data.jsonl:1 does not have (did you mean 'text'?)"
    )


def test_template_in_user_file_reports_the_template_file_line(offline_job: Job) -> None:
    (offline_job.dir / "prompt.j2").write_text("Line one\nReview: {{ text\n", "utf-8")
    lines = validate(offline_job, spec_text(prompt="prompt:\n  user_file: prompt.j2\n"))
    assert lines[0] == (
        "prompt.j2:2:1: prompt.user_file: template syntax error: unexpected end of template, "
        "expected 'end of print statement'. (see https://jinja.palletsprojects.com/templates/)"
    )


def test_prompt_needs_exactly_one_of_user_user_file_messages(offline_job: Job) -> None:
    lines = validate(offline_job, spec_text(prompt="prompt:\n  system: hi\n"))
    assert lines[0].endswith("job.yaml:7:3: prompt: the prompt needs exactly one of user, user_file, messages or input")


def test_unknown_input_format(offline_job: Job) -> None:
    (offline_job.dir / "data.json").write_text("[]", "utf-8")
    lines = validate(offline_job, spec_text(input="input:\n  path: data.json\n"))
    assert lines[0].endswith(
        "job.yaml:4:9: input.path: cannot tell the format of 'data.json' (use .jsonl, "
        ".ndjson, .csv, .tsv, .parquet or a glob like docs/*.txt, or set input.format)"
    )


def test_environment_variables_are_substituted_and_missing_ones_reported(
    offline_job: Job, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REVIEWS_FILE", "data.jsonl")
    ok = spec_text(input="input:\n  path: ${REVIEWS_FILE}\n  id: id\n")
    offline_job.spec_path.write_text(ok, "utf-8")
    assert offline_job.cli("validate", "job.yaml").stdout.startswith("ok: reviews: 10 records")
    lines = validate(offline_job, spec_text(input="input:\n  path: ${NO_SUCH_VARIABLE}\n"))
    assert lines[0].endswith(
        "job.yaml:4:9: input.path: environment variable NO_SUCH_VARIABLE is not set "
        "(set it, or write $${...} for a literal)"
    )


def test_secret_looking_variables_cannot_be_pulled_into_a_spec(offline_job: Job) -> None:
    lines = validate(offline_job, spec_text(prompt="prompt:\n  user: 'Key: ${OPENAI_API_KEY} {{ text }}'\n"))
    assert lines[0].endswith(
        "job.yaml:7:9: prompt.user: refusing to put ${OPENAI_API_KEY} into the spec "
        "(it looks like a secret; name API keys with model.api_key_env)"
    )


def test_duplicate_ids_are_named_with_their_lines(offline_job: Job) -> None:
    offline_job.write_records([{"id": 1, "text": "a"}, {"id": 2, "text": "b"}, {"id": 1, "text": "c"}])
    result = offline_job.cli("validate", "job.yaml", expect=2)
    assert result.stderr == (
        "error: job.yaml:5:7: input.id: record ids must be unique; duplicates:\n  '1' at data.jsonl:1, data.jsonl:3\n"
    )


def test_id_must_yield_a_value_for_every_record(offline_job: Job) -> None:
    records = [{"id": f"r{i}", "text": "x"} for i in range(30)] + [{"text": "no id"}]
    offline_job.write_records(records)
    result = offline_job.cli("validate", "job.yaml", expect=2)
    assert result.stderr == "error: data.jsonl:31: input.id: the record has no field 'id' (its fields: text)\n"


def test_missing_spec_file(tmp_path: Path, offline_job: Job) -> None:
    result = offline_job.cli("validate", str(tmp_path / "nope.yaml"), expect=2)
    assert result.stderr.startswith(f"{tmp_path / 'nope.yaml'}: no such spec file")


def test_unknown_model_price_is_a_warning_not_an_error(offline_job: Job) -> None:
    offline_job.write_spec({"model": {"name": "my-finetune"}})
    result = offline_job.cli("validate", "job.yaml")
    assert (
        "job.yaml:13:9: model.name: no price known for model 'my-finetune': costs will be reported as "
        "unknown (add it under `pricing:` in the spec)" in result.stderr
    )


def test_parameters_the_provider_retired_are_named(offline_job: Job) -> None:
    model = "model:\n  provider: anthropic\n  name: claude-haiku-4-5\n  params: {max_tokens: 5, temperature: 0}\n"
    lines = validate(offline_job, spec_text(model=model))
    assert lines[0].endswith(
        "job.yaml:12:27: model.params.temperature: anthropic's API (version 2026-10-21, what batchspec's SDK "
        "sends) refuses 'temperature' at any value (remove it: the provider refuses every request that carries "
        "it, also through extra_params)"
    )


@pytest.mark.parametrize(
    ("rest", "line"),
    [
        ("output:\n  path: .batchspec/reviews.db\n", "14:9: output.path: .batchspec/reviews.db is the state file"),
        ("state:\n  path: s.db\noutput:\n  path: s.db\n", "16:9: output.path: s.db is the state file"),
        ("output:\n  path: data.jsonl\n", "14:9: output.path: data.jsonl is an input file"),
        (
            "output:\n  path: out/r.jsonl\n  errors: ./data.jsonl\n",
            "15:11: output.errors: data.jsonl is an input file",
        ),
        (
            "cache:\n  responses: true\n  responses_path: c.db\noutput:\n  path: c.db\n",
            "17:9: output.path: c.db is the response cache",
        ),
    ],
)
def test_outputs_may_not_overwrite_what_the_job_reads_or_keeps(offline_job: Job, rest: str, line: str) -> None:
    lines = validate(offline_job, spec_text(rest=rest))
    assert lines[0].endswith(f"job.yaml:{line}: every run rewrites it (write the output somewhere else)")
    assert (offline_job.dir / "data.jsonl").stat().st_size > 0


def test_outputs_must_be_files_in_directories(offline_job: Job) -> None:
    (offline_job.dir / "out").write_text("a file where a directory should be")
    (offline_job.dir / "errors.jsonl").mkdir()
    lines = validate(offline_job, spec_text(rest="output:\n  path: out/r.jsonl\n  errors: errors.jsonl\n"))
    assert lines[0].endswith("job.yaml:14:9: output.path: out is not a directory (fix the path)")
    assert lines[1].endswith("job.yaml:15:11: output.errors: errors.jsonl is not a regular file (give a file path)")


def test_unknown_filters_and_tests_are_spec_errors_at_their_line(offline_job: Job) -> None:
    prompt = (
        "prompt:\n  system: Be brief.\n  user: |\n"
        "    Review: {{ text | shout }}\n    {% if text is loud %}!{% endif %}\n"
    )
    lines = validate(offline_job, spec_text(prompt=prompt))
    assert lines[0].endswith(
        "job.yaml:9:5: prompt.user: template syntax error: No filter named 'shout'. (see https://jinja.palletsprojects.com/templates/)"
    )
    assert lines[-1] == "1 problem in the spec; nothing was sent."


def test_parameter_values_and_non_numbers_are_checked(offline_job: Job) -> None:
    model = (
        "model:\n  provider: openai\n  name: gpt-4o-mini\n"
        "  params: {max_tokens: -5, temperature: hot}\n  extra_params: {messages: 5}\n"
    )
    rest = "execution:\n  max_cost_usd: .nan\noutput:\n  path: out/results.jsonl\n"
    lines = validate(offline_job, spec_text(model=model, rest=rest))
    expected = [
        "job.yaml:12:24: model.params.max_tokens: params.max_tokens must be a whole number of tokens, at least 1, "
        "not -5 (see the provider's API reference)",
        "job.yaml:12:41: model.params.temperature: params.temperature must be a number from 0 to 2, not 'hot' "
        "(see the provider's API reference)",
        "job.yaml:13:18: model.extra_params.messages: batchspec writes 'messages' itself "
        "(set it through the model and prompt sections)",
        "job.yaml:15:17: execution.max_cost_usd: nan is not a number batchspec can use (write a finite number)",
        "4 problems in the spec; nothing was sent.",
    ]
    assert len(lines) == len(expected)
    assert all(line.endswith(text) for line, text in zip(lines, expected, strict=True)), lines


def test_values_out_of_any_sensible_range(offline_job: Job) -> None:
    rest = "execution:\n  poll_interval: 400d\noutput:\n  path: out/results.jsonl\n"
    lines = validate(offline_job, spec_text(rest=rest))
    assert lines[0].endswith("job.yaml:14:18: execution.poll_interval: longer than a year: '400d' (e.g. 60s, 5m)")
    lines = validate(
        offline_job, spec_text(input="input:\n  path: data.jsonl\n  id: id\n  limit: 99999999999999999999\n")
    )
    assert lines[0].endswith("job.yaml:6:10: input.limit: must be at most 9007199254740991")


def test_yaml_nested_too_deeply(offline_job: Job) -> None:
    lines = validate(offline_job, "version: 1\ndescription: " + "[" * 5000 + "]" * 5000 + "\n")
    assert lines[0].endswith("job.yaml:1:1: invalid YAML: nested too deeply (a spec is a few levels deep)")


def test_an_environment_value_that_is_not_utf8(offline_job: Job) -> None:
    offline_job.spec_path.write_text(spec_text(head="version: 1\nname: reviews\ndescription: ${ODD}\n"), "utf-8")
    with pytest.raises(SpecError) as caught:
        load_spec(offline_job.spec_path, environ={"ODD": os.fsdecode(b"caf\xe9")})
    assert str(caught.value.diagnostics[0]).endswith(
        "job.yaml:3:14: description: environment variable ODD is not UTF-8 text (fix its value)"
    )


def test_a_record_id_of_the_wrong_type_is_reported_at_input_id(offline_job: Job) -> None:
    offline_job.write_records([{"id": 1.5, "text": "a"}])
    lines = validate(offline_job, spec_text())
    assert lines[0].endswith(
        "job.yaml:5:7: input.id: the record's id is float, not a string or an integer (the record at data.jsonl:1)"
    )


def test_a_template_that_fails_without_any_record_names_its_line(offline_job: Job) -> None:
    prompt = "prompt:\n  system: '{{ 1 / 0 }}'\n  user: '{{ text }}'\n"
    offline_job.spec_path.write_text(spec_text(prompt=prompt), "utf-8")
    result = offline_job.cli("validate", "job.yaml", expect=2)
    assert result.stderr.splitlines() == [
        "job.yaml:7:11: prompt.system: template error: ZeroDivisionError: division by zero",
        "1 problem in the spec; nothing was sent.",
    ]


def test_base_urls_that_do_not_parse(offline_job: Job) -> None:
    model = "model:\n  provider: openai\n  name: gpt-4o-mini\n  base_url: 'http://[::1'\n"
    lines = validate(offline_job, spec_text(model=model))
    assert lines[0].endswith(
        "job.yaml:12:13: model.base_url: not a valid URL: Invalid IPv6 URL (e.g. http://localhost:8000/v1)"
    )


def test_a_template_file_that_is_a_pipe_is_refused_not_read_forever(offline_job: Job) -> None:
    os.mkfifo(offline_job.dir / "prompt.txt")
    prompt = "prompt:\n  user_file: prompt.txt\n"
    lines = validate(offline_job, spec_text(prompt=prompt))
    assert lines[0].endswith(
        "job.yaml:7:14: prompt.user_file: template file prompt.txt cannot be read (prompt.txt is not a regular file) "
        "(paths are relative to the spec)"
    )


def test_zero_durations_and_sizes_are_refused_not_ignored(offline_job: Job) -> None:
    rest = "execution:\n  poll_interval: 0s\n  max_bytes_per_batch: 0MB\noutput:\n  path: out/results.jsonl\n"
    lines = validate(offline_job, spec_text(rest=rest))
    assert lines[0].endswith("job.yaml:14:18: execution.poll_interval: not more than zero: '0s' (e.g. 60s, 5m)")
    assert lines[1].endswith("job.yaml:15:24: execution.max_bytes_per_batch: no request fits in 0 bytes (e.g. 100MB)")


def test_an_output_beside_a_glob_input_is_not_taken_for_one(offline_job: Job) -> None:
    (offline_job.dir / "docs").mkdir()
    (offline_job.dir / "docs" / "a.txt").write_text("text", "utf-8")
    input_block = "input:\n  path: docs/*\n"
    prompt = "prompt:\n  user: '{{ text }}'\n"
    assert (
        validate(
            offline_job,
            spec_text(input=input_block, prompt=prompt, rest="output:\n  path: docs/out/r.jsonl\n"),
            expect=0,
        )
        == []
    )
    lines = validate(offline_job, spec_text(input=input_block, prompt=prompt, rest="output:\n  path: docs/r.jsonl\n"))
    assert any(
        line.endswith(
            "output.path: docs/r.jsonl is an input file: every run rewrites it (write the output somewhere else)"
        )
        for line in lines
    )


def test_null_parameters_mean_the_providers_default(offline_job: Job) -> None:
    model = "model:\n  provider: openai\n  name: gpt-4o-mini\n  params: {max_tokens: 5, temperature: null}\n"
    assert validate(offline_job, spec_text(model=model), expect=0) == []


def test_a_response_schema_nested_hundreds_deep(offline_job: Job) -> None:
    schema = '{"type": "object", "properties": {"a": ' * 150 + '{"type": "string"}' + "}}" * 150
    model = f"model:\n  provider: openai\n  name: gpt-4o-mini\n  response_schema: {schema}\n"
    lines = validate(offline_job, spec_text(model=model))
    assert lines[0].endswith(
        "job.yaml:1:1: nested too deeply (a spec, response_schema included, is a few dozen levels deep at most)"
    )


def test_an_empty_input_is_valid_but_warned_about(offline_job: Job) -> None:
    (offline_job.dir / "data.jsonl").write_text("", "utf-8")
    result = offline_job.cli("validate", "job.yaml")
    assert result.stdout.startswith("ok: reviews: 0 records from ")
    assert result.stderr == "warning: data.jsonl holds no records: a run would do nothing\n"

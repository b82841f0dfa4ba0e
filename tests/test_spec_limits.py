"""A spec or template from an untrusted pull request cannot make batchspec do unbounded work."""

from __future__ import annotations

import resource
import subprocess
import sys

import pytest

from tests.conftest import Job, record_of, reviews


def validate(job: Job, text: str, *args: str, expect: int = 2) -> list[str]:
    job.spec_path.write_text(text, "utf-8")
    return job.cli("validate", "job.yaml", *args, expect=expect).stderr.splitlines()


def billion_laughs() -> str:
    lines = ["version: 1", "name: bomb", "bogus:", "  a: &a [" + ",".join(['"lol"'] * 9) + "]"]
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"  {name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def _one_gigabyte() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def test_alias_bomb_is_refused_at_the_alias_before_it_is_expanded(offline_job: Job) -> None:
    offline_job.spec_path.write_text(billion_laughs(), "utf-8")
    # Expanded, the spec needs gigabytes: under a 1 GB cap only a refusal before expansion exits 2.
    result = subprocess.run(
        [sys.executable, "-m", "batchspec", "validate", "--untrusted", "job.yaml"],
        cwd=offline_job.dir,
        capture_output=True,
        text=True,
        preexec_fn=_one_gigabyte,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        "job.yaml:8:10: invalid YAML: aliases expand the spec past 10,000 values (at *d) "
        "(write the values out, or share fewer of them with `&anchor`/`*alias`)",
        "1 problem in the spec; nothing was sent.",
    ]


def test_alias_inside_its_own_anchor_is_refused_where_it_is_used(offline_job: Job) -> None:
    lines = validate(offline_job, "version: 1\nname: loop\nbogus: &a\n  - x\n  - *a\n")
    assert lines[0] == (
        "job.yaml:5:5: invalid YAML: alias *a is used inside the value it names "
        "(an alias must refer to a finished value)"
    )


def test_shared_params_through_anchors_still_work(offline_job: Job) -> None:
    text = offline_job.spec_path.read_text("utf-8").split("model:")[0] + (
        "model:\n"
        "  - {provider: openai, name: gpt-4o-mini, params: &shared {temperature: 0, max_tokens: 5}}\n"
        "  - {provider: openai, name: gpt-4o, params: *shared}\n"
        "output:\n  path: out/results.jsonl\n"
    )
    offline_job.spec_path.write_text(text, "utf-8")
    assert "2 models" in offline_job.cli("validate", "job.yaml").stdout


def template_spec(user: str) -> str:
    """The standard spec with ``user`` as its user template, a block scalar whose text starts on line 8."""
    body = "".join(f"    {line}\n" for line in user.splitlines())
    return (
        "version: 1\nname: reviews\ninput:\n  path: data.jsonl\n  id: id\n"
        f"prompt:\n  user: |\n{body}"
        "model:\n  provider: openai\n  name: gpt-4o-mini\n  params: {max_tokens: 5}\n"
        "output:\n  path: out/results.jsonl\n"
    )


LIMIT_HINT = "(a prompt needs no more; see 'Templates' in the README for the bounds)"


def test_repeating_text_past_the_bound_is_refused_at_the_line_before_it_is_built(offline_job: Job) -> None:
    lines = validate(offline_job, template_spec("Review: {{ text }}\n{{ text * 10**10 }}"))
    assert lines == [
        "job.yaml:9:5: prompt.user: '*' of a value would be 380,000,000,000 characters long; one render may "
        f"produce at most 10,000,000 (the record at data.jsonl:1) {LIMIT_HINT}",
        "1 problem in the spec; nothing was sent.",
    ]


def test_nested_loops_are_stopped_after_a_million_steps(offline_job: Job) -> None:
    loops = "{{ text }}\n{% for i in range(100000) %}\n{% for j in range(100000) %}{% endfor %}{% endfor %}"
    lines = validate(offline_job, template_spec(loops), "--untrusted")
    assert lines[0] == (
        "job.yaml:10:5: prompt.user: the template's loops ran more than 1,000,000 times for one record "
        f"(the record at data.jsonl:1) {LIMIT_HINT}"
    )


def test_padding_and_range_past_the_bound_are_refused(offline_job: Job) -> None:
    lines = validate(offline_job, template_spec("{{ text|center(10**9) }}"))
    assert "the 'center' filter's padding would be 1,000,000,000 characters long" in lines[0]
    lines = validate(offline_job, template_spec("{{ text }}{{ range(10**6)|join }}"))
    assert "range() of 1,000,000 numbers; a template may make ranges of at most 100,000" in lines[0]


def test_a_slow_render_is_stopped(offline_job: Job, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("batchspec.sandbox.MAX_SECONDS", 0.0)
    lines = validate(offline_job, template_spec("{{ text|upper }}"))
    assert lines[0].startswith("job.yaml:8:5: prompt.user: the template took longer than 0s for one record")


def test_lipsum_cycler_and_joiner_are_not_available_but_namespace_is(offline_job: Job) -> None:
    lines = validate(offline_job, template_spec("{{ text }} {{ lipsum(10**6) }}"))
    assert lines[0] == (
        "job.yaml:8:5: prompt.user: the template uses 'lipsum', which the record at data.jsonl:1 does not have "
        "(batchspec templates leave out Jinja's lipsum, cycler, joiner)"
    )
    counted = "{% set ns = namespace(n=0) %}{% for w in text.split() %}{% set ns.n = ns.n + 1 %}{% endfor %}"
    offline_job.spec_path.write_text(template_spec(counted + "{{ text }} ({{ ns.n }} words)"), "utf-8")
    offline_job.cli("validate", "job.yaml")
    offline_job.cli("plan", "job.yaml", "--emit", "payloads")
    [payload] = (offline_job.dir / "payloads").iterdir()
    assert "(7 words)" in payload.read_text("utf-8").splitlines()[0]


def test_a_record_whose_data_trips_a_bound_fails_alone_at_run(job: Job) -> None:
    records = [{**r, "n": 2} for r in reviews(25)]
    records[22]["n"] = 10**9  # past the 20 records validate samples
    job.write_records(records)
    job.spec_path.write_text(
        template_spec("{{ text * n }}").replace(
            "  provider: openai\n", f"  provider: openai\n  base_url: {job.spec['model']['base_url']}\n"
        )
        + "execution:\n  poll_interval: 0.02\n",
        "utf-8",
    )
    job.cli("validate", "job.yaml")
    job.run(expect=1)
    [error] = job.errors()
    assert record_of(error["custom_id"]) == "r23"
    assert error["error_message"] == (
        "prompt.user, line 1 of the template: '*' of a value would be 39,000,000,000 characters long; one render may produce at most 10,000,000"
    )
    assert len(job.outputs()) == 24

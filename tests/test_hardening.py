"""Bad input never ends in a traceback; concurrent runs of one job are refused."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchspec.fakeapi import FakeAPI
from tests.conftest import BASE_SPEC, Job, reviews

VALID_EXITS = {0, 1, 2, 75}


def test_two_runs_of_one_job_at_once(job: Job, fake_api: FakeAPI) -> None:
    fake_api.config.processing_seconds = 3600
    first = subprocess.Popen(
        [sys.executable, "-m", "batchspec", "run", "job.yaml", "-q"],
        cwd=job.dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not fake_api.ledger.batches_created() and time.monotonic() < deadline:
            time.sleep(0.05)
        before = job.state_path.read_bytes()
        second = job.run(expect=2)
        assert "job 'reviews' is already running (pid " in second.stderr
        assert job.state("SELECT count(*) FROM runs") == [(1,)]
        assert len(job.state_path.read_bytes()) == len(before)
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
    fake_api.advance(3600)
    job.run()  # the lock died with the process
    assert len(fake_api.ledger.batches_created()) == 1


# -- random mutations of a valid spec and its input -------------------------------------------

KEYS = [
    "version",
    "name",
    "input",
    "prompt",
    "model",
    "execution",
    "cache",
    "output",
    "state",
    "pricing",
    "path",
    "id",
    "format",
    "limit",
    "user",
    "system",
    "messages",
    "provider",
    "params",
    "max_tokens",
    "mode",
    "max_requests_per_batch",
    "poll_interval",
    "max_bytes_per_batch",
    "prompt_caching",
    "include",
]
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**6),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(
        [
            "{{ text }}",
            "{{ nope }}",
            "{% if %}",
            "1h",
            "-1s",
            "100MB",
            "openai",
            "anthropic",
            "fake",
            "data.jsonl",
            "data.csv",
            "*.txt",
            "${HOME}",
            "${MISSING_VAR}",
            "{{ ''.__class__ }}",
        ]
    ),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.sampled_from(KEYS), st.integers(), max_size=3),
)


def mutate(spec: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    spec = copy.deepcopy(spec)
    for _ in range(data.draw(st.integers(1, 4))):
        node: Any = spec
        path = []
        while isinstance(node, dict) and node and data.draw(st.booleans()):
            key = data.draw(st.sampled_from(sorted(node)))
            path.append(key)
            if not isinstance(node[key], dict):
                break
            node = node[key]
        target = spec
        for key in path[:-1]:
            target = target[key]
        action = data.draw(st.sampled_from(["delete", "replace", "add"]))
        if not path or not isinstance(target, dict):
            continue
        if action == "delete":
            target.pop(path[-1], None)
        elif action == "replace":
            target[path[-1]] = data.draw(VALUES)
        else:
            target[data.draw(st.sampled_from(KEYS))] = data.draw(VALUES)
    return spec


INPUT_DAMAGE = st.sampled_from(
    [
        b"",
        b"\n\n",
        b"{\n",
        b"[1,2]\n",
        b"null\n",
        b'{"id": null, "text": "x"}\n',
        b'{"id": [1], "text": "x"}\n',
        b'{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n',
        b"\xff\xfe\x00garbage",
        b'{"text": "no id"}\n',
        b'{"id": "' + b"x" * 5000 + b'", "text": "long"}\n',
    ]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_specs_and_inputs_end_cleanly(offline_job: Job, data: st.DataObject) -> None:
    spec = mutate(BASE_SPEC, data)
    text = yaml.safe_dump(spec, sort_keys=False)
    if data.draw(st.booleans()):
        cut = data.draw(st.integers(0, len(text)))
        text = text[:cut] + data.draw(st.sampled_from(["", ":", "\t", "- [", "'", "{{", "\x00"])) + text[cut:]
    offline_job.spec_path.write_text(text, "utf-8")
    records = b"".join(f'{{"id": "r{i}", "text": "t{i}"}}\n'.encode() for i in range(5))
    if data.draw(st.booleans()):
        records += data.draw(INPUT_DAMAGE)
    (offline_job.dir / "data.jsonl").write_bytes(records)
    for command in (["validate", "job.yaml"], ["plan", "job.yaml", "--json"]):
        result = offline_job.cli(*command, expect=None)
        assert result.exit_code in VALID_EXITS, (command, result.exit_code, result.stderr)
        assert "Traceback" not in result.stderr + result.stdout
        if result.exit_code == 2:
            assert result.stderr.strip(), "an error exit must say why"


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_specs_run_against_the_fake_end_cleanly(job: Job, data: st.DataObject) -> None:
    spec = mutate(job.spec, data)
    job.spec_path.write_text(yaml.safe_dump(spec, sort_keys=False), "utf-8")
    job.write_records(reviews(5))
    result = job.cli("run", "job.yaml", "-q", expect=None)
    assert result.exit_code in VALID_EXITS | {3}, (result.exit_code, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout


def test_state_directory_that_cannot_be_written(job: Job, tmp_path: Path) -> None:
    if os.geteuid() == 0:  # root writes anywhere: use a path under a file instead
        blocker = tmp_path / "blocker"
        blocker.write_text("")
        job.write_spec({"state": {"path": str(blocker / "state.db")}})
    result = job.run(expect=2)
    assert "state" in result.stderr.lower() and "Traceback" not in result.stderr


def test_untrusted_specs_read_nothing_outside_their_directory(
    offline_job: Job, tmp_path_factory: pytest.TempPathFactory
) -> None:
    secret = tmp_path_factory.mktemp("elsewhere") / "secret.txt"
    secret.write_text("id,text\n1,top secret\n", "utf-8")
    (offline_job.dir / "link.csv").symlink_to(secret)
    offline_job.write_spec({"input": {"path": "link.csv"}})
    assert offline_job.cli("plan", "job.yaml", "--json").exit_code == 0  # trusted: fine
    result = offline_job.cli("plan", "job.yaml", "--untrusted", "--explain", "1", expect=2)
    assert "is outside the spec's directory (untrusted specs may not read it)" in result.stderr
    assert "top secret" not in result.stdout + result.stderr
    offline_job.write_spec({"input": {"path": "data.jsonl"}, "prompt": {"user": None, "user_file": str(secret)}})
    result = offline_job.cli("validate", "job.yaml", "--untrusted", expect=2)
    assert "is outside the spec's directory (untrusted specs may only read files beside them)" in result.stderr
    offline_job.write_spec({"prompt": {"user_file": None, "user": "${HOME} {{ text }}"}})
    result = offline_job.cli("validate", "job.yaml", "--untrusted", expect=2)
    assert "prompt.user: refusing ${HOME} (untrusted specs cannot read the environment)" in result.stderr
    offline_job.write_spec({"prompt": {"user": "{{ text }}"}})
    assert offline_job.cli("validate", "job.yaml", "--untrusted").stdout.startswith("ok: ")
    # Nor as its state or its response cache (the operator's own --state is theirs to choose).
    offline_job.write_spec(
        {"state": {"path": str(secret)}, "cache": {"responses": True, "responses_path": str(secret)}}
    )
    result = offline_job.cli("plan", "job.yaml", "--untrusted", expect=2)
    assert "state.path: " in result.stderr and "cache.responses_path: " in result.stderr
    assert result.stderr.count("is outside the spec's directory (untrusted specs may only read files beside them)") == 2
    offline_job.write_spec({"state": None, "cache": {"responses_path": None}})
    result = offline_job.cli("plan", "job.yaml", "--untrusted", "--json")
    assert "cache.responses: untrusted spec: the shared response cache is not read" in result.stderr
    offline_job.write_spec({"cache": None})
    assert offline_job.cli("plan", "job.yaml", "--untrusted", "--state", str(secret.parent / "s.db")).exit_code == 0

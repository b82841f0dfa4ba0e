"""The public Python API: what `import batchspec` offers, and a job driven without the CLI."""

from __future__ import annotations

import subprocess
import sys
import time

import openai
import pytest

import batchspec
from batchspec.fakeapi import FakeAPI
from tests.conftest import Job


def test_public_surface_is_deliberate() -> None:
    assert sorted(batchspec.__all__) == sorted(
        [
            "AuthError",
            "BatchspecError",
            "BudgetError",
            "Diagnostic",
            "ExitCode",
            "InputError",
            "JobSpec",
            "Plan",
            "ProviderError",
            "RunOptions",
            "RunSummary",
            "SpecError",
            "StateError",
            "__version__",
            "build_plan",
            "emit",
            "load_spec",
            "run_job",
        ]
    )
    for name in batchspec.__all__:
        assert hasattr(batchspec, name), name


def test_a_job_through_the_python_api(job: Job, fake_api: FakeAPI) -> None:
    spec = batchspec.load_spec(job.spec_path)
    with batchspec.build_plan(spec) as plan:
        assert plan.has_work and plan.to_dict()["models"][0]["to_send"] == 10
    summary = batchspec.run_job(spec, batchspec.RunOptions(quiet=True))
    assert (summary.done, summary.exit_code, summary.batches_submitted) == (10, batchspec.ExitCode.OK, 1)
    with batchspec.build_plan(spec) as plan:
        assert not plan.has_work


def test_emit_needs_a_plan_that_kept_its_bodies(offline_job: Job) -> None:
    spec = batchspec.load_spec(offline_job.spec_path)
    out = offline_job.dir / "payloads"
    with batchspec.build_plan(spec) as plan, pytest.raises(ValueError, match="keep_bodies=True"):
        batchspec.emit(plan, out)
    assert not out.exists() or not list(out.iterdir())
    with batchspec.build_plan(spec, keep_bodies=True) as plan:
        assert [p.name for p in batchspec.emit(plan, out)] == ["gpt-4o-mini-batch-0001.jsonl"]
    plan.close()  # closing twice is harmless


def test_spec_errors_through_the_python_api(offline_job: Job) -> None:
    offline_job.spec_path.write_text("version: 1\nname: x\n", "utf-8")
    try:
        batchspec.load_spec(offline_job.spec_path)
    except batchspec.SpecError as error:
        assert len(error.diagnostics) == 4  # input, prompt, model, output: all at once
        assert all(d.line >= 1 for d in error.diagnostics)
        assert "missing required key 'input'" in str(error)
    else:
        raise AssertionError("expected a SpecError")


def test_fake_server_command_serves_the_sdks() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "batchspec", "fake-server", "--port", "0"], stderr=subprocess.PIPE, text=True
    )
    try:
        line = process.stderr.readline() if process.stderr else ""
        assert "fake API listening on http://127.0.0.1:" in line
        url = line.strip().rsplit(" ", 1)[-1]
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="k", max_retries=0)
        deadline = time.monotonic() + 10
        while True:
            try:
                answer = client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
                )
                break
            except openai.APIConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert answer.choices[0].message.content == "Fake answer to: hi"
    finally:
        process.terminate()
        process.communicate(timeout=10)

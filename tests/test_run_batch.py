"""`run` in batch mode, end to end through the real SDKs against the fake API server."""

from __future__ import annotations

import json
import sqlite3

import pyarrow.parquet as pq
import pytest

from batchspec.fakeapi import FakeAPI
from tests.conftest import Job, record_of, reviews, submitted_per_record


def anthropic(job: Job, fake_api: FakeAPI) -> Job:
    return job.write_spec(
        {
            "model": {
                "provider": "anthropic",
                "name": "claude-haiku-4-5",
                "base_url": fake_api.anthropic_base_url,
                "params": {"temperature": None},
            }
        }
    )


def test_openai_batch_run_writes_outputs_in_input_order(job: Job, fake_api: FakeAPI) -> None:
    result = job.run("--json")
    summary = json.loads(result.stdout.splitlines()[-1])
    assert (summary["done"], summary["failed"], summary["exit_code"]) == (10, 0, 0)
    rows = job.outputs()
    assert [r["id"] for r in rows] == [f"r{i}" for i in range(1, 11)]
    assert {r["output"] for r in rows} <= {"positive", "negative", "neutral"}
    assert all(r["model"] == "gpt-4o-mini" and r["usage"]["input_tokens"] > 0 and r["cost_usd"] > 0 for r in rows)
    assert rows[0]["text"] == "Review number 1: it works well enough."
    assert job.errors() == []
    assert len(fake_api.ledger.batches_created("openai")) == 1
    assert job.state("SELECT status, count(*) FROM records GROUP BY 1") == [("done", 10)]
    billed = fake_api.ledger.billed_usage("openai")
    assert summary["usage"]["input_tokens"] == billed["input_tokens"]
    assert summary["usage"]["output_tokens"] == billed["output_tokens"]


def test_anthropic_batch_run(job: Job, fake_api: FakeAPI) -> None:
    anthropic(job, fake_api).run()
    rows = job.outputs()
    assert [r["id"] for r in rows] == [f"r{i}" for i in range(1, 11)]
    assert all(r["model"] == "claude-haiku-4-5" for r in rows)
    assert len(fake_api.ledger.batches_created("anthropic")) == 1
    assert fake_api.ledger.billed_usage("anthropic")["requests"] == 10


def test_rerun_sends_nothing_and_rewrites_the_outputs(job: Job, fake_api: FakeAPI) -> None:
    job.run()
    first = job.outputs()
    (job.dir / "out" / "results.jsonl").unlink()
    requests_before = len(fake_api.ledger.http_requests)
    result = job.run("--json")
    assert json.loads(result.stdout.splitlines()[-1])["batches_submitted"] == 0
    assert len(fake_api.ledger.http_requests) == requests_before  # not even a poll
    assert job.outputs() == first


def test_edited_template_resends_only_the_changed_records(job: Job, fake_api: FakeAPI) -> None:
    job.run()
    records = reviews(10)
    records[2]["text"] = "Changed review."
    job.write_records(records + reviews(2, start=11))
    job.run()
    batches = fake_api.ledger.batches_created()
    assert len(batches) == 2
    assert sorted(map(record_of, batches[1]["custom_ids"])) == ["r11", "r12", "r3"]
    assert [r["id"] for r in job.outputs()] == [f"r{i}" for i in range(1, 13)]


@pytest.mark.parametrize("fault", ["server_error", "rate_limit", "missing_rate", "malformed_rate"])
def test_retryable_faults_are_resent_and_end_done(job: Job, fake_api: FakeAPI, fault: str) -> None:
    setattr(fake_api.config.faults, fault, 0.5)
    job.write_records(reviews(20)).run()
    assert len(job.outputs()) == 20
    assert job.errors() == []
    submitted = submitted_per_record(fake_api.ledger)
    assert any(n == 2 for n in submitted.values())  # some were re-sent ...
    assert len(fake_api.ledger.batches_created()) >= 2
    assert fake_api.ledger.answered_twice() == {}  # ... and none was paid for twice


def test_anthropic_overloaded_is_retried(job: Job, fake_api: FakeAPI) -> None:
    fake_api.config.faults.overloaded = 0.5
    anthropic(job, fake_api).run()
    assert len(job.outputs()) == 10
    codes = {row[0] for row in job.state("SELECT code FROM errors")}
    assert codes == {"overloaded_error"}


@pytest.mark.parametrize(
    ("fault", "code"), [("context_length", "context_length_exceeded"), ("content_policy", "content_policy_violation")]
)
def test_permanent_errors_go_to_the_errors_sink(job: Job, fake_api: FakeAPI, fault: str, code: str) -> None:
    setattr(fake_api.config.faults, fault, 0.3)
    job.write_records(reviews(20))
    job.run(expect=1)
    errors = job.errors()
    assert errors and all(e["error_code"] == code and e["attempts"] == 1 for e in errors)
    assert len(job.outputs()) + len(errors) == 20
    assert len(fake_api.ledger.batches_created()) == 1  # permanent errors are not re-sent
    job.run(expect=1)  # and not on a rerun either
    assert len(fake_api.ledger.batches_created()) == 1


def test_retryable_errors_give_up_after_max_attempts(job: Job, fake_api: FakeAPI) -> None:
    fake_api.config.faults.server_error = 1.0
    fake_api.config.faults.retry_succeeds = False
    job.write_spec({"execution": {"max_attempts": 2}}).run(expect=1)
    errors = job.errors()
    assert len(errors) == 10 and {e["attempts"] for e in errors} == {2}
    assert len(fake_api.ledger.batches_created()) == 2
    fake_api.config.faults.server_error = 0.0
    job.run("--retry-failed")
    assert len(job.outputs()) == 10 and job.errors() == []


def test_lines_the_provider_blames_are_errors_and_the_rest_is_resent(job: Job, fake_api: FakeAPI) -> None:
    fake_api.config.faults.fail_validation = True  # the batch fails validation, blaming its line 1
    result = job.cli("run", "job.yaml", expect=1)
    assert "failed at the provider: invalid_json_line: This line is not parseable as valid JSON." in result.stderr
    assert "9 requests were not run (no attempt used): they are sent again" in result.stderr
    assert [(e["id"], e["error_code"]) for e in job.errors()] == [("r1", "invalid_json_line")]
    assert [row["id"] for row in job.outputs()] == [f"r{i}" for i in range(2, 11)]
    statuses = [row[0] for row in job.state("SELECT status FROM batches ORDER BY created_at")]
    assert statuses == ["failed", "completed"]
    assert job.state("SELECT max(attempts) FROM records WHERE status = 'done'") == [(1,)]


def test_expired_batch_keeps_what_completed_and_resends_the_rest(job: Job, fake_api: FakeAPI) -> None:
    fake_api.config.faults.expire_after_fraction = 0.5
    job.write_records(reviews(20)).run()
    assert len(job.outputs()) == 20
    batches = fake_api.ledger.batches_created()
    assert len(batches) == 2 and 0 < len(batches[1]["custom_ids"]) < 20
    attempts = {row[0] for row in job.state("SELECT attempts FROM records")}
    assert attempts == {1}  # expiry is not the record's fault: no attempt used up
    assert fake_api.ledger.answered_twice() == {}


def test_job_larger_than_one_batch(job: Job, fake_api: FakeAPI) -> None:
    job.write_records(reviews(25)).write_spec({"execution": {"max_requests_per_batch": 4, "max_concurrent_batches": 2}})
    job.run()
    batches = fake_api.ledger.batches_created()
    assert [len(b["custom_ids"]) for b in batches] == [4, 4, 4, 4, 4, 4, 1]
    assert len(job.outputs()) == 25
    assert sum(submitted_per_record(fake_api.ledger).values()) == 25


def test_two_models_give_one_row_per_record_and_model(job: Job, fake_api: FakeAPI) -> None:
    job.write_spec(
        {
            "model": [
                {
                    "provider": "openai",
                    "name": "gpt-4o-mini",
                    "base_url": fake_api.openai_base_url,
                    "params": {"max_tokens": 5},
                },
                {
                    "provider": "anthropic",
                    "name": "claude-haiku-4-5",
                    "base_url": fake_api.anthropic_base_url,
                    "params": {"max_tokens": 5},
                },
            ]
        }
    ).run()
    rows = job.outputs()
    assert [(r["id"], r["model"]) for r in rows[:4]] == [
        ("r1", "gpt-4o-mini"),
        ("r1", "claude-haiku-4-5"),
        ("r2", "gpt-4o-mini"),
        ("r2", "claude-haiku-4-5"),
    ]
    assert len(rows) == 20
    assert len(fake_api.ledger.batches_created("openai")) == len(fake_api.ledger.batches_created("anthropic")) == 1


def test_no_wait_then_resume_polls_the_same_batch(job: Job, fake_api: FakeAPI) -> None:
    fake_api.config.processing_seconds = 3600
    result = job.run("--no-wait", expect=75)
    assert "1 batch still in flight" in result.stdout
    status = json.loads(job.cli("status", "job.yaml", "--json").stdout)
    assert status["records"]["submitted"] == 10 and not status["batches"][0]["collected"]
    job.run("--no-wait", expect=75)  # still running: nothing new submitted
    fake_api.advance(3600)
    job.run()
    assert len(fake_api.ledger.batches_created()) == 1
    assert len(job.outputs()) == 10


def test_cancel_keeps_finished_results_and_the_next_run_sends_the_rest(job: Job, fake_api: FakeAPI) -> None:
    fake_api.config.processing_seconds = 100
    job.write_records(reviews(20)).run("--no-wait", expect=75)
    fake_api.advance(50)  # about half the batch has run
    result = job.cli("cancel", "job.yaml")
    assert "Cancelled 1 batch" in result.stdout
    done = len(job.outputs())
    assert 0 < done < 20
    fake_api.config.processing_seconds = 0
    job.run()
    assert len(job.outputs()) == 20
    second = fake_api.ledger.batches_created()[1]
    assert len(second["custom_ids"]) == 20 - done


def test_structured_output_is_parsed_and_checked(job: Job, fake_api: FakeAPI) -> None:
    schema = {
        "type": "object",
        "properties": {"label": {"enum": ["pos", "neg"]}, "score": {"type": "number"}},
        "required": ["label", "score"],
        "additionalProperties": False,
    }
    job.write_spec({"model": {"response_schema": schema, "params": {"max_tokens": 200}}}).run()
    rows = job.outputs()
    assert len(rows) == 10
    assert all(r["parsed"]["label"] in ("pos", "neg") and json.loads(r["output"]) == r["parsed"] for r in rows)


def test_output_that_does_not_match_the_schema_is_an_error_row(job: Job) -> None:
    schema = {"type": "object", "properties": {"label": {"enum": ["pos", "neg"]}}, "required": ["label"]}
    job.write_spec(
        {"model": {"response_schema": schema, "params": {"max_tokens": 3}}, "execution": {"max_attempts": 2}}
    ).run(expect=1)
    errors = job.errors()
    assert len(errors) == 10 and errors[0]["attempts"] == 2
    assert errors[0]["error_code"] == "invalid_output"
    assert "cut off at max_tokens" in errors[0]["error_message"]


@pytest.mark.parametrize("suffix", ["csv", "parquet", "sqlite"])
def test_other_sink_formats(job: Job, suffix: str) -> None:
    job.write_spec({"output": {"path": f"out/results.{suffix}"}}).run()
    path = job.dir / "out" / f"results.{suffix}"
    if suffix == "csv":
        lines = path.read_text().splitlines()
        assert lines[0] == (
            "id,model,output,current,usage_input_tokens,usage_output_tokens,usage_cache_read_tokens,"
            "usage_cache_write_tokens,cost_usd,text"
        )
        assert len(lines) == 11 and lines[1].split(",")[3] == "true"
    elif suffix == "parquet":
        table = pq.read_table(path)
        assert table.num_rows == 10 and table.column("id").to_pylist()[0] == "r1"
        assert table.column("current").to_pylist() == [True] * 10
        assert table.column("usage").to_pylist()[0]["input_tokens"] > 0
    else:
        db = sqlite3.connect(path)
        assert db.execute("SELECT count(*), min(id) FROM results").fetchone() == (10, "r1")
        db.close()


def test_unreachable_provider_exits_3_and_keeps_the_state(job: Job) -> None:
    job.write_spec({"model": {"base_url": "http://127.0.0.1:9/v1"}})
    result = job.run(expect=3)
    assert "cannot reach openai at http://127.0.0.1:9/v1 to list batches" in result.stderr  # before anything is sent
    job.write_spec({"model": {"base_url": None}})
    assert job.state("SELECT status, count(*) FROM records GROUP BY 1") in ([("pending", 10)], [("submitted", 10)])


def test_a_rejected_key_exits_3_naming_the_provider(job: Job, fake_api: FakeAPI) -> None:
    fake_api.config.required_api_key = "the-right-key"
    result = job.run(expect=3)
    assert "openai" in result.stderr and "rejected the API key (the key in OPENAI_API_KEY)" in result.stderr
    assert "sk-test-fake-key-0123456789" not in result.stderr


def test_a_missing_key_names_the_variable(job: Job, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    job.write_spec({"model": {"base_url": None}})
    result = job.run(expect=2)
    assert "openai: no API key: the environment variable OPENAI_API_KEY is not set" in result.stderr


def test_a_key_with_a_trailing_newline_is_named_at_once(job: Job, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-fake-key-0123456789\n")
    result = job.run(expect=2)
    assert "the API key in the environment variable OPENAI_API_KEY has whitespace in it" in result.stderr
    assert "sk-test-fake-key" not in result.stdout + result.stderr
    assert job.state("SELECT count(*) FROM batches") == [(0,)]


def test_unchanged_rerun_skips_planning_and_leaves_current_outputs_alone(job: Job, fake_api: FakeAPI) -> None:
    job.run()
    output = job.dir / "out" / "results.jsonl"
    stamp = output.stat().st_mtime_ns
    result = job.run()
    assert "nothing changed since the last run" in job.cli("run", "job.yaml", "-q").stdout
    assert output.stat().st_mtime_ns == stamp
    assert "Run 2 of reviews" in result.stdout  # a run of its own
    output.write_text("tampered\n")
    job.run()
    assert len(job.outputs()) == 10  # an edited output is rewritten from the state
    job.append_records(reviews(1, start=11))
    assert "nothing changed" not in job.run().stdout  # a changed input is planned again
    assert len(job.outputs()) == 11


def test_a_batch_of_a_model_removed_from_the_spec_does_not_hang_the_run(job: Job, fake_api: FakeAPI) -> None:
    fake_api.config.processing_seconds = 3600
    two = [
        {
            "provider": "openai",
            "name": "gpt-4o-mini",
            "base_url": fake_api.openai_base_url,
            "params": {"max_tokens": 5},
        },
        {
            "provider": "openai",
            "name": "gpt-4.1-mini",
            "base_url": fake_api.openai_base_url,
            "params": {"max_tokens": 5},
        },
    ]
    job.write_spec({"model": two}).run("--no-wait", expect=75)
    fake_api.advance(3600)
    job.write_spec({"model": two[:1]})
    result = job.cli("run", "job.yaml", expect=0)
    assert "of model gpt-4.1-mini, no longer in the spec, is still in flight" in result.stderr
    assert [r["model"] for r in job.outputs()] == ["gpt-4o-mini"] * 10


def test_reverting_an_edit_while_its_batch_runs_does_not_pay_twice(job: Job, fake_api: FakeAPI) -> None:
    fake_api.config.processing_seconds = 3600
    job.run("--no-wait", expect=75)  # prompt P1 in flight
    original = job.spec["prompt"]["user"]
    job.write_spec({"prompt": {"user": "Changed: {{ text }}"}}).run("--no-wait", expect=75)  # P2 in flight too
    job.write_spec({"prompt": {"user": original}})  # back to P1, still in flight
    assert job.plan_json()["models"][0]["counts"]["in_flight"] == 10
    fake_api.advance(3600)
    job.run()
    assert len(fake_api.ledger.batches_created()) == 2  # P1 and P2, and no second P1
    assert [r["output"] for r in job.outputs()] and job.state("SELECT count(*) FROM records WHERE status='done'") == [
        (10,)
    ]


def test_sqlite_output_keeps_fields_that_differ_only_in_case(job: Job) -> None:
    job.write_records([{"id": f"r{i}", "text": "x", "ID": f"upper{i}", "Text": "T"} for i in range(1, 4)])
    job.write_spec({"output": {"path": "out/results.sqlite"}}).run()
    db = sqlite3.connect(job.dir / "out" / "results.sqlite")
    names = [row[1] for row in db.execute("PRAGMA table_info(results)")]
    assert [n for n in names if n.lower() in ("id", "text", "id_2", "text_2")] == ["id", "text", "ID_2", "Text_2"]
    assert db.execute('SELECT id, "ID_2" FROM results ORDER BY id').fetchall() == [
        ("r1", "upper1"),
        ("r2", "upper2"),
        ("r3", "upper3"),
    ]
    db.close()


def test_runs_are_numbered_one_after_another_unchanged_reruns_included(job: Job) -> None:
    numbers = []
    for _ in range(3):
        numbers.append(job.run().stdout.split()[1])
    job.append_records(reviews(2, start=11))
    numbers.append(job.run().stdout.split()[1])
    assert numbers == ["1", "2", "3", "4"]
    assert "nothing changed since the last run" in job.run().stdout

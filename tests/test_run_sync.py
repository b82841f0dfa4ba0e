"""`run` in sync mode: the synchronous APIs under rate-limit control, through the real async SDKs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import batchspec
from batchspec.fakeapi import FakeAPI
from tests.conftest import Job, reviews


def sync(job: Job, **execution: object) -> Job:
    return job.write_spec({"execution": {"mode": "sync", "concurrency": 8, **execution}})


def statuses(fake_api: FakeAPI, path: str) -> list[int]:
    return [r["status"] for r in fake_api.ledger.requests_to(path, "POST")]


def test_sync_run_completes_with_both_providers(job: Job, fake_api: FakeAPI) -> None:
    summary = json.loads(sync(job).run("--json").stdout.splitlines()[-1])
    assert (summary["mode"], summary["done"], summary["requests_sent"]) == ("sync", 10, 10)
    assert [r["id"] for r in job.outputs()] == [f"r{i}" for i in range(1, 11)]
    assert fake_api.ledger.batches_created() == []
    assert fake_api.ledger.billed_usage("openai", batch=False)["requests"] == 10
    # Cost at the synchronous price: the same as the uncached synchronous cost.
    assert summary["usage"]["cost_usd"] == summary["usage"]["sync_cost_usd"] > 0
    job.write_spec(
        {
            "model": {
                "provider": "anthropic",
                "name": "claude-haiku-4-5",
                "base_url": fake_api.anthropic_base_url,
                "params": {"temperature": None},
            }
        }
    ).run()
    assert {r["model"] for r in job.outputs()} == {"claude-haiku-4-5"}
    assert fake_api.ledger.billed_usage("anthropic", batch=False)["requests"] == 10


def test_mode_flag_overrides_the_spec(job: Job, fake_api: FakeAPI) -> None:
    job.run("--mode", "sync")
    assert fake_api.ledger.batches_created() == []
    assert len(job.outputs()) == 10


def test_a_429_storm_is_waited_out(job: Job, fake_api: FakeAPI) -> None:
    fake_api.config.faults.sync_rate_limit = 0.6
    fake_api.config.faults.retry_after_seconds = 0.05
    sync(job.write_records(reviews(30))).run()
    assert len(job.outputs()) == 30 and job.errors() == []
    assert 429 in statuses(fake_api, "/v1/chat/completions")
    assert fake_api.ledger.answered_twice() == {}
    assert job.state("SELECT count(*) FROM errors") == [(0,)]  # rate limits use no attempts


def test_server_errors_are_retried_up_to_max_attempts(job: Job, fake_api: FakeAPI) -> None:
    fake_api.config.faults.sync_server_error = 1.0
    fake_api.config.faults.retry_succeeds = False
    sync(job, max_attempts=2).run(expect=1)
    errors = job.errors()
    assert len(errors) == 10 and {(e["error_code"], e["attempts"]) for e in errors} == {("server_error", 2)}
    assert statuses(fake_api, "/v1/chat/completions").count(500) == 20


def test_server_errors_that_clear_up_end_done(job: Job, fake_api: FakeAPI) -> None:
    fake_api.config.faults.sync_server_error = 0.5
    sync(job).run()
    assert len(job.outputs()) == 10
    assert 500 in statuses(fake_api, "/v1/chat/completions")


def test_permanent_errors_land_in_the_errors_sink_without_retries(job: Job, fake_api: FakeAPI) -> None:
    fake_api.config.faults.sync_context_length = 0.4
    sync(job.write_records(reviews(20))).run(expect=1)
    errors = job.errors()
    assert errors and {e["error_code"] for e in errors} == {"context_length_exceeded"}
    assert {e["attempts"] for e in errors} == {1}
    assert len(job.outputs()) + len(errors) == 20
    assert len(statuses(fake_api, "/v1/chat/completions")) == 20


def test_spec_rate_limits_keep_the_provider_from_refusing(job: Job, fake_api: FakeAPI) -> None:
    fake_api.config.rpm = 1200
    sync(job.write_records(reviews(40)), rate_limits={"requests_per_minute": 1200}).run()
    assert len(job.outputs()) == 40
    assert 429 not in statuses(fake_api, "/v1/chat/completions")


def test_without_spec_limits_the_providers_headers_are_followed(job: Job, fake_api: FakeAPI) -> None:
    fake_api.config.rpm = 600  # 10 per second, bursts refused
    sync(job.write_records(reviews(30)), concurrency=16).run()
    assert len(job.outputs()) == 30
    assert statuses(fake_api, "/v1/chat/completions").count(429) <= 10


def test_openai_compatible_server_without_a_key(job: Job, fake_api: FakeAPI) -> None:
    job.write_spec({"model": {"api_key_env": "MY_GATEWAY_KEY"}})
    assert "MY_GATEWAY_KEY" not in os.environ
    sync(job).run()
    job.write_spec({"execution": {"mode": "batch"}, "prompt": {"system": "Changed."}}).run()
    assert len(job.outputs()) == 10


def start(job: Job) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "batchspec", "run", "job.yaml"],
        cwd=job.dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def start_slow_sync_run(job: Job, fake_api: FakeAPI) -> subprocess.Popen[bytes]:
    """A 40-request sync run at 0.3 s per request, started and 8 answers in."""
    fake_api.config.faults.latency_seconds = 0.3
    sync(job.write_records(reviews(40)), concurrency=4)
    process = start(job)
    deadline = time.monotonic() + 30
    while fake_api.ledger.billed_usage()["requests"] < 8 and time.monotonic() < deadline:
        time.sleep(0.05)
    return process


def test_sigkill_mid_run_then_rerun_resends_only_what_was_in_flight(job: Job, fake_api: FakeAPI) -> None:
    """Killed at a random moment: every stored answer stays stored; only requests in flight at the
    kill are sent again, and the fake bills those again only if their answer was already on its way
    back (it does not bill a request whose client hung up)."""
    process = start_slow_sync_run(job, fake_api)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    done_before = job.state("SELECT count(*) FROM records WHERE status = 'done'")[0][0]
    assert 0 < done_before < 40
    job.run()
    assert [r["id"] for r in job.outputs()] == [f"r{i}" for i in range(1, 41)]
    assert job.state("SELECT count(*) FROM results") == [(40,)]  # each answer stored once
    assert len(fake_api.ledger.answered_twice()) <= 4  # at most the requests in flight (concurrency 4)


def test_sigkill_between_answers_then_rerun_answers_nothing_twice(job: Job, fake_api: FakeAPI) -> None:
    fake_api.config.faults.latency_seconds = 0.05
    sync(job.write_records(reviews(20)), concurrency=1)
    env = {**os.environ, "BATCHSPEC_CRASH_AT": "after_sync_answer:7"}
    killed = subprocess.run(
        [sys.executable, "-m", "batchspec", "run", "job.yaml"], cwd=job.dir, env=env, capture_output=True, check=False
    )
    assert killed.returncode == -signal.SIGKILL
    assert job.state("SELECT count(*) FROM results") == [(7,)]
    job.run()
    assert len(job.outputs()) == 20
    assert fake_api.ledger.answered_twice() == {}


def test_ctrl_c_stops_cleanly_and_prints_the_summary(job: Job, fake_api: FakeAPI) -> None:
    process = start_slow_sync_run(job, fake_api)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 75, err.decode()
    assert "stopping: no new requests" in err.decode()
    assert "Run 1 of reviews (sync mode)" in out.decode()
    counts = dict(job.state("SELECT status, count(*) FROM records GROUP BY 1"))
    assert counts["done"] + counts["pending"] == 40
    assert counts["done"] == fake_api.ledger.billed_usage()["requests"]  # nothing answered was lost


def test_an_unreachable_provider_stops_a_sync_run_with_records_still_pending(job: Job) -> None:
    reachable = job.spec["model"]["base_url"]
    job.write_spec(
        {"model": {"base_url": "http://127.0.0.1:9/v1"}, "execution": {"mode": "sync", "unreachable_after": "1s"}}
    )
    result = job.run(expect=3)
    assert "cannot reach openai at http://127.0.0.1:9/v1 to send a request" in result.stderr
    assert job.state("SELECT status, attempts, count(*) FROM records GROUP BY 1, 2") == [("pending", 0, 10)]
    job.write_spec({"model": {"base_url": reachable}})  # reachable again: the next run sends them all
    job.run()
    assert job.state("SELECT status, count(*) FROM records GROUP BY 1") == [("done", 10)]


def test_a_brief_outage_is_waited_out_without_spending_attempts(job: Job, fake_api: FakeAPI) -> None:
    """The first requests get no answer at all (the connection just closes): while nothing answers,
    retries are free, and once the provider answers again the run completes."""
    fake_api.config.faults.sync_hang_ups = 6
    job.write_spec({"execution": {"mode": "sync", "concurrency": 4, "max_attempts": 1}})
    job.run()
    assert fake_api.config.faults.sync_hang_ups == 0  # every hang-up happened
    assert job.state("SELECT status, attempts, count(*) FROM records GROUP BY 1, 2") == [("done", 1, 10)]


def test_a_hung_provider_trips_the_request_timeout_and_the_breaker(job: Job, fake_api: FakeAPI) -> None:
    fake_api.config.faults.sync_slow_rate = 1.0  # every answer 3 s late
    fake_api.config.faults.sync_slow_seconds = 3.0
    sync(job, concurrency=4, request_timeout="1s", unreachable_after="1s")
    result = job.run(expect=3)
    assert (
        f"openai at {job.spec['model']['base_url']} answered none of several requests in a row "
        "within 1.0s (execution.request_timeout)"
    ) in result.stderr
    assert job.state("SELECT status, attempts, count(*) FROM records GROUP BY 1, 2") == [("pending", 0, 10)]
    fake_api.config.faults.sync_slow_rate = 0.0
    job.run()
    assert job.state("SELECT status, count(*) FROM records GROUP BY 1") == [("done", 10)]


def test_one_late_answer_is_a_retryable_timeout(job: Job, fake_api: FakeAPI) -> None:
    fake_api.config.faults.sync_slow_rate = 0.2  # a fresh draw per attempt: the retry is on time
    fake_api.config.faults.sync_slow_seconds = 3.0
    sync(job.write_records(reviews(20)), concurrency=4, request_timeout="1s", max_attempts=3)
    job.run()
    attempts = dict(job.state("SELECT attempts, count(*) FROM records WHERE status = 'done' GROUP BY 1"))
    assert sum(attempts.values()) == 20 and attempts.get(2, 0) >= 1  # the late ones cost an attempt
    job.write_spec({"execution": {"request_timeout": 0}})
    result = job.cli("validate", "job.yaml", expect=2)
    assert "execution.request_timeout" in result.stderr


def test_the_request_timeout_defaults_to_15_minutes_for_flex_processing(offline_job: Job) -> None:
    def timeout() -> float:
        spec = batchspec.load_spec(offline_job.spec_path)
        return spec.execution.request_timeout_for(spec.models[0])

    assert timeout() == 120
    offline_job.write_spec({"model": {"params": {"service_tier": "flex"}}})
    assert timeout() == 900
    offline_job.write_spec({"execution": {"request_timeout": "5m"}})
    assert timeout() == 300

"""`plan`: counts against the state, batch splits, estimates, --explain, --emit, exit codes."""

from __future__ import annotations

import json
from random import Random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchspec.state import spool
from tests.conftest import Job, record_of, reviews


def model_plan(job: Job) -> dict:
    plan = job.plan_json()
    assert len(plan["models"]) == 1
    return plan["models"][0]


def test_fresh_job_is_all_new_and_plan_writes_no_state(offline_job: Job) -> None:
    plan = model_plan(offline_job)
    assert plan["counts"] == {
        "new": 10,
        "changed": 0,
        "pending": 0,
        "retryable": 0,
        "cached": 0,
        "done": 0,
        "failed": 0,
        "in_flight": 0,
        "removed": 0,
    }
    assert plan["to_send"] == 10
    assert not (offline_job.dir / ".batchspec").exists()


def test_text_plan_shows_counts_batches_tokens_and_cost(offline_job: Job) -> None:
    text = offline_job.cli("plan", "job.yaml").stdout
    assert "Plan for job reviews: 10 records from data.jsonl" in text
    assert "State: .batchspec/reviews.db (not created yet)" in text
    assert "new 10 · changed 0 · pending 0 · retryable 0 · cached 0 · done 0 · failed 0 · in flight 0" in text
    assert "to send: 10 requests" in text and "in 1 batch (at most 50,000 requests and 100.0 MB each)" in text
    assert "estimated tokens: 460 input, ≤ 50 output" in text
    assert "estimated cost: $0.000049 (batch) to $0.000099 (sync)" in text  # 460 × 0.15/M + 50 × 0.6/M


def test_after_a_run_everything_is_done_and_exit_code_says_nothing_to_send(job: Job) -> None:
    assert job.cli("plan", "job.yaml", "--detailed-exitcode", expect=2)
    job.run()
    assert model_plan(job)["counts"]["done"] == 10
    job.cli("plan", "job.yaml", "--detailed-exitcode", expect=0)
    assert "Nothing to send" in job.cli("plan", "job.yaml").stdout


def test_appended_rows_are_new_and_an_edited_template_changes_every_record(job: Job) -> None:
    job.run()
    job.append_records(reviews(3, start=11))
    counts = model_plan(job)["counts"]
    assert (counts["new"], counts["done"], counts["changed"]) == (3, 10, 0)
    job.write_spec({"prompt": {"user": "Review: {{ text }}\nOne word: positive, negative or neutral."}})
    counts = model_plan(job)["counts"]
    assert (counts["new"], counts["done"], counts["changed"]) == (3, 0, 10)


def test_edited_record_is_changed_and_reverting_finds_the_stored_result(job: Job) -> None:
    job.run()
    records = reviews(10)
    records[4]["text"] = "edited"
    job.write_records(records)
    counts = model_plan(job)["counts"]
    assert (counts["changed"], counts["done"]) == (1, 9)
    job.run()
    job.write_records(reviews(10))  # back to the original: its result is still in the state
    counts = model_plan(job)["counts"]
    assert (counts["changed"], counts["done"]) == (0, 10)


def test_explain_shows_the_request_and_what_changed(job: Job) -> None:
    job.run()
    explained = job.cli("plan", "job.yaml", "--explain", "r3").stdout
    assert "gpt-4o-mini: done — a result for exactly this request is stored: nothing to send" in explained
    job.write_spec({"model": {"params": {"temperature": 0.5}}, "prompt": {"system": "You annotate reviews."}})
    explained = job.cli("plan", "job.yaml", "--explain", "r3").stdout
    assert "gpt-4o-mini: changed — the request differs from the one stored on " in explained
    assert "body.temperature: 0 → 0.5" in explained
    assert "body.messages[0].content:" in explained
    assert "-You are a careful annotator of product reviews." in explained
    assert "+You annotate reviews." in explained
    assert '"content": "Review: Review number 3: it works well enough.\\nAnswer with one word' in explained


def test_explain_unknown_record(offline_job: Job) -> None:
    result = offline_job.cli("plan", "job.yaml", "--explain", "nope", expect=2)
    assert result.stderr == "error: no record with id or custom_id 'nope' in data.jsonl\n"


def test_explain_refuses_duplicate_ids_as_plan_does(offline_job: Job) -> None:
    offline_job.append_records([{"id": "r3", "text": "again"}])
    expected = (
        "error: job.yaml:5:7: input.id: record ids must be unique; duplicates:\n  'r3' at data.jsonl:3, data.jsonl:11\n"
    )
    assert offline_job.cli("plan", "job.yaml", expect=2).stderr == expected
    for wanted in ("r5", "r3"):
        assert offline_job.cli("plan", "job.yaml", "--explain", wanted, expect=2).stderr == expected


def test_explain_shows_a_whitespace_only_change_visibly(job: Job) -> None:
    job.run()
    # a `{% if %}` on its own line leaves its newline behind: every record's request changes
    user = "Review: {{ text }}\n{% if text %}\n{% endif %}Answer\twith one word: positive, negative or neutral."
    job.write_spec({"prompt": {"user": user}})
    explained = job.cli("plan", "job.yaml", "--explain", "r3").stdout
    assert (
        "    body.messages[1].content: only whitespace changed (shown as · space, → tab, ⏎ line end):\n"
        "        @@ -1,2 +1,3 @@\n"
        "         Review:·Review·number·3:·it·works·well·enough.⏎\n"
        "        -Answer·with·one·word:·positive,·negative·or·neutral.\n"
        "        +⏎\n"
        "        +Answer→with·one·word:·positive,·negative·or·neutral.\n"
    ) in explained


def test_work_is_split_by_request_count(offline_job: Job) -> None:
    offline_job.write_spec({"execution": {"max_requests_per_batch": 4}})
    plan = model_plan(offline_job)
    assert [b["requests"] for b in plan["batches"]] == [4, 4, 2]


def test_work_is_split_by_bytes(offline_job: Job) -> None:
    offline_job.write_spec({"execution": {"max_bytes_per_batch": "1KB"}})
    plan = model_plan(offline_job)
    assert sum(b["requests"] for b in plan["batches"]) == 10
    assert len(plan["batches"]) > 1
    assert all(b["bytes"] <= 1000 for b in plan["batches"])


def test_the_request_too_big_for_a_batch_is_named(offline_job: Job) -> None:
    records = reviews(10)
    records[6]["text"] = "long " * 300
    offline_job.write_records(records).write_spec({"execution": {"max_bytes_per_batch": "1KB"}})
    result = offline_job.cli("plan", "job.yaml", expect=2)
    assert "the request for custom_id r7 is 1," in result.stderr


def test_one_request_bigger_than_a_batch_is_an_error(offline_job: Job) -> None:
    offline_job.write_spec({"execution": {"max_bytes_per_batch": 100}})
    result = offline_job.cli("plan", "job.yaml", expect=2)
    assert "the request for custom_id r1 is" in result.stderr
    assert "shorten that record or raise execution.max_bytes_per_batch" in result.stderr


def test_emit_writes_one_payload_file_per_batch(offline_job: Job) -> None:
    offline_job.write_spec({"execution": {"max_requests_per_batch": 4}})
    offline_job.cli("plan", "job.yaml", "--emit", "payloads")
    files = sorted(p.name for p in (offline_job.dir / "payloads").iterdir())
    assert files == ["gpt-4o-mini-batch-0001.jsonl", "gpt-4o-mini-batch-0002.jsonl", "gpt-4o-mini-batch-0003.jsonl"]
    lines = (offline_job.dir / "payloads" / files[2]).read_text().splitlines()
    assert [record_of(json.loads(line)["custom_id"]) for line in lines] == ["r9", "r10"]


def test_two_models_plan_separately(offline_job: Job) -> None:
    offline_job.write_spec(
        {
            "model": [
                {"provider": "openai", "name": "gpt-4o-mini", "params": {"max_tokens": 5}},
                {"provider": "anthropic", "name": "claude-haiku-4-5", "params": {"max_tokens": 5}},
            ]
        }
    )
    plan = offline_job.plan_json()
    assert [(m["model"], m["to_send"]) for m in plan["models"]] == [("gpt-4o-mini", 10), ("claude-haiku-4-5", 10)]
    offline_job.cli("plan", "job.yaml", "--emit", "payloads")
    names = sorted(p.name for p in (offline_job.dir / "payloads").iterdir())
    assert names == ["claude-haiku-4-5-batch-0001.json", "gpt-4o-mini-batch-0001.jsonl"]
    # Each file holds its own model's body for every record, in input order.
    payloads = offline_job.dir / "payloads"
    anthropic = json.loads((payloads / names[0]).read_text())["requests"]
    openai = [json.loads(line) for line in (payloads / names[1]).read_text().splitlines()]
    question = "Answer with one word: positive, negative or neutral."
    expected = [(f"r{i}", f"Review: Review number {i}: it works well enough.\n{question}") for i in range(1, 11)]
    assert [(record_of(r["custom_id"]), r["params"]["messages"][-1]["content"]) for r in anthropic] == expected
    assert [r["params"]["model"] for r in anthropic] == ["claude-haiku-4-5"] * 10
    assert [(record_of(r["custom_id"]), r["body"]["messages"][-1]["content"]) for r in openai] == expected
    assert [r["body"]["model"] for r in openai] == ["gpt-4o-mini"] * 10


def test_emit_after_a_run_holds_only_what_is_left_to_send(job: Job) -> None:
    job.run()
    records = reviews(12)
    records[3]["text"] = "Edited after the run."
    job.write_records(records)
    job.cli("plan", "job.yaml", "--emit", "payloads")
    lines = (job.dir / "payloads" / "gpt-4o-mini-batch-0001.jsonl").read_text().splitlines()
    sent = [(record_of(r["custom_id"]), r["body"]["messages"][-1]["content"]) for r in map(json.loads, lines)]
    assert sent == [
        ("r4", "Review: Edited after the run.\nAnswer with one word: positive, negative or neutral."),
        (
            "r11",
            "Review: Review number 11: it works well enough.\nAnswer with one word: positive, negative or neutral.",
        ),
        (
            "r12",
            "Review: Review number 12: it works well enough.\nAnswer with one word: positive, negative or neutral.",
        ),
    ]


def test_spec_errors_exit_1_with_detailed_exitcode(offline_job: Job) -> None:
    offline_job.spec_path.write_text("version: 1\n", "utf-8")
    offline_job.cli("plan", "job.yaml", expect=2)
    offline_job.cli("plan", "job.yaml", "--detailed-exitcode", expect=1)


def test_unknown_model_cost_is_reported_as_unknown_not_zero(offline_job: Job) -> None:
    offline_job.write_spec({"model": {"name": "my-finetune"}})
    plan = model_plan(offline_job)
    assert plan["estimated_cost_usd"] == {"batch": None, "sync": None, "uncached_sync": None}
    assert "estimated cost: unknown (no price for my-finetune" in offline_job.cli("plan", "job.yaml").stdout
    offline_job.write_spec({"pricing": {"my-finetune": {"input": 1.0, "output": 2.0}}})
    assert model_plan(offline_job)["estimated_cost_usd"]["sync"] > 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    chunks=st.lists(st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=8), min_size=1, max_size=6),
    order=st.sampled_from(["forward", "backward", "shuffled", "two readers"]),
    seed=st.randoms(use_true_random=False),
)
def test_the_body_spool_reads_back_every_body_in_any_order(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, chunks: list, order: str, seed: Random
) -> None:
    """Bodies are appended a chunk at a time and read back forwards (emit), interleaved (two models'
    files) or in any order; small blocks put block edges everywhere."""
    monkeypatch.setattr(spool, "BLOCK", 16)
    monkeypatch.setattr(spool, "NEARBY", 8)
    bodies = spool.Spool(tmp_path_factory.mktemp("spool") / "bodies")
    places = []
    for chunk in chunks:
        at = bodies.append(chunk)
        for body in chunk:
            places.append((at, body))
            at += len(body)
    if order == "backward":
        places.reverse()
    elif order == "shuffled":
        seed.shuffle(places)
    elif order == "two readers":
        places = places[::2] + places[1::2]
    assert [bodies.read(at, len(body)) for at, body in places] == [body for _, body in places]
    bodies.close()
    bodies.close()


def test_explain_and_emit_are_not_given_together(offline_job: Job) -> None:
    result = offline_job.cli("plan", "job.yaml", "--explain", "r1", "--emit", "payloads", expect=2)
    assert "--explain shows one record; --emit writes every batch: give one of them" in result.stderr
    assert not (offline_job.dir / "payloads").exists()

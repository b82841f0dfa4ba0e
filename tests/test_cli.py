"""init, schema, help, the quickstart, and state files that must be refused without being touched."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import jsonschema
import pytest

import batchspec
from batchspec.providers import provider_names
from tests.conftest import Job

ROOT = Path(__file__).resolve().parent.parent


def test_init_writes_a_spec_that_validates_and_runs_offline(tmp_path: Path, offline_job: Job) -> None:
    job = Job(tmp_path / "new", {})
    job.dir.mkdir()
    result = job.cli("init", "job.yaml")
    assert "Wrote job.yaml and data/sample.jsonl." in result.stdout
    assert job.cli("validate", "job.yaml").stdout.startswith("ok: job: 5 records from data/sample.jsonl")
    job.cli("run", "job.yaml", "-q")
    assert len((job.dir / "out" / "job.jsonl").read_text().splitlines()) == 5
    refused = job.cli("init", "job.yaml", expect=2)
    assert "job.yaml already exists; pass --force to overwrite it" in refused.stderr


def test_a_second_init_refuses_only_what_it_would_overwrite(tmp_path: Path, offline_job: Job) -> None:
    job = Job(tmp_path / "new", {})
    job.dir.mkdir()
    job.cli("init", "job.yaml")
    # The spec's first line points editors at a schema file that exists, beside the spec.
    first_line = (job.dir / "job.yaml").read_text().splitlines()[0]
    assert first_line == "# yaml-language-server: $schema=batchspec.schema.json"
    assert json.loads((job.dir / "batchspec.schema.json").read_text()) == json.loads(offline_job.cli("schema").stdout)
    second = job.cli("init", "other.yaml")
    assert "Wrote other.yaml." in second.stdout and "Reused data/sample.jsonl" in second.stdout
    assert job.cli("validate", "other.yaml").stdout.startswith("ok: other: 5 records from data/sample.jsonl")
    # The user's own data under the sample's name is never overwritten: init writes its sample beside it.
    (job.dir / "data" / "sample.jsonl").write_text('{"id": "mine", "text": "my data"}\n')
    third = job.cli("init", "third.yaml")
    assert "Wrote third.yaml and data/third.sample.jsonl." in third.stdout
    assert (job.dir / "data" / "sample.jsonl").read_text() == '{"id": "mine", "text": "my data"}\n'
    assert job.cli("validate", "third.yaml").stdout.startswith("ok: third: 5 records from data/third.sample.jsonl")


def test_schema_command_prints_the_schema_file_with_the_registry_providers(offline_job: Job) -> None:
    printed = json.loads(offline_job.cli("schema").stdout)
    jsonschema.Draft202012Validator.check_schema(printed)
    on_disk = json.loads((ROOT / "schemas" / "batchspec.schema.json").read_text())
    assert printed["$defs"]["model"]["properties"]["provider"]["enum"] == list(provider_names())
    # The file editors read lists the same providers as the registry.
    assert on_disk == printed
    assert (
        "Who runs the model: " + ", ".join(provider_names()) + "."
        == printed["$defs"]["model"]["properties"]["provider"]["description"]
    )


def test_every_schema_property_has_a_description() -> None:
    schema = json.loads((ROOT / "schemas" / "batchspec.schema.json").read_text())

    def walk(node: object, path: str) -> None:
        if isinstance(node, dict):
            for name, prop in node.get("properties", {}).items():
                assert "description" in prop or "$ref" in prop, f"{path}.{name}"
            for key, value in node.items():
                walk(value, f"{path}.{key}")

    walk(schema, "")


def test_help_lists_the_registry_providers_and_exit_codes(offline_job: Job) -> None:
    text = offline_job.cli("--help").stdout
    assert "Providers: " + ", ".join(provider_names()) + "." in text
    assert "75 work still in flight" in text
    assert batchspec.__version__ in offline_job.cli("--version").stdout


def test_quickstart_runs_offline(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples", ignore=shutil.ignore_patterns(".batchspec", "out"))
    job = Job(tmp_path / "examples", {})
    result = job.cli("run", "quickstart.yaml")
    assert "requests: 20 done · 0 failed for good · 0 pending · 0 in flight" in result.stdout
    rows = [json.loads(line) for line in (job.dir / "out" / "quickstart.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == [f"r{i:03d}" for i in range(1, 21)]
    assert {r["output"] for r in rows} <= {"positive", "negative", "neutral"}
    assert set(rows[0]) == {"id", "model", "output", "current", "usage", "cost_usd", "product", "text"}
    # The fake's toy heuristic makes the answers look like a model's, not like noise.
    answers = {r["id"]: r["output"] for r in rows}
    assert (answers["r001"], answers["r002"], answers["r003"]) == ("positive", "negative", "neutral")


def test_the_quickstart_fake_keeps_its_batches_across_processes(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples", ignore=shutil.ignore_patterns(".batchspec", "out"))
    config = tmp_path / "fake.yaml"
    config.write_text("processing_seconds: 3\n")
    env = {**os.environ, "BATCHSPEC_FAKE_CONFIG": str(config)}
    command = [sys.executable, "-m", "batchspec", "run", "quickstart.yaml", "-q"]
    first = subprocess.run([*command, "--no-wait"], cwd=tmp_path / "examples", env=env, capture_output=True)
    assert first.returncode == 75, first.stderr
    second = subprocess.run(command, cwd=tmp_path / "examples", env=env, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    assert "requests: 20 done" in second.stdout
    journal = tmp_path / "examples" / ".batchspec" / "quickstart.fake.jsonl"
    kinds = [json.loads(line)["kind"] for line in journal.read_text().splitlines()]
    assert kinds.count("batch") == 1, "the second run sent the batch again instead of collecting it"


def _spoil_state(job: Job, kind: str) -> None:
    """Leave ``job``'s state file in one of the ways a state file goes wrong."""
    path = job.state_path
    if kind in ("empty", "text", "directory", "foreign"):
        path.parent.mkdir()
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("not a database\n")
    elif kind == "directory":
        path.mkdir()
    elif kind == "foreign":
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE mine (x)")
        db.commit()
        db.close()
    else:
        job.run()
        db = sqlite3.connect(path)
        statement = {
            "no results table": "DROP TABLE results",
            "unreadable version": "UPDATE meta SET value = 'abc' WHERE key = 'schema_version'",
            "newer": "UPDATE meta SET value = '99' WHERE key = 'schema_version'",
            "another job": "UPDATE meta SET value = 'other' WHERE key = 'job_name'",
        }[kind]
        db.execute(statement)
        db.commit()
        db.close()
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


@pytest.mark.parametrize(
    "kind", ["empty", "text", "directory", "foreign", "no results table", "unreadable version", "newer", "another job"]
)
def test_a_bad_state_file_is_refused_by_every_command_and_left_alone(job: Job, kind: str) -> None:
    _spoil_state(job, kind)
    before = job.state_path.read_bytes() if job.state_path.is_file() else None
    for command in (["plan"], ["plan", "--json"], ["plan", "--explain", "r1"], ["status"], ["run", "-q"]):
        result = job.cli(command[0], "job.yaml", *command[1:], expect=2)
        assert result.stderr.startswith(f"error: {job.state_path}: "), (command, result.stderr)
        assert "Traceback" not in result.stderr
    assert (job.state_path.read_bytes() if job.state_path.is_file() else None) == before


def test_a_foreign_sqlite_file_is_refused_and_left_alone(job: Job) -> None:
    job.state_path.parent.mkdir()
    db = sqlite3.connect(job.state_path)
    db.execute("CREATE TABLE mine (x)")
    db.commit()
    db.close()
    before = job.state_path.read_bytes()
    result = job.run(expect=2)
    assert "not a batchspec state file" in result.stderr and "it was not changed" in result.stderr
    assert job.state_path.read_bytes() == before


@pytest.mark.parametrize("content", [b"not a database at all", None])
def test_a_response_cache_that_is_not_one_is_refused_and_left_alone(
    job: Job, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: bytes | None
) -> None:
    cache = job.dir / "cache.db"
    if content is None:  # another program's SQLite database
        db = sqlite3.connect(cache)
        db.execute("CREATE TABLE mine (x)")
        db.commit()
        db.close()
    else:
        cache.write_bytes(content)
    before = cache.read_bytes()
    job.write_spec({"cache": {"responses": True, "responses_path": "cache.db"}})
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    for command in (["plan", "job.yaml"], ["run", "job.yaml", "-q"]):
        result = job.cli(*command, expect=2)
        assert f"{cache}: not a batchspec response cache, or damaged" in result.stderr
        assert "point cache.responses_path elsewhere; it was not changed" in result.stderr
    assert cache.read_bytes() == before
    assert list(scratch.iterdir()) == []  # the plan's scratch files are gone too


def test_a_truncated_state_file_is_refused(job: Job) -> None:
    job.run()
    data = job.state_path.read_bytes()
    job.state_path.write_bytes(data[: len(data) // 3])
    for suffix in ("-wal", "-shm"):
        Path(f"{job.state_path}{suffix}").unlink(missing_ok=True)
    result = job.run(expect=2)
    assert "state" in result.stderr and "Traceback" not in result.stderr


def test_state_of_another_job_is_refused(job: Job) -> None:
    job.run()
    job.write_spec({"name": "other", "state": {"path": ".batchspec/reviews.db"}})
    result = job.cli("run", "job.yaml", "-q", expect=2)
    assert "holds the state of job 'reviews', not 'other'" in result.stderr


def test_state_from_a_newer_batchspec_is_refused(job: Job) -> None:
    job.run()
    db = sqlite3.connect(job.state_path)
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    result = job.run(expect=2)
    assert "written by a newer batchspec" in result.stderr and "upgrade batchspec" in result.stderr


def test_files_the_command_cannot_write_are_named_without_a_traceback(offline_job: Job) -> None:
    (offline_job.dir / "f").write_text("a file")
    result = offline_job.cli("plan", "job.yaml", "--emit", "f/payloads", expect=2)
    assert result.stderr == "error: f/payloads: Not a directory\n"
    result = offline_job.cli("--log-file", "f/log.txt", "plan", "job.yaml", expect=2)
    assert "--log-file: f: File exists" in result.stderr and "Traceback" not in result.stderr


def test_report_html_replaces_only_a_regular_file(job: Job) -> None:
    job.run()
    os.mkfifo(job.dir / "report.html")  # like a device: writing must not replace it
    result = job.cli("report", "job.yaml", "--html", "report.html", expect=2)
    assert result.stderr == "error: report.html: not a regular file, so it was left alone; choose another path\n"
    assert stat.S_ISFIFO((job.dir / "report.html").stat().st_mode)


def test_a_bug_is_one_line_with_exit_70_and_the_traceback_only_in_the_log(
    offline_job: Job, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> int:
        raise RuntimeError("something batchspec did not expect")

    monkeypatch.setattr("batchspec.commands.plan.plan_command", broken)
    result = offline_job.cli("plan", "job.yaml", expect=70)
    assert result.stderr == (
        "error: unexpected RuntimeError: something batchspec did not expect (a bug in batchspec: rerun with "
        "--verbose for the traceback, and please report it; the state file is consistent: a rerun goes on from it)\n"
    )
    offline_job.cli("--log-file", "log.txt", "plan", "job.yaml", expect=70)
    assert "Traceback" in (offline_job.dir / "log.txt").read_text()


def test_status_and_report_work_without_the_input(job: Job) -> None:
    job.run()
    (job.dir / "data.jsonl").rename(job.dir / "moved.jsonl")
    assert "requests: 10 done" in job.cli("status", "job.yaml").stdout
    assert json.loads(job.cli("report", "job.yaml", "--json").stdout)["records"]["done"] == 10
    assert "data.jsonl does not exist" in job.cli("plan", "job.yaml", expect=2).stderr


def test_cancel_works_without_the_input(job: Job) -> None:
    job.run()
    (job.dir / "data.jsonl").rename(job.dir / "moved.jsonl")
    result = job.cli("cancel", "job.yaml")
    assert "Cancelled 0 batches; 10 requests done, 0 pending for the next run." in result.stdout
    assert "Outputs not rewritten: data.jsonl does not exist; the next run writes them." in result.stdout

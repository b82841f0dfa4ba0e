"""A randomized fault soak: seeded jobs against the fake with every fault kind mixed and random
SIGKILLs; and two jobs sharing one account, killed, stopped by SIGTERM and losing their states.
After each job: every record has exactly one result or one final error, nothing was paid twice,
and `status` agrees with the fake's ledger. BATCHSPEC_SOAK_SEEDS=50 runs a longer soak."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from batchspec.fakeapi import FakeAPI, FakeConfig
from batchspec.wireid import job_tag
from tests.conftest import BASE_SPEC, Job, billed_per_record, merge, record_of

SEEDS = int(os.environ.get("BATCHSPEC_SOAK_SEEDS", "4"))
SHARED_SEEDS = int(os.environ.get("BATCHSPEC_SOAK_SEEDS", "2"))  # the two-job soak: each seed is ~15 s
RECORDS = 40


def configure_faults(api: FakeAPI, rng: random.Random) -> None:
    faults = api.config.faults
    faults.seed = rng.randrange(1 << 30)
    for name in ("server_error", "rate_limit", "overloaded", "missing_rate", "malformed_rate"):
        setattr(faults, name, rng.choice([0.0, 0.05, 0.15]))
    faults.context_length = rng.choice([0.0, 0.05])
    faults.content_policy = rng.choice([0.0, 0.03])
    faults.expire_after_fraction = rng.choice([None, None, 0.5])
    faults.cancel_after_fraction = rng.choice([None, None, 0.3])
    faults.fail_validation = rng.random() < 0.2


def soak_job(root: Path, api: FakeAPI, seed: int, rng: random.Random) -> Job:
    provider = rng.choice(["openai", "anthropic"])
    model = {
        "provider": provider,
        "base_url": api.openai_base_url if provider == "openai" else api.anthropic_base_url,
        "name": "gpt-4o-mini" if provider == "openai" else "claude-haiku-4-5",
        "params": {"max_tokens": 5},
    }
    spec = merge(
        BASE_SPEC,
        {
            "name": f"soak-{seed}",
            "model": model,
            "execution": {
                "max_requests_per_batch": rng.choice([7, 15, 40]),
                "max_concurrent_batches": 2,
                "max_attempts": 4,
            },
        },
    )
    spec["model"]["params"] = {"max_tokens": 5}
    job = Job(root / f"job-{seed}", spec)
    job.dir.mkdir()
    records = [{"id": f"s{seed}-r{i}", "text": f"Review {i} of soak {seed}."} for i in range(RECORDS)]
    return job.write_records(records).write_spec()


def run_until_settled(job: Job, rng: random.Random) -> tuple[int, int]:
    """Run, killing the process at random moments, until a run ends by itself. (runs, kills)."""
    runs = kills = 0
    while runs < 40:  # a provider that cancels every batch at 30% takes many rounds
        runs += 1
        process = subprocess.Popen(
            [sys.executable, "-m", "batchspec", "run", "job.yaml", "-q"],
            cwd=job.dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        if runs < 6 and rng.random() < 0.6:
            time.sleep(rng.uniform(0.2, 2.5))
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                kills += 1
        _, err = process.communicate(timeout=120)
        if process.returncode in (0, 1):
            return runs, kills
        if process.returncode == 3:  # Anthropic refused to create a batch (injected validation fault)
            assert b"Input validation failed" in err, err.decode()
            continue
        assert process.returncode in (-signal.SIGKILL, 75), err.decode()
    raise AssertionError(f"{job.dir.name} did not settle")


def check(job: Job, api: FakeAPI, seed: int) -> int:
    ids = [f"s{seed}-r{i}" for i in range(RECORDS)]
    results = [r["id"] for r in job.outputs()]
    errors = [e["id"] for e in job.errors()]
    assert sorted(results + errors) == sorted(ids), "every record ends as one result or one error"
    mine = set(ids)
    twice = {record for record, n in billed_per_record(api.ledger).items() if record in mine and n > 1}
    assert twice == set(), f"paid twice: {twice}"
    billed = [a for a in api.ledger.billed() if a["custom_id"] and record_of(a["custom_id"]) in mine]
    status = json.loads(job.cli("status", "job.yaml", "--json").stdout)["usage"]
    assert status["input_tokens"] == sum(a["input_tokens"] for a in billed)
    assert status["output_tokens"] == sum(a["output_tokens"] for a in billed)
    return len(errors)


@pytest.mark.timeout(120 + 90 * SEEDS)
def test_fault_soak(tmp_path: Path) -> None:
    totals = {"jobs": 0, "runs": 0, "kills": 0, "records": 0, "failed for good": 0, "failed attempts": 0}
    with FakeAPI(FakeConfig(processing_seconds=0.4)) as api:
        for seed in range(SEEDS):
            rng = random.Random(seed)
            configure_faults(api, rng)
            job = soak_job(tmp_path, api, seed, rng)
            runs, kills = run_until_settled(job, rng)
            failed = check(job, api, seed)
            totals["jobs"] += 1
            totals["runs"] += runs
            totals["kills"] += kills
            totals["records"] += RECORDS
            totals["failed for good"] += failed
            totals["failed attempts"] += job.state("SELECT count(*) FROM errors")[0][0]
    print("\nsoak totals: " + ", ".join(f"{name} {value}" for name, value in totals.items()))
    assert totals["kills"] > 0 and totals["failed attempts"] > 0


def two_jobs(root: Path, api: FakeAPI) -> list[Job]:
    """An OpenAI and an Anthropic job on one fake account, with the same record ids."""
    jobs = []
    for name, provider, model, url in (
        ("shared-a", "openai", "gpt-4o-mini", api.openai_base_url),
        ("shared-b", "anthropic", "claude-haiku-4-5", api.anthropic_base_url),
    ):
        spec = merge(
            BASE_SPEC,
            {
                "name": name,
                "prompt": {"user": f"{name.upper()} {{{{ text }}}}"},
                "execution": {"max_requests_per_batch": 10, "max_concurrent_batches": 2},
            },
        )
        spec["model"] = {"provider": provider, "name": model, "base_url": url, "params": {"max_tokens": 5}}
        job = Job(root / name, spec)
        job.dir.mkdir(parents=True)
        jobs.append(job.write_records([{"id": f"r{i}", "text": f"Review {i}."} for i in range(RECORDS)]).write_spec())
    return jobs


def state_is_quiet(job: Job) -> bool:
    """Nothing uncollected or unconfirmed: an Anthropic state lost now costs nothing (see README)."""
    if not job.state_path.exists():
        return True
    return job.state("SELECT count(*) FROM batches WHERE collected_at IS NULL")[0][0] == 0


def paid_twice(api: FakeAPI, job: Job) -> set[str]:
    tag = job_tag(job.spec["name"])
    counts = Counter(record_of(a["custom_id"]) for a in api.ledger.billed() if (a["custom_id"] or "").startswith(tag))
    return {record for record, n in counts.items() if n > 1}


@pytest.mark.timeout(120 + 90 * SHARED_SEEDS)
def test_two_jobs_on_one_account_survive_kills_sigterm_and_lost_state(tmp_path: Path) -> None:
    totals = Counter[str]()
    with FakeAPI(FakeConfig(processing_seconds=0.5)) as api:
        for seed in range(SHARED_SEEDS):
            rng = random.Random(1000 + seed)
            api.config.faults.seed = seed
            api.config.faults.server_error = 0.05
            jobs = two_jobs(tmp_path / f"seed-{seed}", api)
            for _ in range(8):
                processes = [start_run(job) for job in jobs]
                time.sleep(rng.uniform(0.2, 2.0))
                for process in processes:
                    action = rng.choice(["kill", "term", "wait"])
                    if action != "wait" and process.poll() is None:
                        process.send_signal(signal.SIGKILL if action == "kill" else signal.SIGTERM)
                        totals["kills" if action == "kill" else "sigterms"] += 1
                    process.communicate(timeout=120)
                    totals["runs"] += 1
                for job in jobs:
                    # An OpenAI state may be lost at any moment; an Anthropic one only when quiet.
                    quiet = job.spec["model"]["provider"] == "openai" or state_is_quiet(job)
                    if quiet and job.state_path.exists() and rng.random() < 0.3:
                        for suffix in ("", "-wal", "-shm"):
                            Path(f"{job.state_path}{suffix}").unlink(missing_ok=True)
                        totals["states deleted"] += 1
            for job in jobs:
                job.run(expect=None)
                while job.run(expect=None).exit_code == 75:
                    time.sleep(0.2)
                assert sorted(r["id"] for r in job.outputs() + job.errors()) == sorted(f"r{i}" for i in range(RECORDS))
                assert paid_twice(api, job) == set()
                totals["records"] += RECORDS
    totals["paid twice"] = 0
    print("\ntwo-job soak totals: " + ", ".join(f"{name} {value}" for name, value in sorted(totals.items())))
    assert totals["states deleted"] > 0 and totals["kills"] + totals["sigterms"] > 0


def start_run(job: Job) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "batchspec", "run", "job.yaml", "-q"],
        cwd=job.dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )

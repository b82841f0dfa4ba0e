"""A randomized fault soak: seeded jobs against the fake with every fault kind mixed and random
SIGKILLs. After each job: every record has exactly one result or one final error, nothing was paid
twice, and `status` agrees with the fake's ledger. BATCHSPEC_SOAK_SEEDS=50 runs a longer soak."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from batchspec.fakeapi import FakeAPI, FakeConfig
from tests.conftest import BASE_SPEC, Job, billed_per_record, merge, record_of

SEEDS = int(os.environ.get("BATCHSPEC_SOAK_SEEDS", "4"))
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

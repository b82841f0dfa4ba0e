"""A full disk is named: the state, the plan's scratch files in $TMPDIR, or an output. A run stops
(exit 2) having stored what it could; sync mode never hangs on it.

Each test runs batchspec in a mount namespace of its own (``unshare``, no root needed) with a
small tmpfs as the full disk, so nothing on the real machine fills up.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from batchspec.fakeapi import FakeAPI
from tests.conftest import Job, reviews


def _namespaces_work() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "true"], capture_output=True, check=False
    )
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(not _namespaces_work(), reason="needs unshare (user and mount namespaces)")


def on_small_disk(job: Job, size: str, where: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run batchspec with ``where`` ("job": the job's directory, "tmp": $TMPDIR, "out": the outputs)
    on a tmpfs of ``size``; the job directory's state and outputs are copied back afterwards."""
    mount = job.dir.parent / f"{job.dir.name}-small"
    mount.mkdir()
    run = f"{sys.executable} -m batchspec {' '.join(args)}"
    steps = {
        "job": f"cp -a {job.dir}/. {mount}/ && cd {mount} && {run}; rc=$?; cp -a {mount}/. {job.dir}/",
        "tmp": f"cd {job.dir} && TMPDIR={mount} {run}; rc=$?",
        "out": f"ln -sfn {mount} {job.dir}/out && cd {job.dir} && {run}; rc=$?; rm {job.dir}/out",
    }
    script = f"mount -t tmpfs -o size={size} tmpfs {mount} && {steps[where]}; exit $rc"
    return subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "BATCHSPEC_CRASH_AT": ""},
        check=False,
    )


def test_sync_mode_on_a_full_state_disk_stops_naming_the_state(job: Job, fake_api: FakeAPI) -> None:
    job.write_records(reviews(1500)).write_spec({"execution": {"mode": "sync", "concurrency": 8}})
    result = on_small_disk(job, "1500k", "job", "run", "job.yaml", "-q")
    assert result.returncode == 2, result.stderr
    assert "/.batchspec/reviews.db: database or disk is full (the state file" in result.stderr
    stored = job.state("SELECT count(*) FROM results")[0][0]
    assert 0 < stored < 1500, "it stored what it could, then stopped"
    billed = len(fake_api.ledger.billed())
    assert billed - stored <= 8 + 8, "it went on sending after the state could not be written"
    job.run()  # with room again: the rest is sent, what was stored is not
    assert len(job.outputs()) == 1500


def test_a_full_tmpdir_is_named_as_the_plans_scratch_files(job: Job) -> None:
    job.write_records(reviews(3000))
    result = on_small_disk(job, "64k", "tmp", "plan", "job.yaml", "--offline")
    assert result.returncode == 2, result.stderr
    assert "batchspec-plan-" in result.stderr and "set TMPDIR to a place with room" in result.stderr
    assert "state" not in result.stderr.split("(")[0]


def test_a_full_output_disk_names_the_output(job: Job) -> None:
    job.write_records(reviews(3000))
    result = on_small_disk(job, "64k", "out", "run", "job.yaml", "-q")
    assert result.returncode == 2, result.stderr
    assert "results.jsonl" in result.stderr and "No space left on device" in result.stderr
    assert job.state("SELECT count(*) FROM results")[0][0] == 3000  # the answers are safe in the state

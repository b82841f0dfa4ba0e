"""What a remote state costs: a 100,000-record job run with its state in S3 (moto's S3 server on
127.0.0.1, in this process) next to the same job with a local state, and one state sync timed alone.

    python bench/state_sync.py                    # 100,000 records
    python bench/state_sync.py --records 20000

Needs the s3 extra and moto (`pip install -e '.[dev]'` has both). A local S3 has no network
latency or bandwidth limit: against a real bucket add the upload time of the compressed size
(45 MB at 100k records is about 4 s at 100 Mbit/s).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import sys
import time
from pathlib import Path

from common import OUT_DIR, Table, batchspec_command, check, machine, measure, records_file, write_spec

from batchspec.fakeapi import FakeAPI, FakeConfig
from batchspec.fmt import count
from batchspec.spec.units import format_bytes


def s3_environment(endpoint: str) -> dict[str, str]:
    return {
        **os.environ,
        "OPENAI_API_KEY": "bench-key",
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def timed_syncs(url: str, state: Path, repeat: int) -> tuple[list[float], list[float], int]:
    """Upload (snapshot + zstd + PUT with If-Match) and download (GET + unzstd) of one state."""
    from batchspec.state.remote import RemoteLocation, RemoteState

    location = RemoteLocation.parse(url)
    scratch = state.parent / "sync-copy.db"
    shutil.copyfile(state, scratch)
    remote = RemoteState(location, scratch, "bench-sync", lock_expiry=900)
    remote.acquire()
    remote.pull()  # the run's own state is there already: this only learns its ETag
    shutil.copyfile(state, scratch)
    db = sqlite3.connect(scratch)
    uploads: list[float] = []
    downloads: list[float] = []
    try:
        for n in range(repeat):
            db.execute("INSERT OR REPLACE INTO meta VALUES ('bench', ?)", (str(n),))
            db.commit()
            start = time.perf_counter()
            remote.push(db)
            uploads.append(time.perf_counter() - start)
        compressed = remote.uploaded_bytes // repeat
        for _ in range(repeat):
            scratch.with_name(f"{scratch.name}.etag").unlink(missing_ok=True)  # force a real download
            start = time.perf_counter()
            remote.pull()
            downloads.append(time.perf_counter() - start)
    finally:
        db.close()
        remote.release()
    return uploads, downloads, compressed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="timed syncs of each kind (the median is shown)")
    args = parser.parse_args()
    print(machine())
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = s3_environment(f"http://{host}:{port}")
    os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
    boto3.client("s3").create_bucket(Bucket="bench-state")
    url = "s3://bench-state/jobs/bench.db"
    data = records_file(args.records)
    table = Table(["run", "wall s", "peak RSS MB", "state uploads", "uploaded"])
    try:
        with FakeAPI(FakeConfig(processing_seconds=0)) as api:
            model = {"base_url": api.openai_base_url}
            runs = {}
            for name, state in (("local state", None), ("state in S3", url)):
                directory = OUT_DIR / f"state-sync-{args.records}-{'s3' if state else 'local'}"
                shutil.rmtree(directory, ignore_errors=True)
                extra = {"state": {"path": state}} if state else {}
                job = "bench-s3" if state else "bench-local"  # two jobs: the second must not adopt the first's batches
                spec = write_spec(directory, job, data, model=model, execution={"poll_interval": 0.05}, **extra)
                result = check(measure(batchspec_command("run", spec, "-q", "--json"), env=env), name)
                summary = json.loads(result.stdout.strip().splitlines()[-1])
                if summary["done"] != summary["records"]:
                    sys.exit(f"{name}: not every record finished: {summary}")
                runs[name] = (directory, summary)
                uploads = str(summary["state_uploads"]) if state else "-"
                sent = format_bytes(summary["state_uploaded_bytes"]) if state else "-"
                table.add(name, f"{result.seconds:.1f}", f"{result.peak_rss_mb:.0f}", uploads, sent)
        local_state = runs["local state"][0] / ".batchspec" / "bench-local.db"
        uploads, downloads, compressed = timed_syncs(url, local_state, args.repeat)
    finally:
        server.stop()
    batches = count(runs["state in S3"][1]["batches_submitted"], "batch")
    print(f"\n{args.records:,} records, {batches}")
    print(table.render())
    raw = local_state.stat().st_size
    sync = Table(["one state sync", "median s", "runs"])
    upload = f"upload: snapshot + zstd + PUT ({format_bytes(raw)} → {format_bytes(compressed)})"
    sync.add(upload, f"{statistics.median(uploads):.2f}", " ".join(f"{s:.2f}" for s in uploads))
    sync.add("download: GET + unzstd", f"{statistics.median(downloads):.2f}", " ".join(f"{s:.2f}" for s in downloads))
    print()
    print(sync.render())


if __name__ == "__main__":
    main()

"""Sync-mode throughput against a rate limit: how close to the limit, and how many 429s.

5,000 requests against the fake server with RPM 6,000, TPM 1,000,000 and 200 ms latency; the spec
declares the same limits. Prints achieved requests/min as a fraction of the limit (target ≥ 95%),
the share of requests answered 429 (target ≤ 1%), and wall time.

    python bench/sync.py [--records 5000] [--rpm 6000] [--tpm 1000000] [--latency 0.2] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from batchspec.fakeapi import FakeAPI, FakeConfig


def write_job(directory: Path, base_url: str, args: argparse.Namespace) -> Path:
    with open(directory / "data.jsonl", "w", encoding="utf-8") as out:
        for i in range(args.records):
            out.write(json.dumps({"id": f"r{i}", "text": f"Review {i}: sturdy, quiet and easy to clean."}) + "\n")
    spec = {
        "version": 1,
        "name": "bench-sync",
        "input": {"path": "data.jsonl", "id": "id"},
        "prompt": {
            "system": "You label reviews.",
            "user": "{{ text }}\nAnswer with one word: positive, negative or neutral.",
        },
        "model": {"provider": "openai", "name": "gpt-4o-mini", "base_url": base_url, "params": {"max_tokens": 5}},
        "execution": {
            "mode": "sync",
            "concurrency": args.concurrency,
            "rate_limits": {"requests_per_minute": args.rpm, "tokens_per_minute": args.tpm},
        },
        "output": {"path": "out/results.jsonl"},
    }
    path = directory / "job.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), "utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--rpm", type=int, default=6000)
    parser.add_argument("--tpm", type=int, default=1_000_000)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    config = FakeConfig(rpm=args.rpm, tpm=args.tpm)
    config.faults.latency_seconds = args.latency
    with tempfile.TemporaryDirectory() as tmp, FakeAPI(config) as api:
        spec = write_job(Path(tmp), api.openai_base_url, args)
        env = {**os.environ, "OPENAI_API_KEY": "bench-key"}
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "batchspec", "run", str(spec), "-q", "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.monotonic() - started
        if result.returncode != 0:
            sys.exit(f"run failed ({result.returncode}):\n{result.stderr}")
        chat = api.ledger.requests_to("/v1/chat/completions", "POST")
        answered = [r for r in chat if r["status"] == 200]
        refused = sum(1 for r in chat if r["status"] == 429)
        span = answered[-1]["time"] - answered[0]["time"]
        achieved = (len(answered) - 1) / span * 60 if span > 0 else float("nan")
    rows = [
        ("requests answered", f"{len(answered):,}"),
        ("limit (requests/min)", f"{args.rpm:,}"),
        ("achieved (requests/min)", f"{achieved:,.0f}"),
        ("fraction of the limit", f"{achieved / args.rpm:.1%}  (target ≥ 95%)"),
        ("answered 429", f"{refused:,} = {refused / max(len(chat), 1):.2%} of requests  (target ≤ 1%)"),
        ("wall time, incl. start-up", f"{wall:.1f} s"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()

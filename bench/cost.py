"""What prompt caching and batching save, by the fake's usage ledger and the price table.

A job with a ~2,000-token shared system prompt over 1,000 records, in batch mode with prompt
caching, for Anthropic (explicit cache_control) and OpenAI (automatic prefix caching). Prints what
was billed against uncached synchronous calls (target ≤ 30%), what a rerun pays (target 0), and
how far plan's estimate was from the bill (target ±15%).

    python bench/cost.py [--records 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from batchspec.fakeapi import FakeAPI, FakeConfig
from batchspec.pricing import Usage, price_for, uncached_sync_cost

SYSTEM = "You are a meticulous annotator of customer reviews. " * 160  # about 2,000 tokens


def batchspec(directory: Path, *args: str) -> dict[str, Any]:
    env = {**os.environ, "OPENAI_API_KEY": "bench", "ANTHROPIC_API_KEY": "bench"}
    result = subprocess.run(
        [sys.executable, "-m", "batchspec", *args], cwd=directory, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.exit(f"batchspec {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    data: dict[str, Any] = json.loads(result.stdout.splitlines()[-1] if args[0] == "run" else result.stdout)
    return data


def job(directory: Path, api: FakeAPI, provider: str, records: int) -> None:
    directory.mkdir()
    with open(directory / "data.jsonl", "w", encoding="utf-8") as out:
        for i in range(records):
            out.write(json.dumps({"id": f"r{i}", "text": f"Review {i}: arrived on time, works as described."}) + "\n")
    model = {
        "anthropic": {"provider": "anthropic", "name": "claude-haiku-4-5", "base_url": api.anthropic_base_url},
        "openai": {"provider": "openai", "name": "gpt-4o-mini", "base_url": api.openai_base_url},
    }[provider]
    spec = {
        "version": 1,
        "name": f"cost-{provider}",
        "input": {"path": "data.jsonl", "id": "id"},
        "prompt": {"system": SYSTEM, "user": "{{ text }}\nAnswer with one word: positive, negative or neutral."},
        "model": {**model, "params": {"max_tokens": 5}},
        "execution": {"mode": "batch", "poll_interval": 0.2},
        "cache": {"prompt_caching": True},
        "output": {"path": "out/results.jsonl"},
    }
    (directory / "job.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), "utf-8")


def measure(root: Path, api: FakeAPI, provider: str, records: int) -> list[tuple[str, str]]:
    directory = root / provider
    job(directory, api, provider, records)
    plan = batchspec(directory, "plan", "job.yaml", "--json")["models"][0]
    first = batchspec(directory, "run", "job.yaml", "-q", "--json")
    billed = first["run_usage"]["cost_usd"]
    ledger = api.ledger.billed_usage(provider)
    price = price_for(plan["name"])
    assert price is not None
    uncached = uncached_sync_cost(Usage(ledger["input_tokens"], ledger["output_tokens"]), price)
    rerun = batchspec(directory, "run", "job.yaml", "-q", "--json")["run_usage"]["cost_usd"]
    estimate = plan["estimated_cost_usd"]["batch"]
    return [
        ("records", f"{records:,}"),
        (
            "input tokens billed (cache reads / writes)",
            f"{ledger['input_tokens']:,} "
            f"({ledger['cached_input_tokens']:,} / {ledger['cache_creation_input_tokens']:,})",
        ),
        ("output tokens billed", f"{ledger['output_tokens']:,}"),
        ("uncached sync calls would cost", f"${uncached:.4f}"),
        ("billed (batch + prompt caching)", f"${billed:.4f} = {billed / uncached:.1%} of uncached sync  (≤ 30%)"),
        ("plan's estimate", f"${estimate:.4f} = {estimate / billed - 1:+.1%} off the bill  (±15%)"),
        ("rerun pays", f"${rerun:.4f}  (0)"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, FakeAPI(FakeConfig(processing_seconds=0)) as api:
        for provider in ("anthropic", "openai"):
            rows = measure(Path(tmp), api, provider, args.records)
            print(f"\n{provider}")
            width = max(len(name) for name, _ in rows)
            for name, value in rows:
                print(f"  {name:<{width}}  {value}")


if __name__ == "__main__":
    main()

"""The floor for a batch job: the `openai` SDK used directly, no state, no validation.

    python bench/reference.py RECORDS.jsonl RESULTS.jsonl --base-url URL [--batch-size 50000]

Writes the JSONL payload (the same system prompt, user template and params as the benchmark's
spec), uploads it, creates the batch, polls every 0.25 s, downloads the output and writes one
result line per record. bench/compare.py runs it next to `batchspec run`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from common import SYSTEM_PROMPT, USER_TEMPLATE
from openai import OpenAI

POLL_SECONDS = 0.25
ENDED = {"completed", "failed", "expired", "cancelled"}


def payload_lines(records: list[dict[str, str]]) -> bytes:
    head, tail = USER_TEMPLATE.split("{{ text }}")
    lines = []
    for record in records:
        body = {
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": head + record["text"] + tail},
            ],
            "max_tokens": 5,
        }
        entry = {"custom_id": record["review_id"], "method": "POST", "url": "/v1/chat/completions", "body": body}
        lines.append(json.dumps(entry))
    return ("\n".join(lines) + "\n").encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("records", type=Path)
    parser.add_argument("results", type=Path)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--batch-size", type=int, default=50_000)
    args = parser.parse_args()
    client = OpenAI(base_url=args.base_url, api_key="bench-key")
    with args.records.open(encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh if line.strip()]
    batches = []
    for start in range(0, len(records), args.batch_size):
        work = args.results.parent / f"payload-{start}.jsonl"
        work.write_bytes(payload_lines(records[start : start + args.batch_size]))
        upload = client.files.create(file=work.open("rb"), purpose="batch")
        batches.append(
            client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h")
        )
    with args.results.open("w", encoding="utf-8") as out:
        for batch in batches:
            while batch.status not in ENDED:
                time.sleep(POLL_SECONDS)
                batch = client.batches.retrieve(batch.id)
            if batch.output_file_id:
                for line in client.files.content(batch.output_file_id).text.splitlines():
                    data = json.loads(line)
                    message = data["response"]["body"]["choices"][0]["message"]
                    out.write(json.dumps({"review_id": data["custom_id"], "output": message["content"]}) + "\n")


if __name__ == "__main__":
    main()

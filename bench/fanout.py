"""A two-model fan-out: how long until both models' answers are in, when batches take a while.

    python bench/fanout.py                         # 4,000 records, two models, 2 s batches
    python bench/fanout.py --source ../old-checkout   # the same job run by another batchspec tree

Every record goes to gpt-4o-mini and to gpt-4o, in batches of 1,000 with max_concurrent_batches 2,
against the in-process fake whose batches take --batch-seconds each. When the limit was shared by
all models, the second model's batches waited for the first model's: the wall time was about twice
that of one model. Now the limit applies to each model and both go out together.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from common import OUT_DIR, Table, batchspec_command, check, machine, measure, records_file, write_spec

from batchspec.fakeapi import FakeAPI, FakeConfig


def run(source: Path, records: int, batch_seconds: float, models: int) -> float:
    with FakeAPI(FakeConfig(processing_seconds=batch_seconds)) as api:
        directory = OUT_DIR / f"fanout-{models}"
        shutil.rmtree(directory, ignore_errors=True)
        base = {"base_url": api.openai_base_url}
        fan = [{**base, "name": name, "label": name} for name in ("gpt-4o-mini", "gpt-4o")[:models]]
        spec = write_spec(
            directory,
            "bench-fanout",
            records_file(records),
            model=base,
            execution={"poll_interval": 0.1, "max_requests_per_batch": 1000, "max_concurrent_batches": 2},
        )
        data = json.loads(spec.read_text("utf-8"))  # JSON is valid YAML: write_spec writes JSON
        data["model"] = [{**data["model"], **model} for model in fan]
        spec.write_text(json.dumps(data), "utf-8")
        env = {**os.environ, "PYTHONPATH": str(source), "OPENAI_API_KEY": "sk-bench-0123456789"}
        measured = measure(batchspec_command("run", spec, "-q"), env=env, cwd=directory)
        check(measured, f"fan-out of {models} model(s)")
        return measured.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=4000)
    parser.add_argument("--batch-seconds", type=float, default=2.0)
    parser.add_argument("--source", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args()
    table = Table(["job", "batches", "wall (s)"])
    per_model = -(-args.records // 1000)
    one = run(args.source, args.records, args.batch_seconds, 1)
    two = run(args.source, args.records, args.batch_seconds, 2)
    table.add("one model", str(per_model), f"{one:.1f}")
    table.add("two models", str(2 * per_model), f"{two:.1f}")
    print(machine())
    print(f"batchspec from {args.source}; batches take {args.batch_seconds:g} s at the fake")
    print(table.render())
    print(f"two models take {two / one:.2f}× the time of one")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()

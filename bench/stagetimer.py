"""`batchspec ARGS...` with wall-clock timers around the stages of a run, written to a JSON file.

    python bench/stagetimer.py TIMINGS.json run job.yaml -q --json

The CLI runs unchanged; a few functions it calls are wrapped to add up the time spent in them
(a handful of calls per run, so the timers cost nothing measurable). A stage whose function is
renamed in batchspec is reported as missing rather than failing the run.
"""

from __future__ import annotations

import functools
import importlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import peak_rss_mb

# stage → (module, attribute). Leaves do not nest, except "engine loop", which holds the
# submit/poll/collect/progress stages (run.py subtracts them to get the time spent waiting).
STAGES = {
    "load spec": ("batchspec.cli", "load"),
    "plan (read, render, stage, diff)": ("batchspec.runner", "build_plan"),
    "merge plan into state": ("batchspec.runner", "merge_plan"),
    "recover intents": ("batchspec.runner.batch", "Engine.recover_intents"),
    "submit (payload, upload, create)": ("batchspec.runner.batch", "Engine.submit_more"),
    "poll (retrieve)": ("batchspec.runner.batch", "Engine._poll"),
    "collect (download, store results)": ("batchspec.runner.batch", "Engine.collect"),
    "progress (counts)": ("batchspec.runner.batch", "Engine.show"),
    "engine loop": ("batchspec.runner.batch", "Engine.run"),
    "sinks (write outputs)": ("batchspec.runner", "write_outputs"),
    "summary": ("batchspec.runner", "_summarise"),
    "end run": ("batchspec.runner", "end_run"),
    "close state (checkpoint)": ("batchspec.runner", "StateStore.close"),
}


def install(totals: dict[str, float], peaks: dict[str, float]) -> list[str]:
    """Wrap every stage's function; returns the stages that could not be found."""
    missing = []
    for stage, (module_name, attribute) in STAGES.items():
        owner: Any = importlib.import_module(module_name)
        *path, name = attribute.split(".")
        for part in path:
            owner = getattr(owner, part)
        original = getattr(owner, name, None)
        if original is None:
            missing.append(stage)
            continue
        setattr(owner, name, _timed(original, stage, totals, peaks))
    return missing


def _timed(
    function: Callable[..., Any], stage: str, totals: dict[str, float], peaks: dict[str, float]
) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            totals[stage] = totals.get(stage, 0.0) + time.perf_counter() - start
            peaks[stage] = peak_rss_mb()  # read, never reset: wait4 must still see the peak

    return wrapper


def main() -> None:
    output, *args = sys.argv[1:]
    totals: dict[str, float] = {}
    peaks: dict[str, float] = {}  # the high-water mark when the stage last ended
    missing = install(totals, peaks)
    from batchspec.cli import main as cli

    start = time.perf_counter()
    try:
        cli(args, prog_name="batchspec")
    finally:
        totals["batchspec main"] = time.perf_counter() - start
        Path(output).write_text(json.dumps({"seconds": totals, "peak_rss_mb": peaks, "missing": missing}, indent=2))


if __name__ == "__main__":
    main()

"""Shared helpers for the benchmarks: synthetic data, specs, measuring a subprocess, tables.

Standard library only (plus batchspec itself in the scripts that import it), Linux-first: peak RSS
comes from ``wait4`` for subprocesses and from ``/proc/self/status`` (VmHWM) in-process.
"""

from __future__ import annotations

import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
OUT_DIR = BENCH_DIR / "out"  # gitignored
DATA_VERSION = 1  # bump when the generated records change shape

SYSTEM_PROMPT = "You are a careful annotator of product reviews.\n"
USER_TEMPLATE = "Review: {{ text }}\nAnswer with one word: positive, negative or neutral.\n"
PRODUCTS = ("headphones", "desk lamp", "kettle", "backpack", "keyboard", "monitor", "blender", "tent")
SAMPLE_TEXT = (
    "arrived quickly works exactly as described very happy broke after two days the seller never answered "
    "my emails great value for money would buy again sound is muffled battery lasts all day sturdy and light "
    "instructions were confusing but setup took five minutes returned it colour differs from the photos"
)
WORDS = SAMPLE_TEXT.split()


# -- data and specs ------------------------------------------------------------------------


def records_file(count: int, directory: Path = OUT_DIR / "data") -> Path:
    """A JSONL file of ``count`` synthetic reviews (about 150 bytes each), made once and reused."""
    path = directory / f"reviews-v{DATA_VERSION}-{count}.jsonl"
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as out:
            out.writelines(_review_lines(count))
        tmp.replace(path)
    return path


def _review_lines(count: int) -> Iterator[str]:
    rng = random.Random(count)
    for n in range(1, count + 1):
        text = " ".join(rng.choices(WORDS, k=rng.randint(8, 30))).capitalize() + "."
        record = {"review_id": f"r{n:08d}", "product": rng.choice(PRODUCTS), "stars": rng.randint(1, 5), "text": text}
        yield json.dumps(record) + "\n"


def write_spec(directory: Path, name: str, data: Path, *, model: dict[str, Any], **extra: Any) -> Path:
    """A job spec (JSON is valid YAML) for ``data`` with the benchmark's small template."""
    directory.mkdir(parents=True, exist_ok=True)
    spec = {
        "version": 1,
        "name": name,
        "input": {"path": str(data), "id": "review_id"},
        "prompt": {"system": SYSTEM_PROMPT, "user": USER_TEMPLATE},
        "model": {"provider": "openai", "name": "gpt-4o-mini", "params": {"max_tokens": 5}, **model},
        "output": {"path": "out/results.jsonl"},
        **extra,
    }
    path = directory / "job.yaml"
    path.write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
    return path


# -- measuring -----------------------------------------------------------------------------


@dataclass
class Measured:
    seconds: float
    peak_rss_mb: float
    returncode: int
    stdout: str = ""
    stderr: str = ""
    cpu_seconds: float = 0.0  # user + system time of the process


# Started by a small launcher process, never straight from this one: a child's maxrss includes the
# RSS of the process it was forked (or vforked) from, up to its exec, and this process may be big
# (it hosts the fake API server in run.py).
# With a CPU number first, the launcher pins itself (and so the command) to that one core.
_LAUNCHER = """
import json, os, subprocess, sys, time
if sys.argv[2] != "-":
    os.sched_setaffinity(0, {int(sys.argv[2])})
start = time.perf_counter()
child = subprocess.Popen(sys.argv[3:])
_, status, usage = os.wait4(child.pid, 0)
seconds = time.perf_counter() - start
with open(sys.argv[1], "w") as out:
    json.dump({"seconds": seconds, "maxrss": usage.ru_maxrss, "code": os.waitstatus_to_exitcode(status),
               "cpu": usage.ru_utime + usage.ru_stime}, out)
"""


def measure(
    command: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path | None = None, cpu: int | None = None
) -> Measured:
    """Run ``command`` to completion: its wall time, CPU time and the peak RSS of that one process
    (``wait4``). ``cpu``: run it on that one core only."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "rusage.json"
        out, err = Path(scratch) / "stdout", Path(scratch) / "stderr"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            pin = "-" if cpu is None else str(cpu)
            launcher = [sys.executable, "-c", _LAUNCHER, str(report), pin, *command]
            subprocess.run(launcher, stdout=stdout, stderr=stderr, env=env, cwd=cwd, check=False)
        if not report.exists():
            sys.exit(f"the measuring launcher failed:\n{_text(err.read_bytes())}")
        usage = json.loads(report.read_text())
        stdout_text, stderr_text = _text(out.read_bytes()), _text(err.read_bytes())
        return Measured(
            usage["seconds"], _maxrss_mb(usage["maxrss"]), usage["code"], stdout_text, stderr_text, usage["cpu"]
        )


def check(result: Measured, what: str, *, ok: Sequence[int] = (0,)) -> Measured:
    if result.returncode not in ok:
        sys.exit(f"{what} exited {result.returncode}\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    return result


def batchspec_command(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "batchspec", *map(str, args)]


def _maxrss_mb(maxrss: int) -> float:
    return maxrss / (1024 * 1024) if sys.platform == "darwin" else maxrss / 1024  # bytes vs KiB


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


@dataclass
class Stage:
    name: str
    records: int
    seconds: float = 0.0
    peak_rss_mb: float | None = None


@contextmanager
def in_process(name: str, records: int, stages: list[Stage]) -> Iterator[Stage]:
    """Time a block of this process; its peak RSS too where Linux lets us reset the high-water mark."""
    stage = Stage(name, records)
    exact = _reset_peak_rss()
    start = time.perf_counter()
    yield stage
    stage.seconds = time.perf_counter() - start
    stage.peak_rss_mb = peak_rss_mb() if exact else None
    stages.append(stage)


def _reset_peak_rss() -> bool:
    try:  # Linux ≥ 4.0: "5" resets VmHWM to the current RSS
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mb() -> float:
    """This process's RSS high-water mark (VmHWM; the kernel's maxrss where /proc is missing)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return _maxrss_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


# -- reporting -----------------------------------------------------------------------------


@dataclass
class Table:
    headers: Sequence[str]
    rows: list[Sequence[str]] = field(default_factory=list)

    def add(self, *cells: str) -> None:
        self.rows.append(cells)

    def render(self) -> str:
        widths = [max(len(str(c)) for c in column) for column in zip(self.headers, *self.rows, strict=False)]
        lines = [_row(self.headers, widths), _row(["-" * w for w in widths], widths)]
        return "\n".join(lines + [_row(r, widths) for r in self.rows])


def _row(cells: Sequence[str], widths: list[int]) -> str:
    first, *rest = cells
    return "  ".join([first.ljust(widths[0]), *(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True))])


def stage_row(table: Table, stage: Stage) -> None:
    rate = f"{stage.records / stage.seconds:,.0f}" if stage.seconds and stage.records else "-"
    rss = f"{stage.peak_rss_mb:,.0f}" if stage.peak_rss_mb is not None else "-"
    table.add(stage.name, f"{stage.records:,}", f"{stage.seconds:.2f}", rate, rss)


def _cores() -> int:
    """What `nproc` says: the CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def machine() -> str:
    """One line naming the machine, for pasting next to the figures."""
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if "model name" in line]
        cpu = names[0] if names else cpu
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return (
        f"{date.today()} · {_cores()} cores ({cpu}) · {ram:.0f} GiB RAM · "
        f"Python {platform.python_version()} · {platform.system()} {platform.release()}"
    )

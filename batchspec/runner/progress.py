"""What a run shows while it works: events as lines, and on a terminal a live status line."""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass

from rich.console import Console
from rich.live import Live
from rich.text import Text

from batchspec.spec.units import format_duration

log = logging.getLogger("batchspec.run")
HEARTBEAT_SECONDS = 60.0  # without a terminal, a status line at most this often


@dataclass
class Stats:
    in_flight_batches: int = 0
    collected_batches: int = 0
    done: int = 0
    failed: int = 0
    pending: int = 0
    submitted: int = 0
    in_flight_requests: int = 0
    requests_per_second: float | None = None
    tokens_per_minute: float | None = None
    limit_note: str = ""
    eta_seconds: float | None = None
    notes: tuple[str, ...] = ()  # e.g. a model waiting for queue room

    def line(self, elapsed: float) -> str:
        parts = []
        if self.in_flight_batches or self.collected_batches:
            parts.append(f"batches {self.in_flight_batches} in flight, {self.collected_batches} collected")
        parts.append(f"requests {self.done:,} done, {self.failed:,} failed, {self.pending:,} pending")
        if self.in_flight_requests:
            parts.append(f"{self.in_flight_requests:,} in flight")
        if self.requests_per_second is not None:
            parts.append(f"{self.requests_per_second:,.1f} req/s")
        if self.tokens_per_minute is not None:
            parts.append(f"{self.tokens_per_minute:,.0f} tok/min{self.limit_note}")
        if self.eta_seconds is not None:
            parts.append(f"ETA {format_duration(self.eta_seconds)}")
        parts.extend(self.notes)
        parts.append(f"elapsed {format_duration(elapsed)}")
        return " · ".join(parts)


class Progress:
    def __init__(self, *, quiet: bool = False, console: Console | None = None) -> None:
        self.console = console or Console(file=sys.stderr, highlight=False)
        self.quiet = quiet
        self.started = time.monotonic()
        self.last_heartbeat = self.started
        self.live: Live | None = None
        if self.console.is_terminal and not quiet:
            self.live = Live(Text(""), console=self.console, refresh_per_second=4, transient=True)
            self.live.start()

    def event(self, message: str) -> None:
        log.info(message)
        if not self.quiet:
            self.console.print(message, markup=False, highlight=False, soft_wrap=True)

    def update(self, stats: Stats) -> None:
        elapsed = time.monotonic() - self.started
        if self.live is not None:
            self.live.update(Text(stats.line(elapsed)), refresh=True)
        elif not self.quiet and time.monotonic() - self.last_heartbeat >= HEARTBEAT_SECONDS:
            self.last_heartbeat = time.monotonic()
            self.console.print(stats.line(elapsed), markup=False, highlight=False, soft_wrap=True)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

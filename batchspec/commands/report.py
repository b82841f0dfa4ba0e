"""`batchspec report`: what the job did and cost, for a person, a machine or a browser."""

from __future__ import annotations

import json
from pathlib import Path

from batchspec.report import build_report, print_report, write_html
from batchspec.sources import display_path
from batchspec.spec.model import JobSpec
from batchspec.state.access import state_label
from batchspec.state.store import StateStore


def report_command(spec: JobSpec, *, html_path: Path | None, as_json: bool) -> int:
    store = StateStore.read(spec.state_path, spec.name)
    if store is None:
        print(f"{spec.name}: not run yet (no state at {state_label(spec)})")
        return 0
    with store:
        data = build_report(spec, store)
    if as_json:
        print(json.dumps(data, indent=2, default=str))
    else:
        print_report(data)
    if html_path is not None:
        write_html(data, html_path)
        if not as_json:
            print(f"  wrote {display_path(html_path)}")
    return 0

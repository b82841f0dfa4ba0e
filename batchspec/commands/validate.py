"""`batchspec validate`: the spec, its templates and every record id, checked without sending."""

from __future__ import annotations

import sys

from batchspec.fmt import count
from batchspec.sources import display_path
from batchspec.spec.checks import check_records
from batchspec.spec.model import JobSpec


def validate_command(spec: JobSpec) -> int:
    summary = check_records(spec)
    for note in spec.notes:
        print(f"note: {note}", file=sys.stderr)
    if summary.records == 0:
        print(f"warning: {display_path(spec.input.resolved)} holds no records: a run would do nothing", file=sys.stderr)
    models = ", ".join(f"{m.provider} {m.name}" for m in spec.models)
    print(
        f"ok: {spec.name}: {count(summary.records, 'record')} from {display_path(spec.input.resolved)}, "
        f"{count(len(spec.models), 'model')} ({models}), {spec.execution.mode} mode "
        f"→ {display_path(spec.output.path)}"
    )
    return 0

"""`batchspec validate`: the spec, its templates and every record id, checked without sending."""

from __future__ import annotations

import sys

from batchspec.errors import KeyUnusable
from batchspec.fmt import count
from batchspec.providers import get_provider
from batchspec.sources import display_path
from batchspec.spec.checks import check_records
from batchspec.spec.model import JobSpec


def validate_command(spec: JobSpec, *, online: bool = False, read_keys: bool = True) -> int:
    summary = check_records(spec)
    for note in spec.notes:
        print(f"note: {note}", file=sys.stderr)
    if summary.records == 0:
        print(f"warning: {display_path(spec.input.resolved)} holds no records: a run would do nothing", file=sys.stderr)
    if online:
        from batchspec.commands.online import check_models_online

        check_models_online(spec)  # a missing key is an error here (exit 2)
    elif read_keys:
        warn_missing_keys(spec)
    models = ", ".join(f"{m.provider} {m.name}" for m in spec.models)
    print(
        f"ok: {spec.name}: {count(summary.records, 'record')} from {display_path(spec.input.resolved)}, "
        f"{count(len(spec.models), 'model')} ({models}), {spec.execution.mode} mode "
        f"→ {display_path(spec.output.path)}"
    )
    return 0


def warn_missing_keys(spec: JobSpec) -> None:
    """validate works offline and without keys (a CI check of a pull request): a key `run` would
    lack is a warning here, and an error with --online."""
    for model in spec.models:
        try:
            get_provider(model.provider).require_credentials(model)
        except KeyUnusable as error:
            print(f"warning: {error}: `run` would stop before sending (exit 2)", file=sys.stderr)

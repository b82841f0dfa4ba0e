"""The command line: parse options, call the commands, map errors to exit codes. Nothing else."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from batchspec import interrupts
from batchspec.errors import BatchspecError, ExitCode, SpecError
from batchspec.providers import provider_names
from batchspec.providers.credentials import redact
from batchspec.version import __version__

if TYPE_CHECKING:
    from batchspec.plan import Plan
    from batchspec.spec.model import JobSpec

T = TypeVar("T")

SPEC = click.argument("spec", type=click.Path(dir_okay=False, path_type=Path))
STATE = click.option(
    "--state",
    type=str,
    metavar="PATH|s3://BUCKET/KEY",
    help="State file to use instead of the spec's (default .batchspec/<name>.db beside the spec), or an S3 object.",
)


def _interrupted() -> int:
    code = interrupts.interrupted_code()
    if code == ExitCode.INTERRUPTED:
        click.echo("interrupted: nothing was sent", err=True)
    else:
        click.echo("interrupted: work was sent and may still be in flight; run again to collect it", err=True)
    return code


def report_error(error: BatchspecError) -> None:
    """Print an error to stderr the one way every command does."""
    if isinstance(error, SpecError):
        for diagnostic in error.diagnostics:
            click.echo(redact(str(diagnostic)), err=True)
        n = len(error.diagnostics)
        click.echo(f"{n} problem{'s' if n != 1 else ''} in the spec; nothing was sent.", err=True)
    else:
        click.echo(f"error: {redact(str(error))}", err=True)


def run_guarded(action: Callable[[], int], *, error_code: Callable[[BatchspecError], int] | None = None) -> None:
    """Run a command; an error becomes a message and an exit code, never a traceback."""
    try:
        code = action()
    except KeyboardInterrupt:
        code = _interrupted()
    except BatchspecError as error:
        report_error(error)
        code = error_code(error) if error_code else error.exit_code
    except BrokenPipeError:
        # The reader went away (`batchspec status | head`): stop quietly, like other Unix tools.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 1
    except Exception as error:
        trouble = environment_trouble(error)
        if interrupts.seen:
            # An interrupt cut something in half (an import, an SQLite call) and this is what it
            # left: the interrupt is the cause. The state is consistent (every change is a transaction).
            logging.getLogger("batchspec").debug("after an interrupt", exc_info=True)
            code = _interrupted()
        elif trouble is not None:
            # A file, directory or disk the command had to use: name it and say why, like bad input.
            report_error(BatchspecError(trouble))
            code = error_code(BatchspecError(trouble)) if error_code else ExitCode.INVALID
        else:
            # The traceback goes to the log (-v or --log-file), never to a plain run's terminal.
            logging.getLogger("batchspec").debug("unexpected error", exc_info=True)
            click.echo(
                f"error: unexpected {type(error).__name__}: {redact(str(error))} (a bug in batchspec: rerun "
                "with --verbose for the traceback, and please report it; the state file is consistent: a rerun "
                "goes on from it)",
                err=True,
            )
            code = ExitCode.INTERNAL
    sys.exit(code)


def environment_trouble(error: Exception) -> str | None:
    """What to say about an error of the machine rather than of batchspec (a path that cannot be
    used, a full disk), or None for anything else."""
    if isinstance(error, OSError):
        return os_error_message(error)
    text = str(error)
    environmental = ("disk is full", "unable to open", "disk i/o error", "readonly database")
    if isinstance(error, sqlite3.OperationalError) and any(s in text.lower() for s in environmental):
        return f"SQLite: {text}"
    return None


def os_error_message(error: OSError) -> str:
    """``path: what went wrong`` (both paths for a rename)."""
    names = [str(n) for n in (error.filename, error.filename2) if n is not None]
    reason = error.strerror or str(error)
    return f"{' -> '.join(names)}: {reason}" if names else reason


UNTRUSTED = click.option(
    "--untrusted",
    is_flag=True,
    help="The spec may come from anyone (a pull request): read no environment variables and no file "
    "outside the spec's directory.",
)


def read_only(command: Callable[[JobSpec], T], job: JobSpec) -> T:
    """Run a command that only reads the state: a remote state is downloaded for it (no lock taken)."""
    from batchspec.state.access import viewing

    with viewing(job) as view:
        return command(view)


def load(spec: Path, state: str | None, *, untrusted: bool = False, reads_input: bool = True) -> JobSpec:
    from batchspec.spec.load import load_spec  # YAML, jsonschema, Jinja: not needed for --help

    job = load_spec(spec, state_path=state, untrusted=untrusted, check_input=reads_input)
    for warning in job.warnings:
        click.echo(f"warning: {warning}", err=True)
    return job


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="batchspec")
@click.option("-v", "--verbose", is_flag=True, help="Log what batchspec and the provider SDKs do (keys redacted).")
@click.option("--log-file", type=click.Path(dir_okay=False, path_type=Path), help="Write that log to a file.")
def main(verbose: bool, log_file: Path | None) -> None:
    """Declarative LLM batch jobs: a YAML spec in git, a plan, a run, and a state file
    that makes every rerun incremental and safe.

    \b
    Providers: {providers}.
    Exit codes: 0 done · 1 some records failed for good · 2 invalid spec or input ·
    3 provider or network failure · 75 work still in flight · 130 interrupted before
    anything was sent · 70 a bug in batchspec.
    """
    from batchspec.logs import configure

    try:
        configure(verbose=verbose, log_file=log_file)
    except OSError as error:
        raise click.UsageError(f"--log-file: {os_error_message(error)}") from None


main.help = (main.help or "").replace("{providers}", ", ".join(provider_names()))


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False, path_type=Path), default="job.yaml")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
@click.option(
    "--provider", default="fake", show_default=True, help="The model block to start from: fake (offline), azure."
)
def init(spec: Path, force: bool, provider: str) -> None:
    """Write a commented starter SPEC (default job.yaml) and a sample input."""
    from batchspec.commands.init import init_command, starter_providers

    if provider not in starter_providers():
        raise click.BadParameter(f"one of {', '.join(starter_providers())}", param_hint="--provider")
    run_guarded(lambda: init_command(spec, force=force, provider=provider))


ONLINE = click.option(
    "--online",
    is_flag=True,
    help="Ask each provider whether the spec's models exist (free; needs the API keys).",
)


def _refuse_online_untrusted(online: bool, untrusted: bool, usage: type[click.UsageError] = click.UsageError) -> None:
    if online and untrusted:
        raise usage("--online reads API keys from the environment and --untrusted reads none: give one of them")


@main.command()
@SPEC
@STATE
@UNTRUSTED
@ONLINE
def validate(spec: Path, state: str | None, untrusted: bool, online: bool) -> None:
    """Check SPEC, its templates and every record id; send nothing."""
    from batchspec.commands.validate import validate_command

    _refuse_online_untrusted(online, untrusted)
    run_guarded(
        lambda: validate_command(load(spec, state, untrusted=untrusted), online=online, read_keys=not untrusted)
    )


@main.command()
@SPEC
@STATE
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option("--explain", "explain_id", metavar="ID", help="Show one record's request and why it is (not) sent.")
@click.option(
    "--emit",
    "emit_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the exact provider batch payloads into this directory.",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there is nothing to send, 2 when there is work, 1 on error (as terraform plan).",
)
@click.option("--offline", is_flag=True, help="Do not ask the provider for this job's batches the state does not know.")
@UNTRUSTED
@ONLINE
def plan(
    spec: Path,
    state: str | None,
    untrusted: bool,
    as_json: bool,
    explain_id: str | None,
    emit_dir: Path | None,
    detailed_exitcode: bool,
    offline: bool,
    online: bool,
) -> None:
    """Show what a run of SPEC would send, in which batches, at what cost."""
    from batchspec.commands.plan import plan_command

    usage = _DetailedUsageError if detailed_exitcode else click.UsageError
    if explain_id is not None and emit_dir is not None:
        raise usage("--explain shows one record; --emit writes every batch: give one of them")
    _refuse_online_untrusted(online, untrusted, usage)

    def action() -> int:
        def command(job: JobSpec) -> Plan | None:
            if online:
                from batchspec.commands.online import check_models_online

                check_models_online(job)
            return plan_command(
                job, as_json=as_json, emit_dir=emit_dir, explain_id=explain_id, offline=offline or untrusted
            )

        result = read_only(command, load(spec, state, untrusted=untrusted))
        if detailed_exitcode and result is not None and result.has_work:
            return ExitCode.INVALID  # terraform's "changes present"
        return ExitCode.OK

    run_guarded(action, error_code=(lambda _: 1) if detailed_exitcode else None)


class _DetailedUsageError(click.UsageError):
    exit_code = 1  # with --detailed-exitcode, 2 means "work to send"


@main.command()
def schema() -> None:
    """Print the JSON Schema of the job spec."""
    from batchspec.commands.schema import schema_command

    run_guarded(schema_command)


@main.command()
@SPEC
@STATE
@click.option("--no-wait", is_flag=True, help="Submit, collect what is finished, and exit 75 if work is in flight.")
@click.option("--mode", type=click.Choice(["batch", "sync"]), help="Override execution.mode.")
@click.option("--retry-failed", is_flag=True, help="Give records that failed for good a fresh set of attempts.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary as the last line.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
def run(
    spec: Path,
    state: str | None,
    no_wait: bool,
    mode: str | None,
    retry_failed: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    """Run SPEC: send what the plan shows, collect, retry, and write the outputs."""
    from batchspec.commands.run import run_command
    from batchspec.runner import RunOptions

    options = RunOptions(wait=not no_wait, retry_failed=retry_failed, mode=mode, quiet=quiet)
    run_guarded(lambda: run_command(load(spec, state), options, as_json=as_json))


@main.command()
@SPEC
@STATE
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(spec: Path, state: str | None, as_json: bool) -> None:
    """Show SPEC's batches, record counts, tokens and cost so far."""
    from batchspec.commands.status import status_command

    run_guarded(
        lambda: read_only(lambda job: status_command(job, as_json=as_json), load(spec, state, reads_input=False))
    )


@main.command()
@SPEC
@STATE
@click.option(
    "--forget-missing",
    is_flag=True,
    help="Release batches the provider no longer knows (deleted there): their requests are sent again.",
)
def cancel(spec: Path, state: str | None, forget_missing: bool) -> None:
    """Cancel SPEC's in-flight batches; finished results are kept, the rest waits for the next run."""
    from batchspec.commands.cancel import cancel_command

    run_guarded(lambda: cancel_command(load(spec, state, reads_input=False), forget_missing=forget_missing))


@main.command()
@SPEC
@STATE
def unlock(spec: Path, state: str | None) -> None:
    """Release SPEC's remote-state lock left by a runner that is gone (before its expiry)."""
    from batchspec.commands.unlock import unlock_command

    run_guarded(lambda: unlock_command(load(spec, state, reads_input=False)))


@main.command()
@SPEC
@STATE
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="Port on 127.0.0.1 (default: any free port).")
@click.option("--no-open", is_flag=True, help="Print the URL only; do not open a browser.")
def view(spec: Path, state: str | None, port: int, no_open: bool) -> None:
    """Browse SPEC's records in a local web page: requests, answers, errors, models side by side."""
    from batchspec.commands.view import view_command

    run_guarded(
        lambda: read_only(
            lambda job: view_command(job, port=port, open_browser=not no_open), load(spec, state, reads_input=False)
        )
    )


@main.command("fake-server")
@click.option("--port", type=int, default=8765, show_default=True, help="Port on 127.0.0.1 (0: any free port).")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="YAML file of fake server settings (FakeConfig), e.g. faults and rate limits.",
)
def fake_server(port: int, config_path: Path | None) -> None:
    """Serve the fake OpenAI + Anthropic API (for tests, demos and trying specs offline)."""
    import yaml

    from batchspec.fakeapi import FakeConfig, run_forever

    config = FakeConfig()
    if config_path is not None:
        config = FakeConfig.from_dict(yaml.safe_load(config_path.read_text("utf-8")) or {})
    run_forever(port, config)


@main.command()
@SPEC
@STATE
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write a self-contained HTML dashboard to this file.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report data as JSON.")
def report(spec: Path, state: str | None, html_path: Path | None, as_json: bool) -> None:
    """Totals, cost and savings, error rate by code, and batch latency for SPEC."""
    from batchspec.commands.report import report_command

    def action() -> int:
        return read_only(
            lambda job: report_command(job, html_path=html_path, as_json=as_json), load(spec, state, reads_input=False)
        )

    run_guarded(action)

"""The `batchspec` command: the CLI, with Ctrl-C (or SIGTERM) at any moment ending it as a
command should, never with a traceback or click's "Aborted!" (exit 1 means records failed)."""

from __future__ import annotations

import sys

from batchspec import interrupts

INTERRUPTED = 130  # errors.ExitCode.INTERRUPTED, without importing anything before it is needed


def main() -> None:
    interrupts.install()
    try:
        code = _run()
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        if not isinstance(done.code, (int, type(None))):
            print(done.code, file=sys.stderr)
    interrupts.leave(code)


def _run() -> int:
    try:
        import click

        from batchspec.cli import main as cli

        cli.main(prog_name="batchspec", standalone_mode=False)
    except KeyboardInterrupt:
        return _interrupted()
    except click.exceptions.Abort:
        return _interrupted()
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except click.exceptions.Exit as done:
        return done.exit_code
    return 0


def _interrupted() -> int:
    print("interrupted: nothing was sent", file=sys.stderr)
    return INTERRUPTED

"""`batchspec view`: serve the record viewer on 127.0.0.1 until interrupted."""

from __future__ import annotations

import sys
import webbrowser

from batchspec.errors import ExitCode
from batchspec.spec.model import JobSpec
from batchspec.state.access import state_label
from batchspec.state.store import StateStore
from batchspec.view.server import ViewServer


def view_command(spec: JobSpec, *, port: int, open_browser: bool) -> int:
    store = StateStore.read(spec.state_path, spec.name)  # checks it is this job's state, and readable
    if store is None:
        print(f"{spec.name}: not run yet (no state at {state_label(spec)}): nothing to view")
        return ExitCode.OK
    store.close()
    server = ViewServer(spec, port)
    print(server.url, flush=True)  # the first line, for scripts and tests
    print(f"viewing {spec.name} (state {state_label(spec)}, read-only); Ctrl-C to stop", flush=True)
    if open_browser:
        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        server.server_close()
    return ExitCode.OK

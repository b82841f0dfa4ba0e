"""The record viewer's HTTP server: the page (shipped in the package) and a small JSON API,
on 127.0.0.1 only, over a read-only connection to the state."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from batchspec.spec.model import JobSpec
from batchspec.view import data
from batchspec.view.inputs import input_fields

HOST = "127.0.0.1"
STATIC = {
    "/": ("index.html", "text/html"),
    "/view.js": ("view.js", "text/javascript"),
    "/view.css": ("view.css", "text/css"),
}
# Record text is untrusted: the page builds the DOM with textContent, and this policy forbids
# anything not served from here (no inline script, no other origin) should that ever slip.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class ViewServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, spec: JobSpec, port: int) -> None:
        self.spec = spec
        self.state_path = str(spec.state_path)
        self.local = threading.local()
        self.cache: dict[str, tuple[tuple[Any, ...], Any]] = {}
        super().__init__((HOST, port), Handler)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}/"

    def db(self) -> Any:
        """One read-only connection per serving thread (sqlite3 connections are not shared)."""
        connection = getattr(self.local, "db", None)
        if connection is None:
            connection = self.local.db = data.connect(self.state_path)
        return connection

    def cached(self, name: str, compute: Callable[[Any], Any]) -> Any:
        """A whole-state sum (seconds on a million records), kept until a run changes the state."""
        db = self.db()
        version = data.version(db)
        hit = self.cache.get(name)
        if hit is not None and hit[0] == version:
            return hit[1]
        value = compute(db)
        self.cache[name] = (version, value)
        return value


class Handler(BaseHTTPRequestHandler):
    server: ViewServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass  # the terminal shows the URL, not one line per request

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        # A page elsewhere must not read the state through a DNS name rebound to 127.0.0.1.
        port = self.server.server_address[1]
        if self.headers.get("Host") not in (f"{HOST}:{port}", f"localhost:{port}"):
            self._send(HTTPStatus.FORBIDDEN, b"forbidden host\n", "text/plain")
            return
        url = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if url.path in STATIC:
            name, kind = STATIC[url.path]
            body = resources.files("batchspec.view").joinpath("static").joinpath(name).read_bytes()
            self._send(HTTPStatus.OK, body, f"{kind}; charset=utf-8")
            return
        route = API.get(url.path)
        if route is None:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no such page: {url.path}"})
            return
        try:
            result = route(self.server, params)
        except (KeyError, ValueError) as error:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(error)})
            return
        if result is None:
            self._json(HTTPStatus.NOT_FOUND, {"error": "no such record"})
        else:
            self._json(HTTPStatus.OK, result)

    def _json(self, status: HTTPStatus, value: Any) -> None:
        self._send(status, json.dumps(value, default=str).encode(), "application/json")

    def _send(self, status: HTTPStatus, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def _record(server: ViewServer, params: dict[str, str]) -> dict[str, Any] | None:
    found = data.record(server.db(), params["model"], params["custom_id"])
    if found is not None:
        found["input"], found["input_where"] = input_fields(server.spec, params["custom_id"], found["ordinal"])
    return found


API: dict[str, Callable[[ViewServer, dict[str, str]], Any]] = {
    "/api/summary": lambda s, p: data.summary(s.db(), s.spec.name),
    "/api/records": lambda s, p: data.records(s.db(), p),
    "/api/record": _record,
    "/api/compare": lambda s, p: data.compare(s.db(), p),
    "/api/totals": lambda s, p: s.cached("totals", data.totals),
    "/api/agreement": lambda s, p: s.cached("agreement", data.agreement),
    "/api/errors": lambda s, p: data.errors(s.db()),
}

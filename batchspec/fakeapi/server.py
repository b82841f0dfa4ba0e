"""The HTTP layer: a threaded HTTP/1.1 server, authentication, common headers, and the
``FakeAPI`` handle tests use to run it in the background."""

from __future__ import annotations

import contextlib
import select
import socket
import sys
import threading
import time
import traceback
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qsl, urlsplit

import orjson

from . import anthropic_api, azure_api, openai_api
from .clock import Clock
from .config import FakeConfig
from .engine import ClientGone
from .errors import OPENAI_MISSING_KEY, anthropic_body, mask_key, openai_body
from .ledger import Ledger
from .ratelimit import anthropic_headers, openai_headers
from .routes import dispatch
from .state import FakeState
from .wire import ApiError, Request, Response, random_hex

MAX_BODY = 1024 * 1024 * 1024


def provider_of(req: Request) -> str:
    # /v1/models is both providers' path: the Anthropic SDK is the one sending anthropic-version.
    models = req.path.startswith("/v1/models") and req.header("anthropic-version")
    return "anthropic" if req.path.startswith("/v1/messages") or models else "openai"


def auth_error(state: FakeState, provider: str, req: Request) -> ApiError | None:
    """The provider's 401 when the key is missing or (with ``required_api_key``) wrong."""
    key = None
    authorization = req.header("authorization")
    if authorization and authorization.lower().startswith("bearer "):
        key = authorization[7:].strip()
    key = key or req.header("x-api-key") or req.header("api-key")  # api-key: Azure's header
    required = state.config.required_api_key
    if key and (required is None or key == required):
        return None
    if provider == "anthropic":
        message = "invalid x-api-key" if key else "x-api-key header is required"
        return ApiError(401, anthropic_body("authentication_error", message))
    if not key:
        return ApiError(401, openai_body(OPENAI_MISSING_KEY))
    return ApiError(
        401,
        openai_body(
            f"Incorrect API key provided: {mask_key(key)}. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            code="invalid_api_key",
        ),
    )


def not_found(provider: str, req: Request) -> ApiError:
    if provider == "anthropic":
        return ApiError(404, anthropic_body("not_found_error", "Not Found"))
    return ApiError(404, openai_body(f"Invalid URL ({req.method} {req.path})"))


def _is_sync_call(req: Request) -> bool:
    """A synchronous model call (chat completions or messages), not a batch or file request."""
    return req.method == "POST" and req.path.rstrip("/").endswith(("/chat/completions", "/messages"))


def _is_download(req: Request) -> bool:
    """A batch's results: an OpenAI file's content or an Anthropic results stream."""
    return req.method == "GET" and (req.path.endswith("/content") or req.path.endswith("/results"))


def answer(state: FakeState, req: Request) -> Response:
    """Route one request and turn every failure into the provider's error response."""
    provider = provider_of(req)
    request_id = "req_" + (random_hex(32) if provider == "openai" else random_hex(24))
    azure = azure_api.is_azure(req)
    try:
        if azure:
            req = azure_api.to_openai(req)
        error = auth_error(state, provider, req)
        if error is not None:
            raise error
        if _is_sync_call(req) and state.config.faults.sync_hang_ups > 0:
            state.config.faults.sync_hang_ups -= 1  # before any work: a request never answered is never billed
            return Response(0, b"", hang_up=True)
        if provider == "anthropic" and not req.header("anthropic-version"):
            raise ApiError(400, anthropic_body("invalid_request_error", "anthropic-version: header is required"))
        routes = anthropic_api.ROUTES if provider == "anthropic" else openai_api.ROUTES
        response = dispatch(routes, state, req)
        if response is None:
            raise not_found(provider, req)
        if _is_download(req) and state.config.faults.broken_downloads > 0:
            state.config.faults.broken_downloads -= 1
            response.cut = True
    except ClientGone:
        return Response(499, b"")  # nginx's "client closed request": nobody is listening
    except ApiError as exc:
        body = exc.body
        if provider == "anthropic" and body.get("type") == "error":
            body = {**body, "request_id": request_id}
        response = Response(exc.status, orjson.dumps(body), headers=exc.headers)
    except Exception:  # a bug in the fake: answer like a provider outage, and say why
        traceback.print_exc(file=sys.stderr)
        body = (
            anthropic_body("api_error", "Internal server error", request_id)
            if provider == "anthropic"
            else openai_body("The server had an error while processing your request.", "server_error")
        )
        response = Response(500, orjson.dumps(body))
    now = state.clock.now()
    if provider == "anthropic":
        response.headers.update(anthropic_headers(state.anthropic_limits.snapshot(), now))
        response.headers["request-id"] = request_id
        response.headers["anthropic-organization-id"] = state.config.organization
    else:
        response.headers.update(openai_headers(state.openai_limits.snapshot()))
        response.headers["x-request-id"] = request_id
        response.headers["openai-organization"] = state.config.organization
        response.headers["openai-version"] = "2020-10-01"
    return azure_api.to_azure(response) if azure else response


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every response carries Content-Length
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in one write; without NODELAY, delayed ACKs still stall
        # small keep-alive exchanges by ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, add=False)

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_DELETE = do_PUT = do_PATCH = do_GET

    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        state = self.server.state
        started = time.perf_counter()
        url = urlsplit(self.path)
        host = self.headers.get("host") or "{}:{}".format(*self.server.server_address[:2])
        try:
            body = self._read_body()
        except ValueError:
            self.close_connection = True
            body = b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        req = Request(
            self.command, url.path, dict(parse_qsl(url.query)), headers, body, f"http://{host}", self._client_gone
        )
        response = answer(state, req)
        state.ledger.add(
            "http",
            method=req.method,
            path=req.path,
            query=url.query,
            status=response.status,
            provider=provider_of(req),
            time=state.clock.now(),
            seconds=round(time.perf_counter() - started, 6),
        )
        state.ledger.flush()
        self._write(response)
        if state.config.verbose:
            self.log_request(response.status)

    def _client_gone(self) -> bool:
        """Whether the client closed the connection (readable with nothing to read)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _write(self, response: Response) -> None:
        try:
            reason = HTTPStatus(response.status).phrase
        except ValueError:
            reason = "Overloaded" if response.status == 529 else ""
        lines = [
            f"HTTP/1.1 {response.status} {reason}",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {len(response.body)}",
            f"Date: {formatdate(usegmt=True)}",
            "Server: batchspec-fakeapi",
        ]
        lines += [f"{name}: {value}" for name, value in response.headers.items()]
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if response.hang_up:
            self.close_connection = True
            return
        if response.cut:
            self.close_connection = True
            self.wfile.write(head + response.body[: len(response.body) // 2])
            return
        self.wfile.write(head + response.body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib signature)
        if self.server.state.config.verbose:
            super().log_message(format, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # async clients open 50+ connections at once
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: FakeState) -> None:
        self.state = state
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the client hung up mid-answer; nothing to report
        super().handle_error(request, client_address)  # type: ignore[arg-type]

    def track(self, connection: socket.socket, *, add: bool) -> None:
        with self._connections_lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        """Wake keep-alive handler threads blocked on idle client connections."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class FakeAPI:
    """The fake server in a background thread: ``with FakeAPI(config) as api: ...``."""

    def __init__(
        self,
        config: FakeConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
        journal: Path | None = None,
    ) -> None:
        """``journal``: keep the OpenAI batches in this file, so another server can go on with them."""
        self.state = FakeState(config or FakeConfig(), clock, journal)
        self._address = (host, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> FakeAPI:
        if self._server is None:
            self._server = _Server(self._address, self.state)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"fakeapi-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self.state.journal is not None:
            self.state.journal.close()
        if self._server is not None:
            self._server.shutdown()
            self._server.close_connections()
            self._server.server_close()
            self._server = None
            if self._thread is not None:
                self._thread.join(timeout=5)
        self.state.ledger.close()

    def __enter__(self) -> FakeAPI:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the fake API server is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._address[0]}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return self.url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    @property
    def ledger(self) -> Ledger:
        return self.state.ledger

    @property
    def config(self) -> FakeConfig:
        return self.state.config

    @config.setter
    def config(self, config: FakeConfig) -> None:
        """Swap the whole configuration; the ledger keeps the file it was opened with."""
        self.state.config = config

    @property
    def clock(self) -> Clock:
        return self.state.clock

    def advance(self, seconds: float) -> None:
        """Move the server's clock forward (batch progress, cache lifetimes, rate limits)."""
        self.state.clock.advance(seconds)


def serve(host: str = "127.0.0.1", port: int = 0, config: FakeConfig | None = None) -> None:
    """Run the fake server in the foreground until interrupted."""
    state = FakeState(config or FakeConfig())
    server = _Server((host, port), state)
    bound = server.server_address[1]
    print(f"fake API listening on http://{host}:{bound}", file=sys.stderr, flush=True)
    print(f"  OpenAI base_url:    http://{host}:{bound}/v1", file=sys.stderr, flush=True)
    print(f"  Anthropic base_url: http://{host}:{bound}", file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.close_connections()
        server.server_close()
        state.ledger.close()


def run_forever(port: int, config: FakeConfig) -> None:
    """Entry point for ``batchspec fake-server --port N``."""
    serve("127.0.0.1", port, config)

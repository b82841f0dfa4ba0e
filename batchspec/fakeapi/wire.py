"""HTTP-level value types shared by every handler, plus ids and timestamps in provider formats."""

from __future__ import annotations

import base64
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import orjson

JSON = dict[str, Any]


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]  # names in lower case
    body: bytes
    base_url: str  # scheme://host:port as the client reached us, for absolute URLs
    # True once the client has hung up (a killed process): its request is abandoned, not billed.
    client_gone: Callable[[], bool] = lambda: False

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    cut: bool = False  # send half the body, then hang up (a download broken mid-way)
    hang_up: bool = False  # send nothing and close the connection (a provider that went away)


def json_response(obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(status, orjson.dumps(obj), headers=dict(headers or {}))


class ApiError(Exception):
    """An error answer: raised anywhere in a handler, turned into a response by the server."""

    def __init__(self, status: int, body: JSON, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


# Ids only need to be unique and look like the providers' ones; a seeded generator behind a lock
# is much faster than uuid4 for the 100,000 ids a large batch needs.
_rng = random.Random()
_rng_lock = threading.Lock()
_NO_SYMBOLS = str.maketrans("+/", "Xq")


def random_hex(n: int) -> str:
    with _rng_lock:
        return f"{_rng.getrandbits(n * 4):0{n}x}"


def random_base62(n: int) -> str:
    with _rng_lock:
        raw = _rng.randbytes(n)
    # base64 of random bytes with its two symbols swapped for letters: fast and alphanumeric.
    return base64.b64encode(raw).decode()[:n].translate(_NO_SYMBOLS)


def openai_id(prefix: str) -> str:
    if prefix == "file-":
        return "file-" + random_base62(22)
    if prefix == "chatcmpl-":
        return "chatcmpl-" + random_base62(29)
    if prefix == "call_":
        return "call_" + random_base62(24)
    return prefix + random_hex(32)


def anthropic_id(prefix: str) -> str:
    return f"{prefix}01" + random_base62(22)


def rfc3339(ts: float) -> str:
    """Anthropic's timestamp format: UTC with microseconds and a ``Z``."""
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def unix(ts: float) -> int:
    return int(ts)

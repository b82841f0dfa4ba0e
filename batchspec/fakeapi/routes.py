"""A minimal router: (method, path pattern) → handler."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .wire import Request, Response

if TYPE_CHECKING:
    from .state import FakeState

Handler = Callable[..., Response]


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler


def route(method: str, path: str, handler: Handler) -> Route:
    """``path`` uses ``{name}`` for one path segment."""
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path)
    return Route(method, re.compile(f"^{regex}$"), handler)


def dispatch(routes: list[Route], state: FakeState, req: Request) -> Response | None:
    """The handler's response, or None when no route matches."""
    for r in routes:
        if r.method == req.method:
            match = r.pattern.match(req.path)
            if match:
                return r.handler(state, req, **match.groupdict())
    return None


def int_param(req: Request, name: str, default: int, low: int, high: int) -> int:
    raw = req.query.get(name)
    try:
        value = int(raw) if raw is not None else default
    except ValueError:
        value = default
    return max(low, min(high, value))

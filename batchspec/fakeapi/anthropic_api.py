"""The Anthropic routes: messages and message batches (with their results URL)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .anthropic_messages import handle_messages, parse_body
from .models import anthropic_model
from .routes import Route, int_param, route
from .wire import Request, Response, json_response

if TYPE_CHECKING:
    from .state import FakeState


def messages(state: FakeState, req: Request) -> Response:
    return handle_messages(state, req)


def create_batch(state: FakeState, req: Request) -> Response:
    batch = state.anthropic.create(parse_body(req.body), len(req.body))
    return json_response(batch.obj(req.base_url))


def list_batches(state: FakeState, req: Request) -> Response:
    limit = int_param(req, "limit", 20, 1, 1000)
    page = state.anthropic.list(req.query.get("after_id"), req.query.get("before_id"), limit, req.base_url)
    return json_response(page)


def get_batch(state: FakeState, req: Request, batch_id: str) -> Response:
    return json_response(state.anthropic.get(batch_id).obj(req.base_url))


def cancel_batch(state: FakeState, req: Request, batch_id: str) -> Response:
    batch = state.anthropic.get(batch_id)
    batch.cancel()
    return json_response(batch.obj(req.base_url))


def delete_batch(state: FakeState, req: Request, batch_id: str) -> Response:
    return json_response(state.anthropic.delete(batch_id))


def results(state: FakeState, req: Request, batch_id: str) -> Response:
    return Response(200, state.anthropic.results(batch_id), "application/binary")


ROUTES: list[Route] = [
    route("GET", "/v1/models/{model_id}", anthropic_model),
    route("POST", "/v1/messages", messages),
    route("POST", "/v1/messages/batches", create_batch),
    route("GET", "/v1/messages/batches", list_batches),
    route("GET", "/v1/messages/batches/{batch_id}", get_batch),
    route("POST", "/v1/messages/batches/{batch_id}/cancel", cancel_batch),
    route("DELETE", "/v1/messages/batches/{batch_id}", delete_batch),
    route("GET", "/v1/messages/batches/{batch_id}/results", results),
]

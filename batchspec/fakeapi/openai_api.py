"""The OpenAI routes (under /v1): files, batches, chat completions, embeddings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .models import openai_model
from .openai_chat import handle_chat, parse_body
from .openai_embeddings import handle_embeddings
from .openai_responses import handle_responses
from .routes import Route, int_param, route
from .wire import Request, Response, json_response

if TYPE_CHECKING:
    from .state import FakeState


def upload_file(state: FakeState, req: Request) -> Response:
    return json_response(state.openai.files.upload(req).obj())


def list_files(state: FakeState, req: Request) -> Response:
    files = state.openai.files
    limit = int_param(req, "limit", 10_000, 1, 10_000)
    order = req.query.get("order", "desc")
    return json_response(files.list(req.query.get("purpose"), req.query.get("after"), limit, order))


def get_file(state: FakeState, req: Request, file_id: str) -> Response:
    return json_response(state.openai.files.get(file_id).obj())


def file_content(state: FakeState, req: Request, file_id: str) -> Response:
    return Response(200, state.openai.files.get(file_id).data, "application/octet-stream")


def delete_file(state: FakeState, req: Request, file_id: str) -> Response:
    return json_response(state.openai.files.delete(file_id))


def create_batch(state: FakeState, req: Request) -> Response:
    return json_response(state.openai.create(parse_body(req.body)).obj())


def list_batches(state: FakeState, req: Request) -> Response:
    limit = int_param(req, "limit", 20, 1, 100)
    return json_response(state.openai.list(req.query.get("after"), limit))


def get_batch(state: FakeState, req: Request, batch_id: str) -> Response:
    return json_response(state.openai.get(batch_id).obj())


def cancel_batch(state: FakeState, req: Request, batch_id: str) -> Response:
    batch = state.openai.get(batch_id)
    batch.cancel()
    return json_response(batch.obj())


def chat(state: FakeState, req: Request) -> Response:
    return handle_chat(state, req)


ROUTES: list[Route] = [
    route("GET", "/v1/models/{model_id}", openai_model),
    route("POST", "/v1/files", upload_file),
    route("GET", "/v1/files", list_files),
    route("GET", "/v1/files/{file_id}", get_file),
    route("GET", "/v1/files/{file_id}/content", file_content),
    route("DELETE", "/v1/files/{file_id}", delete_file),
    route("POST", "/v1/batches", create_batch),
    route("GET", "/v1/batches", list_batches),
    route("GET", "/v1/batches/{batch_id}", get_batch),
    route("POST", "/v1/batches/{batch_id}/cancel", cancel_batch),
    route("POST", "/v1/chat/completions", chat),
    route("POST", "/v1/embeddings", handle_embeddings),
    route("POST", "/v1/responses", handle_responses),
]

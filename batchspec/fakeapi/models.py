"""GET /v1/models/{id} for both providers: a model the fake knows, or the provider's 404.

``FakeConfig.known_models`` lists the models that exist (None: every name does).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import anthropic_error, openai_error
from .wire import Request, Response, json_response, rfc3339

if TYPE_CHECKING:
    from .state import FakeState

CREATED = 1_700_000_000.0  # when every fake model was "released"


def _exists(state: FakeState, model: str) -> bool:
    known = state.config.known_models
    return known is None or model in known


def openai_model(state: FakeState, req: Request, model_id: str) -> Response:
    if not _exists(state, model_id):
        raise openai_error(
            404,
            f"The model '{model_id}' does not exist",
            param="model",
            code="model_not_found",
        )
    return json_response({"id": model_id, "object": "model", "created": int(CREATED), "owned_by": "system"})


def anthropic_model(state: FakeState, req: Request, model_id: str) -> Response:
    if not _exists(state, model_id):
        raise anthropic_error(404, "not_found_error", f"model: {model_id}")
    return json_response({"id": model_id, "type": "model", "display_name": model_id, "created_at": rfc3339(CREATED)})

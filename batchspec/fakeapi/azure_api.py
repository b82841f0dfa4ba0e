"""Azure OpenAI's paths, mapped onto the fake's OpenAI routes (the resource behaves like OpenAI's API).

The SDK sends, for the dated API (``AzureOpenAI``, with ``api-version``):
``/openai/deployments/{deployment}/chat/completions``, ``/openai/files``, ``/openai/batches``; for
the v1 API (``OpenAI`` with ``base_url={endpoint}/openai/v1/``) ``/openai/v1/...``. Keys come in the
``api-key`` header (or as a Bearer token: Entra ID, or the v1 API). Batch lines and a batch's
``endpoint`` say ``/chat/completions`` where OpenAI says ``/v1/chat/completions``.
"""

from __future__ import annotations

import dataclasses
import re

from .wire import ApiError, Request, Response

_DEPLOYMENT = re.compile(r"^/openai/deployments/[^/]+(/.*)$")
_AZURE_URL = b'"url":"/chat/completions"'
_OPENAI_URL = b'"url":"/v1/chat/completions"'
_AZURE_ENDPOINT = b'"endpoint":"/chat/completions"'
_OPENAI_ENDPOINT = b'"endpoint":"/v1/chat/completions"'


def is_azure(req: Request) -> bool:
    return req.path.startswith("/openai/")


def to_openai(req: Request) -> Request:
    """The same request on the fake's OpenAI routes; Azure's 404 when the dated API has no api-version."""
    path = req.path
    if path.startswith("/openai/v1/"):
        path = path[len("/openai") :]
    else:
        if not req.query.get("api-version"):
            raise ApiError(404, {"error": {"code": "404", "message": "Resource not found"}})
        deployment = _DEPLOYMENT.match(path)
        path = "/v1" + (deployment.group(1) if deployment else path[len("/openai") :])
    body = req.body
    if req.method == "POST" and path == "/v1/files":
        body = body.replace(_AZURE_URL, _OPENAI_URL)  # the batch input file's request lines
    elif req.method == "POST" and path == "/v1/batches":
        body = body.replace(_AZURE_ENDPOINT, _OPENAI_ENDPOINT)
    return dataclasses.replace(req, path=path, body=body)


def to_azure(response: Response) -> Response:
    """Azure's headers: remaining requests and tokens, no reset times, no OpenAI organization."""
    response.body = response.body.replace(_OPENAI_ENDPOINT, _AZURE_ENDPOINT)
    for name in [n for n in response.headers if n.startswith(("x-ratelimit-reset-", "openai-"))]:
        del response.headers[name]
    response.headers["apim-request-id"] = response.headers.get("x-request-id", "")
    return response

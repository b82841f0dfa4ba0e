"""`--online`: ask each provider whether the spec's models exist (``models.retrieve``), for free.

A typo in a model name otherwise passes `validate` and fails the first batch, after the upload.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from batchspec.errors import ProviderError
from batchspec.providers import get_provider
from batchspec.providers.azure import AzureProvider
from batchspec.providers.base import PROBE_TIMEOUT
from batchspec.providers.credentials import api_key
from batchspec.providers.sdkcalls import anthropic_client, call, openai_client
from batchspec.spec.model import ModelSpec


@dataclass(frozen=True)
class ModelCheck:
    model: ModelSpec
    exists: bool | None  # None: not asked (say why in ``detail``)
    detail: str


def check_model(model: ModelSpec) -> ModelCheck:
    """Whether ``model`` exists at its provider. A missing key for a provider without base_url
    raises KeyUnusable (exit 2); a provider that cannot be asked raises ProviderError."""
    provider = get_provider(model.provider)
    if provider.ephemeral and model.base_url is None:
        return ModelCheck(model, None, "skipped: the in-process fake server has every model")
    if isinstance(provider, AzureProvider):  # the model is a deployment: the data plane cannot look it up
        provider.require_credentials(model)
        return ModelCheck(model, None, f"skipped: {provider.name} deployments cannot be looked up with a key")
    env = model.api_key_env
    if not (env and os.environ.get(env)):
        api_key(model.provider, env, model.base_url)  # raises for a provider without base_url
        return ModelCheck(model, None, f"skipped: no API key{f' in {env}' if env else ''}")
    if provider.wire == "anthropic":
        client, endpoint = anthropic_client(model)
    else:
        client, endpoint = openai_client(model, provider=model.provider)
    client = client.with_options(timeout=PROBE_TIMEOUT)
    try:
        found: Any = call(endpoint, f"look up model {model.name}", lambda: client.models.retrieve(model.name))
    except ProviderError as error:
        if error.status == 404:
            return ModelCheck(model, False, str(error))
        raise
    finally:
        client.close()
    return ModelCheck(model, True, f"found ({found.id})")

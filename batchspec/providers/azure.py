"""Azure OpenAI: OpenAI's request format and Batch API, through the ``openai`` SDK's Azure client.

What differs from OpenAI (Microsoft Learn, "Getting started with Azure OpenAI batch deployments" and
"Azure OpenAI v1 API"):

- The model is a *deployment* name; batch mode needs a Global Batch (or Data Zone Batch) deployment,
  sync mode a Standard one. The SDK puts it in the body (v1) or the path (``/deployments/{d}``).
- Two API shapes: the v1 GA API at ``{endpoint}/openai/v1/`` (no api-version; the plain ``OpenAI``
  client, as Microsoft documents), or the dated API at ``{endpoint}/openai/...?api-version=...``
  through ``AzureOpenAI`` when the spec sets ``api_version``.
- Batch request lines and the batch's ``endpoint`` say ``/chat/completions`` (no ``/v1``).
- Limits: 100,000 requests and 200 MB per input file (OpenAI: 50,000 and 200 MB); at most 500
  batch files per resource. Enqueued tokens are a per-deployment quota, handled like OpenAI's.
- Status words are OpenAI's (validating, in_progress, finalizing, completed, failed, expired,
  cancelling, cancelled), so the OpenAI batch client reads them unchanged.
- Sync responses carry ``x-ratelimit-remaining-requests``/``-tokens`` but no ``x-ratelimit-reset-*``;
  a 429 carries ``retry-after``/``retry-after-ms``, which the sync runner honours.
- Prices vary by region and agreement: only the spec's ``pricing:`` counts (``builtin_prices``).
"""

from __future__ import annotations

import os
from typing import Any

import openai

from batchspec.errors import KeyUnusable
from batchspec.providers.base import BatchClient, BatchLimits, SyncClient
from batchspec.providers.credentials import api_key, remember_secret
from batchspec.providers.openai import OpenAIProvider
from batchspec.providers.sdkcalls import Endpoint
from batchspec.spec.model import ModelSpec

ENDPOINT_ENV = "AZURE_OPENAI_ENDPOINT"
AD_TOKEN_ENV = "AZURE_OPENAI_AD_TOKEN"  # an Entra ID access token, read by the SDK's Azure client too
ENTRA_SCOPE = "https://cognitiveservices.azure.com/.default"
BATCH_URL = "/chat/completions"  # Azure's batch lines and batch endpoint carry no /v1
_ENTRY_MIDDLE = f'","method":"POST","url":"{BATCH_URL}","body":'.encode()


class AzureProvider(OpenAIProvider):
    name = "azure"
    default_api_key_env: str | None = "AZURE_OPENAI_API_KEY"
    limits = BatchLimits(
        max_requests=50_000, max_bytes=100_000_000, hard_max_requests=100_000, hard_max_bytes=200_000_000
    )
    spec_keys: frozenset[str] = frozenset({"azure_endpoint", "api_version"})
    builtin_prices = False

    def routes_by_cache_key(self, model: ModelSpec) -> bool:
        return False  # Azure caches prefixes by itself; prompt_cache_key only where the spec sets it

    def require_credentials(self, model: ModelSpec) -> None:
        _credentials(model)  # the endpoint may come from the environment only at run time: not checked

    def batch_client(self, model: ModelSpec, job: str, *, probe: bool = False) -> BatchClient:
        from batchspec.providers.openai_batch import OpenAIBatchClient

        return OpenAIBatchClient(model, job, provider="azure", endpoint=BATCH_URL, probe=probe, connect=azure_client)

    def sync_client(self, model: ModelSpec, *, timeout: float) -> SyncClient:
        from batchspec.providers.openai_sync import OpenAISyncClient

        return OpenAISyncClient(model, timeout=timeout, provider="azure", connect=azure_client)

    def batch_entry(self, custom_id: str, body_json: bytes) -> bytes:
        return b'{"custom_id":"' + custom_id.encode() + _ENTRY_MIDDLE + body_json + b"}"


def resource_endpoint(model: ModelSpec) -> str:
    """The resource URL: the spec's ``azure_endpoint``, else $AZURE_OPENAI_ENDPOINT."""
    url = str(model.options.get("azure_endpoint") or os.environ.get(ENDPOINT_ENV, "")).strip()
    if not url:
        raise KeyUnusable(
            f"azure: no endpoint for model '{model.label}': set model.azure_endpoint in the spec "
            f"(https://<resource>.openai.azure.com) or the environment variable {ENDPOINT_ENV}"
        )
    return url.rstrip("/")


def azure_client(
    model: ModelSpec, *, provider: str = "azure", base_url: str | None = None, asynchronous: bool = False
) -> tuple[Any, Endpoint]:
    """An SDK client for the resource, its own retries off (ours apply), and how messages name it.

    Credentials, first found: the key in ``api_key_env`` (default AZURE_OPENAI_API_KEY); an Entra ID
    token in $AZURE_OPENAI_AD_TOKEN; else Entra ID through ``azure-identity`` when it is installed
    (DefaultAzureCredential: ``az login``, a managed identity, or AZURE_CLIENT_ID/SECRET/TENANT_ID)."""
    url = resource_endpoint(model)
    version = model.options.get("api_version")
    endpoint = Endpoint(provider, url, model.api_key_env)
    auth = _credentials(model)
    timeout = 600 if asynchronous else 120
    if version:  # the dated API: /openai/deployments/{d}/chat/completions?api-version=...
        factory: Any = openai.AsyncAzureOpenAI if asynchronous else openai.AzureOpenAI
        client = factory(azure_endpoint=url, api_version=version, max_retries=0, timeout=timeout, **auth)
        return client, endpoint
    # The v1 API takes the key, or a token provider, as the OpenAI client's api_key (a Bearer token).
    key = auth.get("api_key") or auth.get("azure_ad_token") or auth.get("azure_ad_token_provider")
    plain: Any = openai.AsyncOpenAI if asynchronous else openai.OpenAI
    if asynchronous and callable(key):
        sync_provider = key

        async def key_async() -> str:
            return str(sync_provider())

        key = key_async
    return plain(api_key=key, base_url=f"{url}/openai/v1/", max_retries=0, timeout=timeout), endpoint


def _credentials(model: ModelSpec) -> dict[str, Any]:
    env = model.api_key_env
    if env and os.environ.get(env):
        return {"api_key": api_key("azure", env, None)}
    token = os.environ.get(AD_TOKEN_ENV, "").strip()
    if token:
        remember_secret(token)
        return {"azure_ad_token": token}
    try:
        from azure.identity import DefaultAzureCredential, get_bearer_token_provider  # type: ignore[import-not-found]
    except ImportError:
        raise KeyUnusable(
            f"azure: no credentials: the environment variable {env} is not set (set it to the resource's "
            f"key, or name another with model.api_key_env); for Entra ID set {AD_TOKEN_ENV} to an access "
            f"token, or `pip install azure-identity` to sign in as DefaultAzureCredential does"
        ) from None
    return {"azure_ad_token_provider": get_bearer_token_provider(DefaultAzureCredential(), ENTRA_SCOPE)}

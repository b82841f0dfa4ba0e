"""A local fake of the OpenAI and Anthropic HTTP APIs, for tests, benchmarks and the quickstart.

The official SDKs work against it unchanged::

    with FakeAPI(FakeConfig(processing_seconds=0)) as api:
        client = openai.OpenAI(base_url=api.openai_base_url, api_key="test-key")
        claude = anthropic.Anthropic(base_url=api.anthropic_base_url, api_key="test-key")

OpenAI: ``/v1/files`` (upload, retrieve, content, delete, list), ``/v1/batches`` (create,
retrieve, list, cancel), ``/v1/chat/completions``. Anthropic: ``/v1/messages`` and
``/v1/messages/batches`` (create, retrieve, list, cancel, delete, results).

Answers are deterministic functions of the request body:

- if the last user message contains ``one word:`` followed by options ("Answer in one word:
  positive, negative or neutral."), the answer is one of those words, chosen by a hash of the
  whole request body (so the same request always gets the same word);
- structured output — OpenAI ``response_format`` ``json_schema`` (or ``json_object``), a forced
  OpenAI function (``tool_choice``), Anthropic ``output_config.format`` ``json_schema``, or a
  forced Anthropic tool (``tool_choice: {type: "tool"}`` → a ``tool_use`` block) — gets a JSON
  instance that validates against the schema: every property present, enums and booleans picked
  by the hash, arrays with ``max(1, minItems)`` items, bounds and string formats respected;
- anything else: ``Fake answer to: <first 60 characters of the last user message>``.

Input tokens are ``batchspec.tokens.request_tokens(body)`` (so estimates match the bill exactly);
output tokens are ``text_tokens(answer)``, capped at ``max_tokens`` / ``max_completion_tokens``
with the text cut and ``finish_reason: "length"`` / ``stop_reason: "max_tokens"``. Prompt
caching is reported the way each provider bills it (see ``caching``). Batches advance on the
server's clock (see ``lifecycle``); faults are injected as configured in ``FaultConfig``; every
request received and every answer billed is recorded in the ``Ledger``.
"""

from .clock import Clock
from .config import FakeConfig, FaultConfig
from .ledger import Ledger
from .server import FakeAPI, run_forever, serve

__all__ = ["Clock", "FakeAPI", "FakeConfig", "FaultConfig", "Ledger", "run_forever", "serve"]
